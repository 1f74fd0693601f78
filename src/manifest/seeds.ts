/**
 * Seeds of rows that give none. Stable across versions: changing this changes every such image of every
 * dataset. The base seed of row r (0-based row index, counting invalid rows too) in a job with seed J is
 *
 *   the (r + 1)-th output of splitmix64 seeded with J, shifted right by 16 (its top 48 bits)
 *
 * i.e. z = (J + (r + 1) * 0x9E3779B97F4A7C15) mod 2^64, z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9,
 * z = (z ^ z >> 27) * 0x94D049BB133111EB, z ^= z >> 31, seed = z >> 16 (all mod 2^64). It depends only on
 * (J, r), never on batching or sharding; 48 bits leave room for seed + k to stay below 2^53.
 * (For J = 0, r = 0 that is 0xE220A8397B1DCDAF >> 16 = 248629889170205.)
 *
 * Computed on 32-bit halves: this runs once per row, and BigInt arithmetic costs several times as much.
 */

let hi = 0;
let lo = 0;

/** (hi, lo) = a * b, the full 64-bit product of two unsigned 32-bit numbers. */
function mul32(a: number, b: number): void {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  lo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  hi = (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/** (hi, lo) = (ah, al) * (bh, bl) mod 2^64. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  mul32(al, bl);
  hi = (hi + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** (hi, lo) ^= (hi, lo) >> n, for 0 < n < 32. */
function xorShift(n: number): void {
  lo = (lo ^ ((lo >>> n) | (hi << (32 - n)))) >>> 0;
  hi = (hi ^ (hi >>> n)) >>> 0;
}

const TWO32 = 0x1_0000_0000;

export function deriveRowSeed(jobSeed: number, rowIndex: number): number {
  const n = rowIndex + 1;
  mul64(Math.floor(n / TWO32) >>> 0, n >>> 0, 0x9e3779b9, 0x7f4a7c15);
  const sumLo = lo + (jobSeed >>> 0);
  lo = sumLo >>> 0;
  hi = (hi + Math.floor(jobSeed / TWO32) + (sumLo >= TWO32 ? 1 : 0)) >>> 0;
  xorShift(30);
  mul64(hi, lo, 0xbf58476d, 0x1ce4e5b9);
  xorShift(27);
  mul64(hi, lo, 0x94d049bb, 0x133111eb);
  xorShift(31);
  return hi * 0x10000 + (lo >>> 16);
}
