import { once } from "node:events";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import { expandSpec, loadPromptsFileAsSpec } from "../../../src/manifest/index.js";

// A real gc() makes heap figures mean "what is still held", not "what was not collected yet".
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const ROWS = 200_000;
const dir = mkdtempSync(join(tmpdir(), "lf-manifest-stream-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("streaming", () => {
  it(`expands a ${ROWS}-row JSONL file without holding its rows`, async () => {
    const path = join(dir, "big.jsonl");
    const out = createWriteStream(path);
    const filler = "with a long description so that holding every row would show in the heap ".repeat(3);
    let chunk = "";
    for (let i = 0; i < ROWS; i++) {
      chunk += `${JSON.stringify({ prompt: `prompt ${i} ${filler}`, id: `item-${i}` })}\n`;
      if (chunk.length > 1 << 20 || i === ROWS - 1) {
        if (!out.write(chunk)) await once(out, "drain");
        chunk = "";
      }
    }
    out.end();
    await once(out, "finish");

    const spec = await loadPromptsFileAsSpec(path);
    gc();
    const before = process.memoryUsage().heapUsed;
    let peak = 0;
    let count = 0;
    let lastSeed = -1;
    for await (const event of expandSpec(spec)) {
      if (event.type !== "sample") throw new Error(`unexpected ${JSON.stringify(event)}`);
      expect(event.sample.index).toBe(count);
      lastSeed = event.sample.seed;
      if (++count % 20_000 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - before);
      }
    }
    expect(count).toBe(ROWS);
    expect(lastSeed).toBeGreaterThanOrEqual(0);
    // The rows are ~60 MB as JS strings; what stays held is the id table (2 MiB here) and a batch or two.
    expect(peak).toBeLessThan(24 * 1024 * 1024);
  });
});
