/**
 * A contact sheet of stored samples (`inspect --contact-sheet`): each PNG decoded and shrunk to at most
 * MAX_CELL pixels a side (small ones doubled, so that their captions fit), captioned, in a grid about as
 * wide as it is tall, encoded as a PNG.
 */
import { decodePng, encodePng } from "../engine/png.js";
import { composeContactSheet, type SheetCell, type SheetTile } from "./contact-sheet.js";

/** The longest side of a cell, in sheet pixels. */
export const MAX_CELL = 256;

export interface CaptionedPng {
  png: Uint8Array;
  caption: string;
}

export interface SampleSheet {
  png: Buffer;
  width: number;
  height: number;
  columns: number;
  /** Where each sample's image lies, in the order given. */
  cells: SheetCell[];
}

export function sampleSheet(samples: readonly CaptionedPng[]): SampleSheet {
  if (samples.length === 0) throw new RangeError("a contact sheet needs at least one sample");
  const tiles: SheetTile[] = samples.map((s) => {
    const image = decodePng(Buffer.from(s.png.buffer, s.png.byteOffset, s.png.byteLength));
    return { ...shrinkToFit(image, MAX_CELL), label: s.caption };
  });
  const longest = Math.max(...tiles.map((t) => Math.max(t.width, t.height)));
  const scale = longest * 2 <= MAX_CELL ? 2 : 1;
  const columns = Math.ceil(Math.sqrt(tiles.length));
  const sheet = composeContactSheet(tiles, { columns, scale });
  return {
    png: encodePng(sheet.rgb, sheet.width, sheet.height),
    width: sheet.width,
    height: sheet.height,
    columns,
    cells: sheet.cells,
  };
}

interface Rgb {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** Averages blocks of f x f pixels, f the smallest integer that brings the longest side to `max` or less. */
export function shrinkToFit(image: Rgb, max: number): Rgb {
  const f = Math.ceil(Math.max(image.width, image.height) / max);
  if (f <= 1) return image;
  const width = Math.floor(image.width / f);
  const height = Math.floor(image.height / f);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < f; dy++) {
          for (let dx = 0; dx < f; dx++) sum += image.rgb[((y * f + dy) * image.width + x * f + dx) * 3 + c];
        }
        rgb[(y * width + x) * 3 + c] = Math.round(sum / (f * f));
      }
    }
  }
  return { rgb, width, height };
}
