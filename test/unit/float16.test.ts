import { describe, expect, it } from "vitest";
import {
  float16BitsToFloat32,
  float32ToFloat16Bits,
  fromFloat16,
  toFloat16,
} from "../../src/engine/float16.js";

describe("float16 conversion", () => {
  it("encodes known values", () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(0.1)).toBe(0x2e66);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(1e-9)).toBe(0);
    expect(float32ToFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
  });

  it("decodes known values", () => {
    expect(float16BitsToFloat32(0x3c00)).toBe(1);
    expect(float16BitsToFloat32(0x7bff)).toBe(65504);
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16BitsToFloat32(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
  });

  it("round-trips within half precision", () => {
    const xs = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10);
    const back = fromFloat16(toFloat16(xs));
    for (let i = 0; i < xs.length; i++)
      expect(Math.abs(back[i] - xs[i])).toBeLessThanOrEqual(Math.abs(xs[i]) * 2 ** -11 + 1e-7);
  });
});
