import { describe, expect, it } from "vitest";
import { SampleRandom } from "../../src/engine/random.js";
import {
  allScenes,
  BACKGROUNDS,
  type Background,
  CLEAN_GEOMETRY,
  caption,
  parseCaption,
  readShapeImage,
  SHAPE_COLORS,
  SHAPE_GEOMETRY,
  SHAPES,
  type ShapeReading,
  type ShapeScene,
  scoreAdherence,
} from "../../src/eval/shapes-adherence.js";

type Rgb = readonly number[];

/** A 64x64 image of `bg` with each pixel that `paint` gives a colour painted in it. */
function paint(bg: Rgb, at: (x: number, y: number) => Rgb | undefined): Uint8Array {
  const rgb = new Uint8Array(64 * 64 * 3);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) rgb.set(at(x, y) ?? bg, (y * 64 + x) * 3);
  }
  return rgb;
}

/** Colour and shape left unread, with a reason. */
function expectMiss(read: ShapeReading, label: string): void {
  expect({ color: read.color, shape: read.shape }, label).toEqual({ color: undefined, shape: undefined });
  expect(read.miss, label).toBeDefined();
}

const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as Background[];

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

/**
 * Renders a scene as the training data does: 2x2 super-sampled coverage, so edges are anti-aliased,
 * in a box of `size` px at a sub-pixel place, with a jittered shape colour.
 */
