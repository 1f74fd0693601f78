/**
 * Prompt adherence for the bundled tiny-shapes model, from plain pixel statistics: background colour from
 * the border, shape colour and shape from the one foreground blob's colour and geometry. An image with no
 * such blob (blank, a speck, noise) or one that fits no shape is read as a miss, never as a guess.
 * Captions have the form "a {color} {shape} on a {background} background".
 */
import { type BlobMeasures, type Box, measureBlob } from "./foreground-blob.js";

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

/** What the reader makes of an image: an attribute it could not read is undefined (a miss when scored). */
export interface SceneReading {
  background: Background | undefined;
  color: ShapeColor | undefined;
  shape: Shape | undefined;
}

/**
 * Why colour and shape were left unread: nothing drawn, a few pixels, pixels scattered over the image,
 * a blob too ragged or hollow to be a drawn shape, a blob of many colours rather than one, a border too
 * varied to be a uniform background, or a compact blob whose geometry fits none of the three shapes.
 */
export type ReadMiss =
  | "blank"
  | "speck"
  | "scattered"
  | "ragged"
  | "mottled"
  | "noisy background"
  | "undecided";

export interface ShapeReading extends SceneReading {
  /** Set when colour and shape are undefined. */
  miss?: ReadMiss;
  foregroundPixels: number;
  /** The largest foreground blob's geometry; absent when there is no foreground. */
  blob?: BlobMeasures;
  /** Share of the blob's inner pixels near their median colour; absent when the blob has no inner pixels. */
  colorAgreement?: number;
}

/** A pixel is foreground when clearly away from the background colour. */
const FOREGROUND_DIST = 60;
/** The share of the 2-px image border that must match the background colour for it to count as uniform. */
const MIN_BORDER_AGREEMENT = 0.9;
/** The smallest blob read as a shape: the training shapes span 20 to 40 px (a 20-px triangle is 200 px). */
const MIN_BLOB_PIXELS = 100;
const MIN_BLOB_SIDE = 10;
/** The share of all foreground the largest blob must hold, so scattered pixels are not read as a shape. */
const MIN_BLOB_SHARE = 0.9;
/** A drawn shape is convex-ish and solid; noise that happens to connect is neither. */
const MIN_CONVEXITY = 0.85;
const MAX_HOLES = 0.03;
/** A drawn shape has one colour: most of its inner pixels lie near their median colour. */
const SAME_COLOR_DIST = 60;
const MIN_COLOR_AGREEMENT = 0.7;

type Range = readonly [number, number];

/** A shape's ideal outline in the blob's bounding box: the blob must overlap it nearly exactly. */
export type Outline = "ellipse" | "box" | "triangle";

export interface ShapeGeometry {
  fill: Range;
  cornerFill: Range;
  taper: Range;
  outline: Outline;
  /** The least intersection over union with `outline`. */
  minOutlineFit: number;
}

/** Every shape's geometry, and the bounding box's width over height that all of them need. */
export interface GeometryRules {
  shapes: Record<Shape, ShapeGeometry>;
  aspect: Range;
}

/**
 * The geometry of clean shapes, every measure within its range. Each range is that of clean renders
 * (2x2 anti-aliased as the training data, sizes 20-40, all 54 captions, colour jitter; in brackets)
 * widened by a tolerance of 0.05 (0.15 for the taper, a ratio of two small widths; 0.02 for the outline
 * fit, which separates a circle from a rounded diamond at 0.87):
 *   circle   fill 0.66-0.90 (0.71-0.85), cornerFill 0-0.31 (0.02-0.26), taper 0.62-1.41 (0.77-1.26),
 *            ellipse fit >= 0.89 (0.91-1)
 *   square   fill 0.94-1 (0.99-1), cornerFill 0.89-1 (0.94-1), taper 0.83-1.17 (0.98-1.02);
 *            fill is its box fit, so sides bowed in by a pixel or two fail it
 *   triangle fill 0.45-0.62 (0.50-0.57), cornerFill 0.33-0.52 (0.38-0.47), taper 0-0.35 (0.13-0.20),
 *            triangle fit >= 0.83 (0.88-1)
 *   aspect   0.85-1.18 (0.90-1.05)
 * A rounded diamond is no circle, a square with bowed sides no square, a star-like triangle no triangle.
 */
