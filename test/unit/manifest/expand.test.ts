import { basename, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  deriveRowSeed,
  expandSpecBatches,
  type JobSpec,
  loadSpec,
  type ManifestSample,
} from "../../../src/manifest/index.js";
import {
  collect,
  copyFixture,
  removeTempDirs,
  rowErrorsOf,
  samplesOf,
  writeMixedParquet,
} from "./helpers.js";

async function loadMixed(outputOverride?: string): Promise<{ dir: string; spec: JobSpec }> {
  const dir = copyFixture("mixed");
  writeMixedParquet(join(dir, "prompts.parquet"));
  return { dir, spec: await loadSpec(join(dir, "job.yaml"), { outputOverride }) };
}

/** The fields that say which image a sample is, without positions. */
const brief = (s: ManifestSample) => [s.sampleId, s.prompt, s.seed];

afterAll(removeTempDirs);

describe("expandSpec on a spec mixing every source", () => {
  it("resolves paths against the spec's folder and reads the top-level settings", async () => {
    const { dir, spec } = await loadMixed();
    expect(spec.model).toBe(join(dir, "models", "tiny-shapes"));
    expect(spec.output).toEqual({ dir: join(dir, "out", "mixed"), format: "imagefolder" });
    expect(spec.seed).toBe(42);
    expect(spec.imagesPerPrompt).toBe(2);
    expect(spec.defaults).toEqual({
      steps: 20,
      guidanceScale: 4,
      scheduler: "euler",
      width: 64,
      height: 64,
      negativePrompt: "blurry",
    });
    expect(spec.prompts.map((p) => p.kind)).toEqual(["inline", "file", "file", "file", "template", "inline"]);
  });

  it("lets --out replace the output folder", async () => {
    const { spec } = await loadMixed("/data/elsewhere");
    expect(spec.output).toEqual({ dir: "/data/elsewhere", format: "imagefolder" });
  });

  it("yields samples in manifest order with ids, sources, seeds and settings", async () => {
    const { dir, spec } = await loadMixed();
    const events = await collect(spec);
    const samples = samplesOf(events);
    const where = (file: string, line: number) => `${join(dir, file)}:${line}`;
    expect(samples.map((s) => s.index)).toEqual(samples.map((_, i) => i));
    expect(samples.map(brief)).toEqual([
      // inline string, default id, derived seed, 2 images
      ["r000000000-0", "a red circle on a white background", deriveRowSeed(42, 0)],
      ["r000000000-1", "a red circle on a white background", deriveRowSeed(42, 0) + 1],
      // JSONL: explicit id; explicit seed with 3 images; full overrides (blank lines skipped)
      ["sq-1-0", "a green square", deriveRowSeed(42, 1)],
      ["sq-1-1", "a green square", deriveRowSeed(42, 1) + 1],
      ["r000000002-0", "a yellow triangle", 100],
      ["r000000002-1", "a yellow triangle", 101],
      ["r000000002-2", "a yellow triangle", 102],
      ["r000000003-0", "a purple circle", deriveRowSeed(42, 3)],
      ["r000000003-1", "a purple circle", deriveRowSeed(42, 3) + 1],
      // CSV: quoted comma, seed 5; embedded CRLF; a row of empty cells but the prompt
      ["r000000004-0", "a circle, quoted", 5],
      ["r000000004-1", "a circle, quoted", 6],
      ["r000000005-0", "two\r\nlines", deriveRowSeed(42, 5)],
      ["r000000005-1", "two\r\nlines", deriveRowSeed(42, 5) + 1],
      ["r000000006-0", "plain row", deriveRowSeed(42, 6)],
      ["r000000006-1", "plain row", deriveRowSeed(42, 6) + 1],
      // Parquet across two row groups; row 3 (null prompt) is a row error
      ["r000000007-0", "parquet one", 11],
      ["r000000007-1", "parquet one", 12],
      ["r000000008-0", "parquet two", deriveRowSeed(42, 8)],
      ["r000000008-1", "parquet two", deriveRowSeed(42, 8) + 1],
      // template, first variable slowest, images_per_prompt 1 from the template entry
      ["r000000010-0", "a red circle", deriveRowSeed(42, 10)],
      ["r000000011-0", "a red square", deriveRowSeed(42, 11)],
      ["r000000012-0", "a red triangle", deriveRowSeed(42, 12)],
      ["r000000013-0", "a blue circle", deriveRowSeed(42, 13)],
      ["r000000014-0", "a blue square", deriveRowSeed(42, 14)],
      ["r000000015-0", "a blue triangle", deriveRowSeed(42, 15)],
      // inline row with its own id, seed and steps
      ["inline-1-0", "an inline row", 7],
      ["inline-1-1", "an inline row", 8],
    ]);
    expect(samples.map((s) => s.source)).toEqual([
      ...Array(2).fill(where("job.yaml", 8)),
      ...Array(2).fill(where("prompts.jsonl", 1)),
      ...Array(3).fill(where("prompts.jsonl", 3)),
      ...Array(2).fill(where("prompts.jsonl", 5)),
      ...Array(2).fill(where("prompts.csv", 2)),
      ...Array(2).fill(where("prompts.csv", 3)),
      ...Array(2).fill(where("prompts.csv", 6)),
      ...Array(2).fill(where("prompts.parquet", 1)),
      ...Array(2).fill(where("prompts.parquet", 2)),
      ...Array(6).fill(where("job.yaml", 12)),
      ...Array(2).fill(where("job.yaml", 15)),
    ]);
    expect(rowErrorsOf(events)).toEqual([
      {
        rowIndex: 9,
        where: where("prompts.parquet", 3),
        field: "prompt",
        message: "prompt is missing: every row needs a prompt",
      },
    ]);

    const bySample = new Map(samples.map((s) => [s.sampleId, s]));
    // defaults fill in what a row does not give
    expect(bySample.get("sq-1-0")).toMatchObject({
      rowIndex: 1,
      rowId: "sq-1",
      negativePrompt: "blurry",
      steps: 20,
      guidanceScale: 4,
      scheduler: "euler",
      width: 64,
      height: 64,
    });
    // a row's own fields win (scheduler spellings are normalised; an empty negative prompt is kept)
    expect(bySample.get("r000000003-0")).toMatchObject({
      negativePrompt: "",
      steps: 30,
      guidanceScale: 7.5,
      scheduler: "dpmpp_2m_karras",
      width: 128,
      height: 96,
    });
    // CSV cells are converted; empty cells are "not given"
    expect(bySample.get("r000000005-0")).toMatchObject({ steps: 12, width: 32, height: 64 });
    expect(bySample.get("r000000004-0")).toMatchObject({ steps: 20, width: 64 });
    expect(bySample.get("r000000008-0")).toMatchObject({ guidanceScale: 1.5 });
    expect(bySample.get("inline-1-0")).toMatchObject({ steps: 8, rowIndex: 16 });
  });

  it("gives the same seeds on every run, each row's independent of the others' content", async () => {
    const { spec } = await loadMixed();
    const first = samplesOf(await collect(spec));
    const again = samplesOf(await collect(spec));
    expect(again).toEqual(first);
    // Giving row 0 a seed of its own changes no other row's derived seed.
    const changed: JobSpec = {
      ...spec,
      prompts: [
        { ...spec.prompts[0], kind: "inline", line: 8, values: { prompt: "other", seed: 1 } },
        ...spec.prompts.slice(1),
      ],
    };
    const other = samplesOf(await collect(changed));
    expect(other.slice(2).map(brief)).toEqual(first.slice(2).map(brief));
    expect(other.slice(0, 2).map((s) => s.seed)).toEqual([1, 2]);
  });

  it("batches hold the same events, in the same order", async () => {
    const { spec } = await loadMixed();
    const flat = await collect(spec);
    const batched = [];
    for await (const batch of expandSpecBatches(spec)) batched.push(...batch);
    expect(batched).toEqual(flat);
  });

  it("stops with a clear error past limits.max_samples_per_job", async () => {
    const { spec } = await loadMixed();
    const small: JobSpec = { ...spec, limits: { ...spec.limits, maxSamplesPerJob: 10 } };
    const seen: number[] = [];
    const run = async () => {
      for await (const e of expandSpecBatches(small))
        for (const x of e) if (x.type === "sample") seen.push(x.sample.index);
    };
    await expect(run()).rejects.toMatchObject({
      code: "SPEC_INVALID",
      message: expect.stringMatching(
        /prompts\.csv:2: the job makes more than 10 samples \(limits\.max_samples_per_job\)/,
      ),
    });
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(basename(small.specFile)).toBe("job.yaml");
  });
});
