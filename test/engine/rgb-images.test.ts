import { describe, expect, it } from "vitest";
import { splitImages, toRgbImages } from "../../src/engine/vae-decoder.js";

/** The reference: each channel plane of NCHW, (x + 1) * 127.5 clamped and rounded by Math.round. */
function reference(pixels: Float32Array, batch: number, height: number, width: number): Uint8Array[] {
  const plane = height * width;
  return Array.from({ length: batch }, (_, b) => {
    const rgb = new Uint8Array(plane * 3);
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < plane; p++) {
        const v = (pixels[(b * 3 + c) * plane + p] + 1) * 127.5;
        rgb[p * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      }
    }
    return rgb;
  });
}

/** The float32 values within `ulps` steps of x, both sides. */
function float32Neighbours(x: number, ulps: number): number[] {
  const f = new Float32Array([x]);
  const bits = new Int32Array(f.buffer);
  const start = bits[0];
  const out: number[] = [];
  for (let d = -ulps; d <= ulps; d++) {
    bits[0] = x >= 0 ? start + d : start - d;
    out.push(f[0]);
  }
  return out;
}

describe("toRgbImages", () => {
  it("rounds like Math.round at the float32 neighbours of every half-way value, and clamps", () => {
    const values: number[] = [
      Number.NaN,
      -1,
      1,
      0,
      -2,
      2,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ];
    for (let k = 0; k <= 255; k++) values.push(...float32Neighbours((k + 0.5) / 127.5 - 1, 300));
    for (let k = 0; k <= 255; k++) values.push(...float32Neighbours(k / 127.5 - 1, 3));
    // Three planes of one image, one pixel wide: each value goes through each channel.
    const n = values.length;
    const pixels = new Float32Array(3 * n);
    for (let c = 0; c < 3; c++) pixels.set(values, c * n);
    const [got] = toRgbImages(pixels, 1, n, 1);
    const [want] = reference(pixels, 1, n, 1);
    expect(got.length).toBe(3 * n);
    expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
    expect(got[3 * 4 + 1]).toBe(0);
    expect(got[3 * 5]).toBe(255);
  });

  it("packs NCHW planes into HWC bytes, image by image", () => {
    const [h, w, batch] = [2, 3, 2];
    const pixels = Float32Array.from({ length: batch * 3 * h * w }, (_, i) => (i % 17) / 8 - 1);
    expect(toRgbImages(pixels, batch, h, w)).toEqual(reference(pixels, batch, h, w));
  });

  it("reports which images had a NaN value (the pipeline's warning), in any channel, and no others", () => {
    const [h, w, batch] = [2, 2, 4];
    const plane = h * w;
    const pixels = new Float32Array(batch * 3 * plane).fill(0.25);
    pixels[(1 * 3 + 2) * plane + 3] = Number.NaN; // image 1, blue, last pixel
    pixels[(3 * 3 + 0) * plane + 0] = Number.NaN; // image 3, red, first pixel
    pixels[(2 * 3 + 1) * plane + 1] = Number.POSITIVE_INFINITY; // clamped, not NaN
    const nan: boolean[] = [];
    const images = toRgbImages(pixels, batch, h, w, nan);
    expect(nan).toEqual([false, true, false, true]);
    expect(images).toEqual(reference(pixels, batch, h, w));
  });
});

describe("splitImages (the floats a worker's engine hands over)", () => {
  it("gives each image its own buffer, whose bytes are the batch's conversion's", () => {
    const [h, w, batch] = [2, 3, 4];
    const plane = h * w;
    const pixels = Float32Array.from({ length: batch * 3 * plane }, (_, i) => (i % 13) / 6 - 1);
    pixels[(1 * 3 + 2) * plane + 5] = Number.NaN;
    const images = splitImages(pixels, batch, 3 * plane);
    const rgb = toRgbImages(pixels, batch, h, w);
    expect(images).toHaveLength(batch);
    for (const [b, image] of images.entries()) {
      expect(image.byteOffset).toBe(0);
      expect(image.buffer.byteLength).toBe(3 * plane * 4);
      const nan: boolean[] = [];
      expect(toRgbImages(image, 1, h, w, nan)[0]).toEqual(rgb[b]);
      expect(nan).toEqual([b === 1]);
    }
  });

  it("hands a batch of one over as it is when it owns its buffer, and copies a view", () => {
    const one = new Float32Array(3 * 4).fill(0.5);
    expect(splitImages(one, 1, 12)[0]).toBe(one);
    const view = new Float32Array(24).subarray(12);
    const [copy] = splitImages(view, 1, 12);
    expect(copy).not.toBe(view);
    expect(copy.buffer.byteLength).toBe(48);
  });
});
