/**
 * A PNG encoder for packed 8-bit RGB, made for throughput: one fixed filter for every row (Paeth, which
 * suits photographic images best among single filters) and zlib at a low level with the RLE strategy.
 * pngjs instead tries all five filters on every row in JavaScript and then deflates at level 9: the same
 * files within a few percent, at two to three times the cost (bench/write-path.ts measures both).
 *
 * Deterministic: the same pixels and options always give the same bytes.
 */
import { crc32, deflateSync, constants as zlib } from "node:zlib";
import { crc32Combine } from "../common/crc32-combine.js";

export interface PngEncodeOptions {
  /** zlib level 0-9 (default 1: with the RLE strategy higher levels barely shrink the files). */
  level?: number;
}

export const DEFAULT_PNG_LEVEL = 1;

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PAETH = 4;
const SUB = 1;

export function encodeRgbPng(
  rgb: Uint8Array,
  width: number,
  height: number,
  opts: PngEncodeOptions = {},
): Buffer {
  return encodeRgbPngWithCrc(rgb, width, height, opts).png;
}

/**
 * The PNG and the CRC-32 of the whole file, which costs next to nothing here (the chunks' own CRCs are
 * computed anyway) and spares a second pass over the bytes where a container needs it (a shard's tar).
 */
export function encodeRgbPngWithCrc(
  rgb: Uint8Array,
  width: number,
  height: number,
  opts: PngEncodeOptions = {},
): { png: Buffer; crc32: number } {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`PNG size must be positive integers, got ${width}x${height}`);
  }
  if (rgb.length !== width * height * 3) {
    throw new RangeError(
      `expected ${width * height * 3} RGB bytes for ${width}x${height}, got ${rgb.length}`,
    );
  }
  const filtered = filterPaeth(rgb, width, height);
  // One output buffer as large as the input (deflate's worst case is barely larger, and then it simply
  // takes a second one): zlib does not collect 16 KiB pieces to join into one buffer at the end.
  const idat = deflateSync(filtered, {
    level: opts.level ?? DEFAULT_PNG_LEVEL,
    strategy: zlib.Z_RLE,
    chunkSize: Math.max(zlib.Z_MIN_CHUNK, filtered.length),
  });
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  // compression, filter method and interlace are 0
  // A buffer of its own (not a slice of Node's shared pool), so a thread can hand it over without a copy.
  const out = Buffer.from(new ArrayBuffer(SIGNATURE.length + 12 * 3 + ihdr.length + idat.length));
  let at = SIGNATURE.copy(out, 0);
  at = writeChunk(out, at, "IHDR", ihdr).end;
  const idatAt = at;
  const idatChunk = writeChunk(out, at, "IDAT", idat);
  writeChunk(out, idatChunk.end, "IEND", Buffer.alloc(0));
  // The file's CRC: what precedes IDAT's type, then IDAT's type and data (its chunk CRC), then the rest.
  const head = crc32(out.subarray(0, idatAt + 4));
  const withIdat = crc32Combine(head, idatChunk.crc, 4 + idat.length);
  return { png: out, crc32: crc32(out.subarray(idatChunk.end - 4), withIdat) >>> 0 };
}

function writeChunk(out: Buffer, at: number, type: string, data: Buffer): { end: number; crc: number } {
  out.writeUInt32BE(data.length, at);
  out.write(type, at + 4, "latin1");
  data.copy(out, at + 8);
  const crc = crc32(out.subarray(at + 4, at + 8 + data.length)) >>> 0;
  out.writeUInt32BE(crc, at + 8 + data.length);
  return { end: at + 12 + data.length, crc };
}

/** The filtered scanlines of the last image, reused: a fresh buffer per image costs fresh pages. */
let scratch: Buffer | undefined;

/**
 * Scanlines with a filter byte each: the first row uses Sub (Paeth with no row above is Sub), the others
 * Paeth. The first pixel of a row has no left neighbour, so Paeth reduces to Up there.
 */
function filterPaeth(rgb: Uint8Array, width: number, height: number): Buffer {
  const stride = width * 3;
  const size = (stride + 1) * height;
  if (scratch === undefined || scratch.length < size) scratch = Buffer.allocUnsafe(size);
  const out = scratch.subarray(0, size);
  out[0] = SUB;
  for (let x = 0; x < 3; x++) out[1 + x] = rgb[x];
  for (let x = 3; x < stride; x++) out[1 + x] = (rgb[x] - rgb[x - 3]) & 255;
  for (let y = 1; y < height; y++) {
    const o = y * (stride + 1) + 1;
    const r = y * stride;
    const up = r - stride;
    out[o - 1] = PAETH;
    for (let x = 0; x < 3; x++) out[o + x] = (rgb[r + x] - rgb[up + x]) & 255;
    for (let x = 3; x < stride; x++) {
      const a = rgb[r + x - 3];
      const b = rgb[up + x];
      const c = rgb[up + x - 3];
      // |p - a|, |p - b|, |p - c| for p = a + b - c, and the choice, without branches the CPU mispredicts.
      let pa = b - c;
      let pb = a - c;
      let pc = pa + pb;
      pa = (pa ^ (pa >> 31)) - (pa >> 31);
      pb = (pb ^ (pb >> 31)) - (pb >> 31);
      pc = (pc ^ (pc >> 31)) - (pc >> 31);
      const takeA = (((pb - pa) >> 31) | ((pc - pa) >> 31)) + 1;
      const takeB = ((pc - pb) >> 31) + 1;
      const pred = takeA ? a : takeB ? b : c;
      out[o + x] = (rgb[r + x] - pred) & 255;
    }
  }
  return out;
}