export const CLEAN_GEOMETRY: GeometryRules = {
  shapes: {
    circle: {
      fill: [0.66, 0.9],
      cornerFill: [0, 0.31],
      taper: [0.62, 1.41],
      outline: "ellipse",
      minOutlineFit: 0.89,
    },
    square: {
      fill: [0.94, 1],
      cornerFill: [0.89, 1],
      taper: [0.83, 1.17],
      outline: "box",
      minOutlineFit: 0.94,
    },
    triangle: {
      fill: [0.45, 0.62],
      cornerFill: [0.33, 0.52],
      taper: [0, 0.35],
      outline: "triangle",
      minOutlineFit: 0.83,
    },
  },
  aspect: [0.85, 1 / 0.85],
};

/**
 * Which shape a drawing is, without asking that it be clean: the reader's default, and the adherence tests'
 * shape score (their clean-geometry share is read with CLEAN_GEOMETRY). Set from the bundled model's outputs
 * before its decoder drew clean shapes (54 captions, 6 seeds, 4 schedulers) and, in brackets, clean renders
 * at sizes 20-40:
 *   circle   fill 0.62-0.81 (0.74-0.84), cornerFill 0-0.30 (0.03-0.24), taper 0.72-2.16 (0.81-1.26)
 *   square   fill 0.79-0.95 (0.99-1), cornerFill 0.66-0.97 (0.94-1), taper 0.72-1.25 (0.99-1.02)
 *   triangle fill 0.44-0.75 (0.50-0.57), taper 0.16-0.41 (0.13-0.20)
 * That model's circles were rounded diamonds (fill about 0.67) and its squares had bowed sides; a plain
 * diamond (fill 0.5) is no circle. Square and circle part on the corners of the bounding box (filled or
 * empty), the upright triangle on its narrow top, so at most one shape fits.
 */
export const SHAPE_GEOMETRY: GeometryRules = {
  shapes: {
    circle: {
      fill: [0.56, 0.9],
      cornerFill: [0, 0.4],
      taper: [0.6, 2.5],
      outline: "ellipse",
      minOutlineFit: 0,
    },
    square: { fill: [0.75, 1], cornerFill: [0.55, 1], taper: [0.6, 1.5], outline: "box", minOutlineFit: 0 },
    triangle: {
      fill: [0.35, 0.8],
      cornerFill: [0, 1],
      taper: [0, 0.5],
      outline: "triangle",
      minOutlineFit: 0,
    },
  },
  aspect: [0.6, 1 / 0.6],
};

const within = (v: number, [lo, hi]: Range) => v >= lo && v <= hi;

/** The blob's intersection over union with an outline in its bounding box (the box's own is its fill). */
export function outlineFit(b: BlobMeasures, outline: Outline): number {
  if (outline === "ellipse") return b.ellipseFit;
  if (outline === "triangle") return b.triangleFit;
  return b.fill;
}

/** The one shape whose geometry the blob fits, or undefined when it fits none. */
function classifyShape(b: BlobMeasures, rules: GeometryRules): Shape | undefined {
  if (!within(b.aspect, rules.aspect)) return undefined;
  return SHAPES.find((shape) => {
    const g = rules.shapes[shape];
    return (
      within(b.fill, g.fill) &&
      within(b.cornerFill, g.cornerFill) &&
      within(b.taper, g.taper) &&
      outlineFit(b, g.outline) >= g.minOutlineFit
    );
  });
}

