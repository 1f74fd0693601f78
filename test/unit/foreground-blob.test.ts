import { describe, expect, it } from "vitest";
import { measureBlob } from "../../src/eval/foreground-blob.js";

/** A 64x64 mask with the pixels whose centres `inside` accepts set. */
function mask(inside: (x: number, y: number) => boolean): Uint8Array {
  const m = new Uint8Array(64 * 64);
  for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) m[y * 64 + x] = inside(x + 0.5, y + 0.5) ? 1 : 0;
  return m;
}

describe("measureBlob", () => {
  it("finds no blob in an empty mask", () => {
    expect(measureBlob(new Uint8Array(64 * 64), 64, 64)).toBeUndefined();
  });

  it("gives a drawn shape's fill of its bounding box: circle pi/4, square 1, triangle 1/2", () => {
    const circle = measureBlob(
      mask((x, y) => (x - 32) ** 2 + (y - 32) ** 2 <= 16 ** 2),
      64,
      64,
    );
    const square = measureBlob(
      mask((x, y) => Math.abs(x - 32) <= 16 && Math.abs(y - 32) <= 16),
      64,
      64,
    );
    const triangle = measureBlob(
      mask((x, y) => y >= 16 && y <= 48 && Math.abs(x - 32) <= (y - 16) / 2),
      64,
      64,
    );
    expect(circle?.fill).toBeCloseTo(Math.PI / 4, 1);
    expect(square?.fill).toBe(1);
    expect(triangle?.fill).toBeCloseTo(0.5, 1);
    for (const b of [circle, square, triangle]) {
      expect(b?.convexity).toBe(1);
      expect(b?.holes).toBe(0);
      expect(b?.blobShare).toBe(1);
      expect(b?.aspect).toBeCloseTo(1, 1);
    }
    expect(square?.cornerFill).toBe(1);
    expect(circle?.cornerFill).toBeLessThan(0.3);
    expect(triangle?.taper).toBeLessThan(0.25);
    expect(square?.taper).toBe(1);
  });

  it("keeps the largest blob, fills its holes and measures how ragged it is", () => {
    const ringAndDot = measureBlob(
      mask((x, y) => Math.abs(Math.hypot(x - 32, y - 32) - 12) < 3 || Math.hypot(x - 5, y - 5) < 2),
      64,
      64,
    );
    expect(ringAndDot?.box).toEqual({ x0: 17, y0: 17, x1: 46, y1: 46 });
    expect(ringAndDot?.blobShare).toBeLessThan(1);
    expect(ringAndDot?.blobShare).toBeGreaterThan(0.9);
    // The ring's inside (radius 9) is a hole: about 9^2 / 15^2 of the filled disc.
    expect(ringAndDot?.holes).toBeGreaterThan(0.3);
    expect(ringAndDot?.holes).toBeLessThan(0.45);

    // A U: 32x32 with a 16-wide, 24-deep notch from the top, so its upper rows are two runs each.
    const u = measureBlob(
      mask((x, y) => x >= 16 && x < 48 && y >= 16 && y < 48 && !(x >= 24 && x < 40 && y < 40)),
      64,
      64,
    );
    expect(u?.convexity).toBeCloseTo(640 / 1024, 3);
  });
});
