/**
 * Prompt adherence for the bundled tiny-shapes model, from plain pixel statistics: background colour from
 * the border, shape colour from the foreground, shape from how the foreground fills its bounding box.
 * Captions have the form "a {color} {shape} on a {background} background".
 */

export const SHAPE_COLORS = {
  red: [230, 30, 30],
  green: [30, 180, 30],
  blue: [30, 60, 230],
  yellow: [240, 220, 20],
  purple: [150, 40, 190],
  orange: [250, 140, 20],
} as const;
export const BACKGROUNDS = { white: [255, 255, 255], black: [0, 0, 0], gray: [128, 128, 128] } as const;
export const SHAPES = ["circle", "square", "triangle"] as const;

export type ShapeColor = keyof typeof SHAPE_COLORS;
export type Background = keyof typeof BACKGROUNDS;
export type Shape = (typeof SHAPES)[number];

export interface ShapeScene {
  color: ShapeColor;
  shape: Shape;
  background: Background;
}

export function caption(scene: ShapeScene): string {
  return `a ${scene.color} ${scene.shape} on a ${scene.background} background`;
}

/** All 54 caption combinations, colour varying slowest. */
export function allScenes(): ShapeScene[] {
  const scenes: ShapeScene[] = [];
  for (const color of Object.keys(SHAPE_COLORS) as ShapeColor[]) {
    for (const shape of SHAPES) {
      for (const background of Object.keys(BACKGROUNDS) as Background[])
        scenes.push({ color, shape, background });
    }
  }
  return scenes;
}

type Rgb = readonly [number, number, number] | readonly number[];

function dist2(a: Rgb, b: Rgb): number {
  return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2;
}

function nearest<K extends string>(table: Record<K, Rgb>, color: Rgb): K {
  let best: K | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of Object.keys(table) as K[]) {
    const d = dist2(table[k], color);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best as K;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export interface ShapeReading extends ShapeScene {
  /** Foreground pixels over bounding-box area. */
  fill: number;
  /** Foreground share of the four corner regions of the bounding box. */
  cornerFill: number;
  /** Width of the top quarter of the shape over the width of its bottom quarter. */
  taper: number;
  foregroundPixels: number;
}

/** Reads the background, colour and shape of a packed RGB image. */
export function readShapeImage(rgb: Uint8Array, width: number, height: number): ShapeReading {
  const px = (x: number, y: number): [number, number, number] => {
    const i = (y * width + x) * 3;
    return [rgb[i], rgb[i + 1], rgb[i + 2]];
  };
  const border: [number, number, number][] = [];
  for (let x = 0; x < width; x++) {
    for (const y of [0, 1, height - 2, height - 1]) border.push(px(x, y));
  }
  for (let y = 2; y < height - 2; y++) {
    for (const x of [0, 1, width - 2, width - 1]) border.push(px(x, y));
  }
  const bg: [number, number, number] = [0, 1, 2].map((c) => median(border.map((p) => p[c]))) as [
    number,
    number,
    number,
  ];
  const background = nearest(BACKGROUNDS, bg);

  // Foreground: clearly away from the measured background colour.
  const mask = new Uint8Array(width * height);
  const strong: [number, number, number][] = [];
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const d = dist2(px(x, y), bg);
      if (d > 60 * 60) {
        mask[y * width + x] = 1;
        count++;
        if (d > 100 * 100) strong.push(px(x, y));
      }
    }
  }
  const fg = strong.length > 0 ? strong : [bg];
  const fgColor = [0, 1, 2].map((c) => median(fg.map((p) => p[c])));
  const color = nearest(SHAPE_COLORS, fgColor);

  // Bounding box from rows and columns that hold at least two foreground pixels (ignores stray specks).
  const rows = new Array<number>(height).fill(0);
  const cols = new Array<number>(width).fill(0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (mask[y * width + x]) {
        rows[y]++;
        cols[x]++;
      }
    }
  }
  const y0 = rows.findIndex((n) => n >= 2);
  const y1 = rows.length - 1 - [...rows].reverse().findIndex((n) => n >= 2);
  const x0 = cols.findIndex((n) => n >= 2);
  const x1 = cols.length - 1 - [...cols].reverse().findIndex((n) => n >= 2);
  if (y0 < 0 || x0 < 0 || y1 <= y0 || x1 <= x0) {
    return { background, color, shape: "circle", fill: 0, cornerFill: 0, taper: 1, foregroundPixels: count };
  }
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  let inBox = 0;
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) inBox += mask[y * width + x];
  const fill = inBox / (bw * bh);
  const corner = Math.max(1, Math.round(Math.min(bw, bh) * 0.2));
  let cornerHits = 0;
  let cornerTotal = 0;
  for (const [cx, cy] of [
    [x0, y0],
    [x1 - corner + 1, y0],
    [x0, y1 - corner + 1],
    [x1 - corner + 1, y1 - corner + 1],
  ]) {
    for (let y = cy; y < cy + corner; y++) {
      for (let x = cx; x < cx + corner; x++) {
        cornerHits += mask[y * width + x];
        cornerTotal++;
      }
    }
  }
  const cornerFill = cornerHits / cornerTotal;
  const quarter = Math.max(1, Math.floor(bh / 4));
  const meanRow = (from: number, to: number) => {
    let s = 0;
    for (let y = from; y < to; y++) s += rows[y];
    return s / (to - from);
  };
  const taper = meanRow(y0, y0 + quarter) / Math.max(1e-9, meanRow(y1 - quarter + 1, y1 + 1));
  let shape: Shape;
  if (taper < 0.6) shape = "triangle";
  else if (cornerFill > 0.6) shape = "square";
  else shape = "circle";
  return { background, color, shape, fill, cornerFill, taper, foregroundPixels: count };
}

/** "a red circle on a white background" to its scene, or undefined for other prompts. */
export function parseCaption(prompt: string): ShapeScene | undefined {
  const m = /^a (\w+) (\w+) on a (\w+) background$/.exec(prompt.trim().toLowerCase());
  if (!m) return undefined;
  const [, color, shape, background] = m;
  if (
    !(color in SHAPE_COLORS) ||
    !(SHAPES as readonly string[]).includes(shape) ||
    !(background in BACKGROUNDS)
  ) {
    return undefined;
  }
  return { color: color as ShapeColor, shape: shape as Shape, background: background as Background };
}

export interface AdherenceScore {
  total: number;
  background: number;
  color: number;
  shape: number;
}

export function scoreAdherence(pairs: { expected: ShapeScene; read: ShapeScene }[]): AdherenceScore {
  const total = pairs.length;
  const share = (f: (p: { expected: ShapeScene; read: ShapeScene }) => boolean) =>
    total === 0 ? 0 : pairs.filter(f).length / total;
  return {
    total,
    background: share((p) => p.expected.background === p.read.background),
    color: share((p) => p.expected.color === p.read.color),
    shape: share((p) => p.expected.shape === p.read.shape),
  };
}
