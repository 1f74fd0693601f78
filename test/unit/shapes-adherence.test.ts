import { describe, expect, it } from "vitest";
import {
  allScenes,
  BACKGROUNDS,
  caption,
  parseCaption,
  readShapeImage,
  SHAPE_COLORS,
  type ShapeScene,
  scoreAdherence,
} from "../../src/eval/shapes-adherence.js";

/** Draws a scene the way the training data does: one shape in a box of `size` px at (x0, y0). */
function draw(scene: ShapeScene, size: number, x0: number, y0: number): Uint8Array {
  const rgb = new Uint8Array(64 * 64 * 3);
  const bg = BACKGROUNDS[scene.background];
  const fg = SHAPE_COLORS[scene.color];
  const cx = x0 + size / 2;
  const cy = y0 + size / 2;
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      let inside = false;
      if (scene.shape === "circle") inside = (px - cx) ** 2 + (py - cy) ** 2 <= (size / 2) ** 2;
      if (scene.shape === "square") inside = Math.abs(px - cx) <= size / 2 && Math.abs(py - cy) <= size / 2;
      if (scene.shape === "triangle")
        inside = py >= y0 && py <= y0 + size && Math.abs(px - cx) <= (py - y0) / 2;
      rgb.set(inside ? fg : bg, (y * 64 + x) * 3);
    }
  }
  return rgb;
}

describe("the tiny-shapes adherence reader", () => {
  it("lists the 54 captions and parses them back", () => {
    const scenes = allScenes();
    expect(scenes).toHaveLength(54);
    expect(new Set(scenes.map(caption)).size).toBe(54);
    for (const s of scenes) expect(parseCaption(caption(s))).toEqual(s);
    expect(parseCaption("a red dog on a white background")).toBeUndefined();
    expect(parseCaption("hello")).toBeUndefined();
  });

  it("reads every scene drawn at several sizes and places", () => {
    for (const scene of allScenes()) {
      for (const [size, x, y] of [
        [20, 4, 4],
        [40, 20, 10],
        [28, 30, 33],
      ]) {
        const read = readShapeImage(draw(scene, size, x, y), 64, 64);
        expect(
          { color: read.color, shape: read.shape, background: read.background },
          `${caption(scene)} ${size}`,
        ).toEqual(scene);
      }
    }
  });

  it("calls a blank image a miss, not a crash", () => {
    const blank = new Uint8Array(64 * 64 * 3).fill(255);
    const read = readShapeImage(blank, 64, 64);
    expect(read.background).toBe("white");
    expect(read.foregroundPixels).toBe(0);
  });

  it("scores shares per attribute", () => {
    const a: ShapeScene = { color: "red", shape: "circle", background: "white" };
    const b: ShapeScene = { color: "red", shape: "square", background: "white" };
    const score = scoreAdherence([
      { expected: a, read: a },
      { expected: a, read: b },
    ]);
    expect(score).toEqual({ total: 2, background: 1, color: 1, shape: 0.5 });
  });
});
