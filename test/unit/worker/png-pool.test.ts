import { afterAll, describe, expect, it } from "vitest";
import { NAN_PIXELS_WARNING, toRgbImages } from "../../../src/engine/vae-decoder.js";
import { PngPool } from "../../../src/worker/png-pool.js";
import { ImageSink } from "../../../src/worker/sink.js";

const [W, H] = [12, 8];
/** Planar floats in [-1, 1] as the VAE gives them, with a NaN at `nanAt` if given. */
function floats(nanAt?: number): Float32Array {
  const pixels = Float32Array.from({ length: 3 * W * H }, (_, i) => Math.sin(i * 0.7) * 1.1);
  if (nanAt !== undefined) pixels[nanAt] = Number.NaN;
  return pixels;
}

describe("the PNG pool with the engine's floats", () => {
  const threaded = new PngPool({ threads: 1 });
  const inline = new PngPool({ threads: 0 });
  afterAll(async () => {
    await threaded.close();
    await inline.close();
  });

  it("encodes floats to the very file their RGB bytes make, on a thread and inline, the floats moved", async () => {
    const rgb = toRgbImages(floats(), 1, H, W)[0];
    const expected = await inline.encode(rgb, W, H);
    for (const pool of [threaded, inline]) {
      const pixels = floats();
      const got = await pool.encodeImage({ pixels, width: W, height: H }, { transfer: true });
      expect(got.png.equals(expected.png)).toBe(true);
      expect(got.crc32).toBe(expected.crc32);
      expect(got.nanPixels).toBe(false);
      if (pool === threaded) expect(pixels.length).toBe(0);
    }
  });

  it("says which float images had a NaN, and refuses floats of the wrong size", async () => {
    for (const pool of [threaded, inline]) {
      const nan = await pool.encodeImage({ pixels: floats(2 * W * H + 5), width: W, height: H });
      expect(nan.nanPixels).toBe(true);
    }
    await expect(threaded.encodeImage({ pixels: new Float32Array(10), width: W, height: H })).rejects.toThrow(
      /needs 288 floats, got 10/,
    );
  });

  it("the sink adds the engine's NaN warning to the image it encodes, and only to that one", async () => {
    const sink = new ImageSink({ pngThreads: 1 });
    try {
      const bad = { pixels: floats(7), width: W, height: H, warnings: ["prompt truncated"] };
      const good = { pixels: floats(), width: W, height: H, warnings: [] as string[] };
      await sink.encodePng(bad);
      await sink.encodePng(good);
      expect(bad.warnings).toEqual(["prompt truncated", NAN_PIXELS_WARNING]);
      expect(good.warnings).toEqual([]);
    } finally {
      await sink.close();
    }
  });
});
