/**
 * The foreground of an image as one blob: its largest 8-connected group of foreground pixels, with holes
 * filled, and the plain geometric measures that tell a drawn shape from specks, noise and smears.
 */

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface BlobMeasures {
  /** All foreground pixels in the image. */
  foregroundPixels: number;
  /** The largest blob's own foreground pixels. */
  blobPixels: number;
  /** blobPixels over foregroundPixels: near 1 for one shape, small for scattered pixels. */
  blobShare: number;
  /** The blob with its enclosed holes filled. */
  solidPixels: number;
  /** Enclosed background inside the blob over solidPixels: near 0 for a drawn shape. */
  holes: number;
  /**
   * solidPixels over the larger of its summed row spans and summed column spans (first to last pixel):
   * 1 when every row and every column is one run, as in any convex shape; well below 1 for a ragged blob.
   */
  convexity: number;
  /** Bounding box width over height. */
  aspect: number;
  /** solidPixels over bounding-box area: circle pi/4, square 1, triangle 1/2. */
  fill: number;
  /** Share of the four corner regions of the bounding box (a fifth of its side each) that the blob covers. */
  cornerFill: number;
  /** Mean width of the blob's top quarter over that of its bottom quarter: near 0 for an upright triangle. */
  taper: number;
  /**
   * Intersection over union of the solid blob with each ideal outline drawn in its bounding box: the
   * inscribed ellipse, and the upright triangle (apex at the top middle, base along the bottom). Near 1
   * only for a clean outline: a rounded diamond or a star-like triangle with concave sides falls well short.
   */
  ellipseFit: number;
  triangleFit: number;
  box: Box;
}

