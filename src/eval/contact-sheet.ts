/** A contact sheet: a grid of generated images, each with its caption underneath, as one RGB image. */
import { ADVANCE, drawText, GLYPH_HEIGHT, wrapText } from "./bitmap-font.js";

export interface SheetTile {
  rgb: Uint8Array;
  width: number;
  height: number;
  label: string;
}

export interface SheetOptions {
  columns: number;
  /** Integer up-scaling of each tile (nearest neighbour). */
  scale?: number;
  padding?: number;
  labelLines?: number;
}

/** Where a tile's image lies on the sheet (its caption is below it). */
export interface SheetCell {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface SheetImage {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** One per tile, in order. */
  cells: SheetCell[];
}

export function composeContactSheet(tiles: SheetTile[], options: SheetOptions): SheetImage {
  const scale = options.scale ?? 2;
  const pad = options.padding ?? 8;
  const lines = options.labelLines ?? 3;
  const tileW = Math.max(...tiles.map((t) => t.width)) * scale;
  const tileH = Math.max(...tiles.map((t) => t.height)) * scale;
  const labelH = lines * (GLYPH_HEIGHT + 2) + 2;
  const cols = Math.min(options.columns, tiles.length);
  const rows = Math.ceil(tiles.length / cols);
  const width = pad + cols * (tileW + pad);
  const height = pad + rows * (tileH + labelH + pad);
  const rgb = new Uint8Array(width * height * 3).fill(255);
  const maxChars = Math.floor(tileW / ADVANCE);
  const cells: SheetCell[] = [];
  tiles.forEach((tile, i) => {
    const ox = pad + (i % cols) * (tileW + pad);
    const oy = pad + Math.floor(i / cols) * (tileH + labelH + pad);
    cells.push({ x: ox, y: oy, width: tile.width * scale, height: tile.height * scale });
    for (let y = 0; y < tile.height * scale; y++) {
      for (let x = 0; x < tile.width * scale; x++) {
        const src = (Math.floor(y / scale) * tile.width + Math.floor(x / scale)) * 3;
        const dst = ((oy + y) * width + ox + x) * 3;
        rgb[dst] = tile.rgb[src];
        rgb[dst + 1] = tile.rgb[src + 1];
        rgb[dst + 2] = tile.rgb[src + 2];
      }
    }
    wrapText(tile.label, maxChars)
      .slice(0, lines)
      .forEach((line, l) => {
        drawText(rgb, width, height, line, ox, oy + tileH + 2 + l * (GLYPH_HEIGHT + 2), [20, 20, 20]);
      });
  });
  return { rgb, width, height, cells };
}
