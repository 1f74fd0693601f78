import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { asyncBufferFromFile, parquetMetadataAsync } from "hyparquet";
import { parquetWriteFile } from "hyparquet-writer";
import { afterAll, describe, expect, it } from "vitest";
import { loadPromptsFileAsSpec } from "../../../src/manifest/index.js";
import { SLICE_ROWS } from "../../../src/manifest/readers/parquet.js";
import { collect, removeTempDirs, samplesOf, tempDir } from "./helpers.js";

afterAll(removeTempDirs);

describe("Parquet prompts files", () => {
  it("read a big row group in slices when it has page indexes, rows numbered across slices", async () => {
    const n = SLICE_ROWS * 2 + 10;
    const path = join(tempDir("parquet"), "big.parquet");
    parquetWriteFile({
      filename: path,
      columnData: [
        { name: "prompt", data: Array.from({ length: n }, (_, i) => `p${i}`), type: "STRING" },
        { name: "steps", data: Int32Array.from({ length: n }, (_, i) => 1 + (i % 50)), type: "INT32" },
      ],
      rowGroupSize: n,
      pageSize: 64 * 1024,
    });
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
    expect(metadata.row_groups.length).toBe(1);
    expect(metadata.row_groups[0].columns.every((c) => c.offset_index_offset !== undefined)).toBe(true);
    const samples = samplesOf(await collect(await loadPromptsFileAsSpec(path)));
    expect(samples.length).toBe(n);
    for (const i of [0, SLICE_ROWS - 1, SLICE_ROWS, 2 * SLICE_ROWS + 9]) {
      expect(samples[i]).toMatchObject({ prompt: `p${i}`, steps: 1 + (i % 50), source: `${path}:${i + 1}` });
    }
  });

  it("read codecs beyond snappy (gzip here, through hyparquet-compressors)", async () => {
    const path = join(tempDir("parquet"), "gzip.parquet");
    parquetWriteFile({
      filename: path,
      columnData: [{ name: "prompt", data: ["a gzipped prompt"], type: "STRING" }],
      codec: "GZIP",
      compressors: { GZIP: (input: Uint8Array) => new Uint8Array(gzipSync(input)) },
    });
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
    expect(metadata.row_groups[0].columns[0].meta_data?.codec).toBe("GZIP");
    const samples = samplesOf(await collect(await loadPromptsFileAsSpec(path)));
    expect(samples.map((s) => s.prompt)).toEqual(["a gzipped prompt"]);
  });
});