function render(scene: ShapeScene, size: number, x0: number, y0: number, fg: Rgb): Uint8Array {
  const bg = BACKGROUNDS[scene.background];
  const cx = x0 + size / 2;
  const cy = y0 + size / 2;
  const inside = (px: number, py: number) => {
    if (scene.shape === "circle") return (px - cx) ** 2 + (py - cy) ** 2 <= (size / 2) ** 2;
    if (scene.shape === "square") return Math.abs(px - cx) <= size / 2 && Math.abs(py - cy) <= size / 2;
    return py >= y0 && py <= y0 + size && Math.abs(px - cx) <= (py - y0) / 2;
  };
  return paint(bg, (x, y) => {
    let cover = 0;
    for (const [sx, sy] of [
      [0.25, 0.25],
      [0.75, 0.25],
      [0.25, 0.75],
      [0.75, 0.75],
    ]) {
      if (inside(x + sx, y + sy)) cover += 0.25;
    }
    return cover === 0 ? undefined : [0, 1, 2].map((c) => Math.round(bg[c] * (1 - cover) + fg[c] * cover));
  });
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
    expect(read).toMatchObject({ color: undefined, shape: undefined, miss: "blank" });
    const expected: ShapeScene = { color: "yellow", shape: "circle", background: "white" };
    expect(scoreAdherence([{ expected, read }])).toEqual({ total: 1, background: 1, color: 0, shape: 0 });
    for (const background of BACKGROUND_NAMES) {
      expect(
        readShapeImage(
          paint(BACKGROUNDS[background], () => undefined),
          64,
          64,
        ),
      ).toMatchObject({
        background,
        miss: "blank",
      });
    }
  });

  it("calls a speck of a few pixels a miss", () => {
    for (const background of BACKGROUND_NAMES) {
      for (const side of [1, 2, 3, 5, 7]) {
        const speck = paint(BACKGROUNDS[background], (x, y) =>
          x >= 30 && x < 30 + side && y >= 30 && y < 30 + side ? SHAPE_COLORS.red : undefined,
        );
        const read = readShapeImage(speck, 64, 64);
        expectMiss(read, `${side}x${side} on ${background}`);
        expect(read.miss).toBe("speck");
        expect(read.background).toBe(background);
      }
    }
  });

  it("calls noise a miss: scattered pixels, salt and pepper, random colours", () => {
    const random = new SampleRandom(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random.uniform() * xs.length)];
    const colours = Object.values(SHAPE_COLORS);
    for (const background of BACKGROUND_NAMES) {
      for (const density of [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) {
        const coloured = paint(BACKGROUNDS[background], () =>
          random.uniform() < density ? pick(colours) : undefined,
        );
        expectMiss(readShapeImage(coloured, 64, 64), `coloured noise ${density} on ${background}`);
        const saltAndPepper = paint(BACKGROUNDS[background], () =>
          random.uniform() < density ? pick([BACKGROUNDS.white, BACKGROUNDS.black]) : undefined,
        );
        expectMiss(readShapeImage(saltAndPepper, 64, 64), `salt and pepper ${density} on ${background}`);
      }
      // Noise inside a clean border: one big connected blob, but of every colour.
      const noisyMiddle = paint(BACKGROUNDS[background], (x, y) =>
        x >= 6 && x < 58 && y >= 6 && y < 58 ? [0, 0, 0].map(() => random.uniform() * 256) : undefined,
      );
      expectMiss(readShapeImage(noisyMiddle, 64, 64), `noisy middle on ${background}`);
    }
    const everywhere = paint([0, 0, 0], () => [0, 0, 0].map(() => random.uniform() * 256));
    expect(readShapeImage(everywhere, 64, 64)).toMatchObject({
      background: undefined,
      color: undefined,
      shape: undefined,
      miss: "noisy background",
    });
  });

  it("calls blobs that are none of the three shapes a miss", () => {
    const green = SHAPE_COLORS.green;
    const cases: [string, (x: number, y: number) => boolean, string][] = [
      ["a 2.4:1 ellipse", (x, y) => ((x - 32) / 24) ** 2 + ((y - 32) / 10) ** 2 <= 1, "undecided"],
      ["a plain diamond", (x, y) => Math.abs(x - 32) + Math.abs(y - 32) <= 15, "undecided"],
      [
        "a plus",
        (x, y) =>
          Math.min(Math.abs(x - 32), Math.abs(y - 32)) < 4 &&
          Math.max(Math.abs(x - 32), Math.abs(y - 32)) < 16,
        "undecided",
      ],
      ["a ring", (x, y) => Math.abs(Math.hypot(x - 32, y - 32) - 12) < 3, "ragged"],
      [
        "two circles",
        (x, y) => Math.hypot(x - 18, y - 18) < 11 || Math.hypot(x - 46, y - 46) < 11,
        "scattered",
      ],
    ];
    for (const background of BACKGROUND_NAMES) {
      for (const [label, inside, why] of cases) {
        const read = readShapeImage(
          paint(BACKGROUNDS[background], (x, y) => (inside(x, y) ? green : undefined)),
          64,
          64,
        );
        expectMiss(read, `${label} on ${background}`);
        expect(read.miss, `${label} on ${background}`).toBe(why);
      }
      const twoColours = paint(BACKGROUNDS[background], (x, y) =>
        x >= 16 && x < 48 && y >= 16 && y < 48
          ? (x * 7 + y * 13) % 5 < 2
            ? SHAPE_COLORS.red
            : SHAPE_COLORS.blue
          : undefined,
      );
      expect(readShapeImage(twoColours, 64, 64).miss, `two-coloured square on ${background}`).toBe("mottled");
    }
  });

  it("reads clean anti-aliased renders as the training data draws them: every caption, sizes 20-40", () => {
    const random = new SampleRandom(11);
    for (let n = 0; n < 4; n++) {
      for (const scene of allScenes()) {
        const size = 20 + random.uniform() * 20;
        const x0 = 4 + random.uniform() * (56 - size);
        const y0 = 4 + random.uniform() * (56 - size);
        const fg = SHAPE_COLORS[scene.color].map((v) =>
          Math.min(255, Math.max(0, v + (random.uniform() - 0.5) * 24)),
        );
        const image = render(scene, size, x0, y0, fg);
        for (const geometry of [SHAPE_GEOMETRY, CLEAN_GEOMETRY]) {
          const read = readShapeImage(image, 64, 64, geometry);
          expect(
            { color: read.color, shape: read.shape, background: read.background },
            `${caption(scene)} ${size.toFixed(1)} at ${x0.toFixed(1)},${y0.toFixed(1)}`,
          ).toEqual(scene);
        }
      }
    }
  });

  it("calls imperfect shapes a miss by clean geometry: a rounded diamond is no circle, a bowed square no square, a star no triangle", () => {
    const orange = SHAPE_COLORS.orange;
    // |x|^1.5 + |y|^1.5 <= r^1.5: a rounded diamond (fill 0.68, ellipse fit 0.87), as the model once drew circles.
    const roundedDiamond = (x: number, y: number) =>
      Math.abs(x - 31.5) ** 1.5 + Math.abs(y - 31.5) ** 1.5 <= 16 ** 1.5;
    // Sides bowed in by 2 px at their middles (fill about 0.83), as the model once drew squares.
    const bow = (t: number) => 2 * (1 - (t / 16) ** 2);
    const bowedSquare = (x: number, y: number) => {
      const dx = Math.abs(x - 31.5);
      const dy = Math.abs(y - 31.5);
      return dx <= 16 - bow(dy) && dy <= 16 - bow(dx);
    };
    // Concave sides: the half-width grows as the 1.6th power of the depth below the apex.
    const flaredTriangle = (x: number, y: number) =>
      y >= 16 && y <= 48 && Math.abs(x - 31.5) <= 16 * ((y - 16) / 32) ** 1.6 + 0.5;
    for (const background of BACKGROUND_NAMES) {
      for (const [label, inside] of [
        ["rounded diamond", roundedDiamond],
        ["bowed square", bowedSquare],
        ["flared triangle", flaredTriangle],
      ] as const) {
        const read = readShapeImage(
          paint(BACKGROUNDS[background], (x, y) => (inside(x, y) ? orange : undefined)),
          64,
          64,
          CLEAN_GEOMETRY,
        );
        expectMiss(read, `${label} on ${background}`);
        expect(read.miss, `${label} on ${background}`).toBe("undecided");
        expect(read.background).toBe(background);
      }
    }
  });

  it("reads the model's imperfect shapes: rounded-diamond circles, bowed squares, flared triangles", () => {
    for (const background of BACKGROUND_NAMES) {
      const orange = SHAPE_COLORS.orange;
      // |x|^1.5 + |y|^1.5 <= r^1.5: a rounded diamond, fill about 0.68.
      const roundedDiamond = paint(BACKGROUNDS[background], (x, y) =>
        Math.abs(x - 31.5) ** 1.5 + Math.abs(y - 31.5) ** 1.5 <= 16 ** 1.5 ? orange : undefined,
      );
      // Sides bowed in by 2 px at their middles (fill about 0.83, as the model draws them).
      const bow = (t: number) => 2 * (1 - (t / 16) ** 2);
      const bowedSquare = paint(BACKGROUNDS[background], (x, y) => {
        const dx = Math.abs(x - 31.5);
        const dy = Math.abs(y - 31.5);
        return dx <= 16 - bow(dy) && dy <= 16 - bow(dx) ? orange : undefined;
      });
      // Concave sides: half-width grows as the square of the depth below the apex.
      const flaredTriangle = paint(BACKGROUNDS[background], (x, y) =>
        y >= 16 && y <= 48 && Math.abs(x - 31.5) <= 16 * ((y - 16) / 32) ** 1.6 + 0.5 ? orange : undefined,
      );
      for (const [shape, image] of [
        ["circle", roundedDiamond],
        ["square", bowedSquare],
        ["triangle", flaredTriangle],
      ] as const) {
        const read = readShapeImage(image, 64, 64);
        expect(
          { color: read.color, shape: read.shape, background: read.background },
          `${shape} on ${background}`,
        ).toEqual({
          color: "orange",
          shape,
          background,
        });
      }
    }
  });

  it("scores a wrong shape as a shape miss and an unread one as a miss for colour and shape", () => {
    const circle: ShapeScene = { color: "blue", shape: "circle", background: "gray" };
    const square = readShapeImage(draw({ ...circle, shape: "square" }, 30, 17, 17), 64, 64);
    expect(square.shape).toBe("square");
    expect(scoreAdherence([{ expected: circle, read: square }])).toEqual({
      total: 1,
      background: 1,
      color: 1,
      shape: 0,
    });
    const unread = readShapeImage(
      paint(BACKGROUNDS.gray, () => undefined),
      64,
      64,
    );
    expect(
      scoreAdherence([
        { expected: circle, read: square },
        { expected: circle, read: unread },
      ]),
    ).toEqual({
      total: 2,
      background: 1,
      color: 0.5,
      shape: 0,
    });
  });

  it("keeps the shapes' geometry ranges apart, so at most one shape fits a blob", () => {
    const apart = (a: readonly [number, number], b: readonly [number, number]) => a[1] < b[0] || b[1] < a[0];
    for (const a of SHAPES) {
      for (const b of SHAPES) {
        if (a === b) continue;
        for (const rules of [SHAPE_GEOMETRY, CLEAN_GEOMETRY]) {
          const ga = rules.shapes[a];
          const gb = rules.shapes[b];
          expect(
            apart(ga.fill, gb.fill) || apart(ga.cornerFill, gb.cornerFill) || apart(ga.taper, gb.taper),
            `${a} / ${b}`,
          ).toBe(true);
        }
      }
    }
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
