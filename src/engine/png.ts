import { PNG } from "pngjs";
import { encodeRgbPng } from "./png-encode.js";

/**
 * Encodes packed 8-bit RGB as a PNG (RGB, no alpha) with the encoder the workers' sinks use, so the same
 * pixels give the same bytes everywhere.
 */
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  return encodeRgbPng(rgb, width, height);
}

/** Decodes a PNG to packed 8-bit RGB (alpha dropped). */
export function decodePng(data: Buffer): { rgb: Uint8Array; width: number; height: number } {
  const png = PNG.sync.read(data);
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let p = 0, q = 0; p < png.data.length; p += 4, q += 3) {
    rgb[q] = png.data[p];
    rgb[q + 1] = png.data[p + 1];
    rgb[q + 2] = png.data[p + 2];
  }
  return { rgb, width: png.width, height: png.height };
}