/** Labels the 8-connected components of `mask` and returns the pixel indices of the largest. */
function largestComponent(mask: Uint8Array, width: number, height: number): number[] {
  const seen = new Uint8Array(mask.length);
  const stack: number[] = [];
  let best: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    const members: number[] = [];
    seen[start] = 1;
    stack.push(start);
    while (stack.length > 0) {
      const i = stack.pop() as number;
      members.push(i);
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const j = ny * width + nx;
          if (mask[j] && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
    if (members.length > best.length) best = members;
  }
  return best;
}

/** The blob with holes filled: every box pixel that background outside the box cannot reach (4-connected). */
function fillHoles(blob: Uint8Array, width: number, box: Box): Uint8Array {
  const w = box.x1 - box.x0 + 3;
  const h = box.y1 - box.y0 + 3;
  // A one-pixel frame around the box, so the outside is one connected region.
  const outside = new Uint8Array(w * h);
  const inBlob = (x: number, y: number) =>
    x >= 1 && y >= 1 && x < w - 1 && y < h - 1 && blob[(box.y0 + y - 1) * width + box.x0 + x - 1] === 1;
  const stack = [0];
  outside[0] = 1;
  while (stack.length > 0) {
    const i = stack.pop() as number;
    const x = i % w;
    const y = (i - x) / w;
    for (const [nx, ny] of [
      [x + 1, y],
      [x - 1, y],
      [x, y + 1],
      [x, y - 1],
    ]) {
      if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
      const j = ny * w + nx;
      if (!outside[j] && !inBlob(nx, ny)) {
        outside[j] = 1;
        stack.push(j);
      }
    }
  }
  const solid = new Uint8Array(blob.length);
  for (let y = box.y0; y <= box.y1; y++) {
    for (let x = box.x0; x <= box.x1; x++) {
      if (!outside[(y - box.y0 + 1) * w + x - box.x0 + 1]) solid[y * width + x] = 1;
    }
  }
  return solid;
}

/** Measures the largest blob of `mask` (1 = foreground); undefined when there is no foreground at all. */
export function measureBlob(mask: Uint8Array, width: number, height: number): BlobMeasures | undefined {
  let foregroundPixels = 0;
  for (const v of mask) foregroundPixels += v;
  if (foregroundPixels === 0) return undefined;
  const members = largestComponent(mask, width, height);
  const blob = new Uint8Array(mask.length);
  const box: Box = { x0: width, y0: height, x1: -1, y1: -1 };
  for (const i of members) {
    blob[i] = 1;
    const x = i % width;
    const y = (i - x) / width;
    box.x0 = Math.min(box.x0, x);
    box.x1 = Math.max(box.x1, x);
    box.y0 = Math.min(box.y0, y);
    box.y1 = Math.max(box.y1, y);
  }
  const solid = fillHoles(blob, width, box);
  const bw = box.x1 - box.x0 + 1;
  const bh = box.y1 - box.y0 + 1;

  // Per-row and per-column extents of the solid blob, and its row widths for the taper.
  const rowMin = new Array<number>(bh).fill(bw);
  const rowMax = new Array<number>(bh).fill(-1);
  const colMin = new Array<number>(bw).fill(bh);
  const colMax = new Array<number>(bw).fill(-1);
  const rowCount = new Array<number>(bh).fill(0);
  let solidPixels = 0;
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      if (!solid[(box.y0 + y) * width + box.x0 + x]) continue;
      solidPixels++;
      rowCount[y]++;
      rowMin[y] = Math.min(rowMin[y], x);
      rowMax[y] = Math.max(rowMax[y], x);
      colMin[x] = Math.min(colMin[x], y);
      colMax[x] = Math.max(colMax[x], y);
    }
  }
  let rowSpans = 0;
  for (let y = 0; y < bh; y++) if (rowMax[y] >= 0) rowSpans += rowMax[y] - rowMin[y] + 1;
  let colSpans = 0;
  for (let x = 0; x < bw; x++) if (colMax[x] >= 0) colSpans += colMax[x] - colMin[x] + 1;

  const corner = Math.max(1, Math.round(Math.min(bw, bh) * 0.2));
  let cornerHits = 0;
  for (const [cx, cy] of [
    [0, 0],
    [bw - corner, 0],
    [0, bh - corner],
    [bw - corner, bh - corner],
  ]) {
    for (let y = cy; y < cy + corner; y++) {
      for (let x = cx; x < cx + corner; x++) cornerHits += solid[(box.y0 + y) * width + box.x0 + x];
    }
  }
  const quarter = Math.max(1, Math.floor(bh / 4));
  const meanWidth = (from: number, to: number) => {
    let s = 0;
    for (let y = from; y < to; y++) s += rowCount[y];
    return s / (to - from);
  };

  // Ideal outlines in the box, tested at pixel centres (x + 0.5) in box coordinates.
  const insideEllipse = (x: number, y: number) =>
    ((x + 0.5 - bw / 2) / (bw / 2)) ** 2 + ((y + 0.5 - bh / 2) / (bh / 2)) ** 2 <= 1;
  const insideTriangle = (x: number, y: number) => Math.abs(x + 0.5 - bw / 2) <= ((y + 0.5) / bh) * (bw / 2);
  const overlap = (inside: (x: number, y: number) => boolean) => {
    let both = 0;
    let either = 0;
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < bw; x++) {
        const a = solid[(box.y0 + y) * width + box.x0 + x] === 1;
        const b = inside(x, y);
        if (a && b) both++;
        if (a || b) either++;
      }
    }
    return both / either;
  };

  return {
    foregroundPixels,
    blobPixels: members.length,
    blobShare: members.length / foregroundPixels,
    solidPixels,
    holes: (solidPixels - members.length) / solidPixels,
    convexity: solidPixels / Math.max(rowSpans, colSpans),
    aspect: bw / bh,
    fill: solidPixels / (bw * bh),
    cornerFill: cornerHits / (4 * corner * corner),
    taper: meanWidth(0, quarter) / Math.max(1e-9, meanWidth(bh - quarter, bh)),
    ellipseFit: overlap(insideEllipse),
    triangleFit: overlap(insideTriangle),
    box,
  };
}
