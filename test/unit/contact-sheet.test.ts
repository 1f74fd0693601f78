import { describe, expect, it } from "vitest";
import { decodePng, encodePng } from "../../src/engine/png.js";
import { glyphRows, wrapText } from "../../src/eval/bitmap-font.js";
import { composeContactSheet } from "../../src/eval/contact-sheet.js";
import { MAX_CELL, sampleSheet, shrinkToFit } from "../../src/eval/sample-sheet.js";

describe("contact sheets", () => {
  it("wraps captions at word boundaries", () => {
    expect(wrapText("a purple triangle on a black background", 21)).toEqual([
      "a purple triangle on",
      "a black background",
    ]);
    expect(wrapText("averyveryverylongword x", 5)).toEqual(["averyveryverylongword", "x"]);
  });

  it("has a 5x7 glyph for every character a caption uses", () => {
    for (const ch of "abcdefghijklmnopqrstuvwxyz0123456789,.-: ") {
      const rows = glyphRows(ch);
      expect(rows).toHaveLength(7);
      for (const r of rows) expect(r).toMatch(/^[.#]{5}$/);
    }
    expect(glyphRows("a")).not.toEqual(glyphRows("b"));
  });

  it("lays tiles out in a grid with their labels inked underneath", () => {
    const tile = (v: number) => ({
      rgb: new Uint8Array(8 * 8 * 3).fill(v),
      width: 8,
      height: 8,
      label: "red circle",
    });
    const sheet = composeContactSheet([tile(0), tile(100), tile(200)], {
      columns: 2,
      scale: 4,
      padding: 2,
      labelLines: 1,
    });
    const tileSize = 32;
    const labelH = 7 + 2 + 2;
    expect(sheet.width).toBe(2 + 2 * (tileSize + 2));
    expect(sheet.height).toBe(2 + 2 * (tileSize + labelH + 2));
    const at = (x: number, y: number) => sheet.rgb[(y * sheet.width + x) * 3];
    expect(at(2, 2)).toBe(0);
    expect(at(2 + tileSize + 2, 2)).toBe(100);
    expect(at(2, 2 + tileSize + labelH + 2)).toBe(200);
    // Some dark ink below the first tile (its label), on a white background.
    let ink = 0;
    for (let y = 2 + tileSize; y < 2 + tileSize + labelH; y++)
      for (let x = 2; x < 2 + tileSize; x++) ink += at(x, y) < 50 ? 1 : 0;
    expect(ink).toBeGreaterThan(10);
    expect(sheet.cells).toEqual([
      { x: 2, y: 2, width: tileSize, height: tileSize },
      { x: 2 + tileSize + 2, y: 2, width: tileSize, height: tileSize },
      { x: 2, y: 2 + tileSize + labelH + 2, width: tileSize, height: tileSize },
    ]);
  });

  it("shrinks large samples by averaging blocks, so a sheet of full-size images stays small", () => {
    // 600x300, left half black, right half white: shrunk by 3 to 200x100, the halves kept.
    const width = 600;
    const height = 300;
    const rgb = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) rgb.fill(255, (y * width + width / 2) * 3, (y + 1) * width * 3);
    const small = shrinkToFit({ rgb, width, height }, MAX_CELL);
    expect([small.width, small.height]).toEqual([200, 100]);
    expect([small.rgb[0], small.rgb[(50 * 200 + 99) * 3], small.rgb[(50 * 200 + 100) * 3]]).toEqual([
      0, 0, 255,
    ]);

    const png = encodePng(rgb, width, height);
    const sheet = sampleSheet([
      { png, caption: "a" },
      { png, caption: "b" },
    ]);
    expect(sheet.columns).toBe(2);
    expect(sheet.cells.map((c) => [c.width, c.height])).toEqual([
      [200, 100],
      [200, 100],
    ]);
    const decoded = decodePng(sheet.png);
    expect([decoded.width, decoded.height]).toEqual([sheet.width, sheet.height]);
    // Small samples are doubled instead.
    const tiny = encodePng(new Uint8Array(64 * 64 * 3).fill(90), 64, 64);
    expect(sampleSheet([{ png: tiny, caption: "c" }]).cells[0]).toMatchObject({ width: 128, height: 128 });
  });
});
