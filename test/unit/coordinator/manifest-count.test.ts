import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { countManifest } from "../../../src/coordinator/manifest-count.js";
import { rowBaseBytes, type Shard, ShardCounter, Sharder } from "../../../src/coordinator/sharder.js";
import {
  type ExpandedRow,
  expandSpecBatches,
  expandSpecRows,
  fsSourceAccess,
  type JobSpec,
  loadSpec,
  type ManifestSample,
} from "../../../src/manifest/index.js";
import { copyFixture, removeTempDirs, tempDir, writeMixedParquet } from "../manifest/helpers.js";

afterAll(removeTempDirs);

/** Every source kind, rejected rows among them (the manifests fixture "mixed"). */
async function mixedSpec(): Promise<JobSpec> {
  const dir = copyFixture("mixed");
  writeMixedParquet(join(dir, "prompts.parquet"));
  return loadSpec(join(dir, "job.yaml"));
}

/** Rows of 13 images (sampleIds of one and two digits), prompts of 0 to ~900 bytes, multi-byte among them. */
async function wideSpec(): Promise<JobSpec> {
  const dir = tempDir("count-wide");
  const words = Array.from({ length: 40 }, (_, i) => JSON.stringify("ü✓x".repeat((i * 37) % 300)));
  const path = join(dir, "job.yaml");
  writeFileSync(
    path,
    [
      'model: "m"',
      `output: ${JSON.stringify(join(dir, "out"))}`,
      "seed: 3",
      "images_per_prompt: 13",
      "prompts:",
      '  - { prompt: "an inline row", id: "row-a1", images_per_prompt: 101 }',
      '  - template: "a {w}"',
      `    vars: { w: [${words.join(", ")}] }`,
      "",
    ].join("\n"),
  );
  return loadSpec(path);
}

/** Shards and samples as the publisher cuts them, from the expanded samples. */
async function cutBySharder(spec: JobSpec, size: number, budget?: number) {
  const sharder = new Sharder(size, budget);
  let shards = 0;
  let samples = 0;
  for await (const batch of expandSpecBatches(spec)) {
    for (const ev of batch) {
      if (ev.type !== "sample") continue;
      samples++;
      shards += sharder.add(ev.sample).length;
    }
  }
  if (sharder.flush()) shards++;
  return { samples, shards };
}

describe("countManifest", () => {
  it("counts the samples and shards the publisher cuts, from the rows alone", async () => {
    for (const spec of [await mixedSpec(), await wideSpec()]) {
      for (const size of [1, 3, 32, 1000]) {
        const counted = await countManifest(spec, fsSourceAccess, size, () => false);
        expect(counted, `${spec.specFile}, shards of ${size}`).toEqual(await cutBySharder(spec, size));
      }
    }
  });

  it("cuts by bytes as the sharder does (ShardCounter.addRow), to the byte", async () => {
    const spec = await wideSpec();
    const rows: ExpandedRow[] = [];
    for await (const batch of expandSpecRows(spec))
      for (const ev of batch) if (ev.type === "row") rows.push(ev);
    const samples: ManifestSample[] = [];
    for await (const batch of expandSpecBatches(spec)) {
      for (const ev of batch) if (ev.type === "sample") samples.push(ev.sample);
    }
    // Every budget from a few samples of the shortest rows up: a size off by one byte moves some cut.
    for (const size of [4, 1000]) {
      for (let budget = 400; budget <= 1400; budget++) {
        const sharder = new Sharder(size, budget);
        let shards = 0;
        for (const s of samples) shards += sharder.add(s).length;
        if (sharder.flush()) shards++;
        const counter = new ShardCounter(size, budget);
        for (const r of rows) counter.addRow(r);
        expect(counter.shards, `size ${size}, budget ${budget}`).toBe(shards);
      }
    }
  });
});

describe("Sharder.addRowSample", () => {
  it("makes, from the rows, the shards that add makes from the expanded samples", async () => {
    for (const spec of [await mixedSpec(), await wideSpec()]) {
      const rows: ExpandedRow[] = [];
      for await (const batch of expandSpecRows(spec))
        for (const ev of batch) if (ev.type === "row") rows.push(ev);
      const samples: ManifestSample[] = [];
      for await (const batch of expandSpecBatches(spec)) {
        for (const ev of batch) if (ev.type === "sample") samples.push(ev.sample);
      }
      for (const [size, budget] of [
        [3, undefined],
        [32, 900],
      ] as const) {
        const bySample = new Sharder(size, budget);
        const expected: Shard[] = samples.flatMap((s) => [...bySample.add(s)]);
        const last = bySample.flush();
        if (last) expected.push(last);
        const byRow = new Sharder(size, budget);
        const got: Shard[] = [];
        for (const r of rows) {
          const base = rowBaseBytes(r);
          for (let k = 0; k < r.row.imagesPerPrompt; k++) got.push(...byRow.addRowSample(r, k, base));
        }
        const rest = byRow.flush();
        if (rest) got.push(rest);
        expect(expected.length).toBeGreaterThan(2);
        expect(got, `${spec.specFile}, shards of ${size}`).toEqual(expected);
      }
    }
  });
});
