/**
 * CRC-32 (the zlib / PNG / gzip one) of two byte strings joined, from the CRC of each and the length of
 * the second: what zlib's crc32_combine computes, which Node does not expose. A shard's tar CRC is made
 * this way from the CRCs its PNGs already have, rather than by reading every PNG again.
 *
 * Arithmetic on polynomials over GF(2) modulo the CRC polynomial, bit-reflected as the CRC itself is:
 * crc(A + B) = crc(A) * x^(8 * len(B)) + crc(B).
 */

/** The reflected CRC-32 polynomial. */
const POLY = 0xedb88320;

/** a * b modulo the polynomial (both reflected; bit 31 is x^0). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  let bb = b >>> 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= bb;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    bb = bb & 1 ? (bb >>> 1) ^ POLY : bb >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N: number[] = (() => {
  const table = new Array<number>(32);
  let p = 0x40000000; // x^1
  table[0] = p;
  for (let k = 1; k < 32; k++) table[k] = p = multModP(p, p);
  return table;
})();

/** x^(n * 2^k) modulo the polynomial. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  let rest = n;
  let bit = k;
  while (rest > 0) {
    if (rest % 2 === 1) p = multModP(X2N[bit & 31], p);
    rest = Math.floor(rest / 2);
    bit++;
  }
  return p;
}

/** CRC-32 of A followed by B, given crc(A), crc(B) and B's length in bytes. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (!Number.isSafeInteger(lengthB) || lengthB < 0) throw new RangeError(`bad length ${lengthB}`);
  return (multModP(x2nModP(lengthB, 3), crcA >>> 0) ^ (crcB >>> 0)) >>> 0;
}