/** The median colour of the mask's inner pixels (the anti-aliased rim sits between shape and background). */
function innerColor(
  px: (i: number) => [number, number, number],
  mask: Uint8Array,
  width: number,
  box: Box,
): { color: number[]; agreement: number } | undefined {
  const inner: [number, number, number][] = [];
  for (let y = box.y0 + 1; y < box.y1; y++) {
    for (let x = box.x0 + 1; x < box.x1; x++) {
      const i = y * width + x;
      if (mask[i] && mask[i - 1] && mask[i + 1] && mask[i - width] && mask[i + width]) inner.push(px(i));
    }
  }
  if (inner.length === 0) return undefined;
  const color = [0, 1, 2].map((c) => median(inner.map((p) => p[c])));
  const agreeing = inner.filter((p) => dist2(p, color) <= SAME_COLOR_DIST ** 2).length;
  return { color, agreement: agreeing / inner.length };
}

/**
 * Reads the background, colour and shape of a packed RGB image. Colour and shape are read only from one
 * solid, compact, one-coloured blob of a plausible size on a uniform background; anything else is a miss
 * with its reason. The shape must fit `geometry`: CLEAN_GEOMETRY calls imperfect shapes a miss.
 */
export function readShapeImage(
  rgb: Uint8Array,
  width: number,
  height: number,
  geometry: GeometryRules = SHAPE_GEOMETRY,
): ShapeReading {
  const px = (i: number): [number, number, number] => [rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]];
  const border: [number, number, number][] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (x < 2 || y < 2 || x >= width - 2 || y >= height - 2) border.push(px(y * width + x));
    }
  }
  const bg = [0, 1, 2].map((c) => median(border.map((p) => p[c])));
  const borderAgreeing = border.filter((p) => dist2(p, bg) <= FOREGROUND_DIST ** 2).length;

  const mask = new Uint8Array(width * height);
  let foregroundPixels = 0;
  for (let i = 0; i < mask.length; i++) {
    if (dist2(px(i), bg) > FOREGROUND_DIST ** 2) {
      mask[i] = 1;
      foregroundPixels++;
    }
  }
  const blob = measureBlob(mask, width, height);
  const inner = blob && innerColor(px, mask, width, blob.box);
  const measured = { foregroundPixels, blob, colorAgreement: inner?.agreement };
  const miss = (why: ReadMiss, background: Background | undefined): ShapeReading => ({
    background,
    color: undefined,
    shape: undefined,
    miss: why,
    ...measured,
  });

  if (borderAgreeing < MIN_BORDER_AGREEMENT * border.length) return miss("noisy background", undefined);
  const background = nearest(BACKGROUNDS, bg);
  if (blob === undefined) return miss("blank", background);
  const side = Math.min(blob.box.x1 - blob.box.x0, blob.box.y1 - blob.box.y0) + 1;
  if (blob.solidPixels < MIN_BLOB_PIXELS || side < MIN_BLOB_SIDE) {
    return miss(blob.blobShare < MIN_BLOB_SHARE ? "scattered" : "speck", background);
  }
  if (blob.blobShare < MIN_BLOB_SHARE) return miss("scattered", background);
  if (blob.convexity < MIN_CONVEXITY || blob.holes > MAX_HOLES) return miss("ragged", background);
  if (inner === undefined || inner.agreement < MIN_COLOR_AGREEMENT) return miss("mottled", background);
  const shape = classifyShape(blob, geometry);
  if (shape === undefined) return miss("undecided", background);
  return { background, color: nearest(SHAPE_COLORS, inner.color), shape, ...measured };
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

/** Shares of images whose attribute was read as expected; an unread (undefined) attribute is a miss. */
export function scoreAdherence(pairs: { expected: ShapeScene; read: SceneReading }[]): AdherenceScore {
  const total = pairs.length;
  const share = (f: (p: { expected: ShapeScene; read: SceneReading }) => boolean) =>
    total === 0 ? 0 : pairs.filter(f).length / total;
  return {
    total,
    background: share((p) => p.expected.background === p.read.background),
    color: share((p) => p.expected.color === p.read.color),
    shape: share((p) => p.expected.shape === p.read.shape),
  };
}
