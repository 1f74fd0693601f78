/** Float canonicalisation: how a number that travelled as a proto float32 is written back as the user wrote it. */

/**
 * The shortest decimal that is the same float32: guidance scales travel as proto `float`, so a 7.3 arrives
 * as 7.300000190734863; the image and the metadata use 7.3, as the user wrote it.
 */
export function float32ToDecimal(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.fround(x);
  for (let p = 1; p <= 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return f;
}
