/**
 * UTF-8 byte length of a string, the same as Buffer.byteLength (a lone surrogate counts 3 bytes, as the
 * U+FFFD it becomes): counted in JS for short strings, where a native call costs more than the count.
 * The coordinator measures several strings per sample (shard cuts, task encoding).
 */

/** From this many UTF-16 units on, Buffer.byteLength counts. */
const SHORT = 64;

export function utf8ByteLength(s: string): number {
  if (s.length >= SHORT) return Buffer.byteLength(s);
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: two units, four bytes.
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}
