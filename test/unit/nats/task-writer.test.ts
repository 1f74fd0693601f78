import { describe, expect, it } from "vitest";
import { decodeTask, encodeTaskGeneric, readTask } from "../../../src/common/nats/codec.js";
import { writeTask } from "../../../src/common/nats/task-writer.js";
import type { SampleSpec__Input } from "../../../src/common/proto/generated/latentfleet/v1/SampleSpec.js";
import type { Task__Input } from "../../../src/common/proto/generated/latentfleet/v1/Task.js";
import { seededRandom as rng } from "../../helpers/seeded-random.js";

const PIECES = ["a", "red circle", " ", "ünï", "✓", "猫", "🐈", "\n", '"', "x".repeat(130)];

function randomText(r: () => number, maxPieces: number): string {
  let s = "";
  const n = Math.floor(r() * maxPieces);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}

/** Unsigned integers around the varint byte boundaries, up to 2^53 - 1. */
function randomUint(r: () => number, max: number): number {
  const edges = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32 - 1, 2 ** 35, 2 ** 53 - 1];
  const fitting = edges.filter((e) => e <= max);
  return r() < 0.5 ? fitting[Math.floor(r() * fitting.length)] : Math.floor(r() * max);
}

function randomSample(r: () => number): SampleSpec__Input {
  const s: SampleSpec__Input = {
    sample_id: randomText(r, 3),
    index: randomUint(r, 2 ** 53 - 1),
    row_id: randomText(r, 2),
    prompt: randomText(r, r() < 0.1 ? 200 : 8),
    negative_prompt: randomText(r, 3),
    seed: randomUint(r, 2 ** 53 - 1),
    steps: randomUint(r, 2 ** 32 - 1),
    guidance_scale: r() < 0.5 ? Math.floor(r() * 200) / 8 : String(Math.floor(r() * 200) / 8),
    scheduler: r() < 0.5 ? "" : "euler",
    width: randomUint(r, 2 ** 32 - 1),
    height: randomUint(r, 2 ** 32 - 1),
    source: randomText(r, 2),
  };
  // Unset fields are left out by both encoders.
  for (const k of Object.keys(s) as (keyof SampleSpec__Input)[]) if (r() < 0.1) delete s[k];
  return s;
}

function randomTask(r: () => number): Task__Input {
  return {
    job_id: randomText(r, 3),
    shard: randomUint(r, 2 ** 53 - 1),
    model: randomText(r, 2),
    output_dir: randomText(r, 4),
    output_format: r() < 0.5 ? "imagefolder" : "webdataset",
    samples: Array.from({ length: Math.floor(r() * 40) }, () => randomSample(r)),
  };
}

const plainTask: Task__Input = {
  job_id: "job-1",
  shard: 7,
  model: "tiny-shapes",
  output_dir: "/data/out",
  output_format: "imagefolder",
  samples: [
    {
      sample_id: "row-3-0",
      index: 12,
      row_id: "row-3",
      prompt: "a red circle on a white background",
      negative_prompt: "",
      seed: 2 ** 53 - 1,
      steps: 20,
      guidance_scale: "4.5",
      scheduler: "",
      width: 0,
      height: 64,
      source: "prompts.jsonl:4",
    },
  ],
};

describe("task writer", () => {
  it("writes the generated encoder's bytes for 300 varied tasks", () => {
    const r = rng(20_261_205);
    for (let i = 0; i < 300; i++) {
      const task = randomTask(r);
      const written = writeTask(task);
      expect(written, `task ${i}`).toBeDefined();
      expect(
        Buffer.from(written as Uint8Array).equals(Buffer.from(encodeTaskGeneric(task))),
        `task ${i}`,
      ).toBe(true);
    }
  });

  it("writes tasks that read back as the contract values", () => {
    const back = readTask(writeTask(plainTask) as Uint8Array);
    expect(back.shard).toBe(7);
    expect(back.samples[0]).toMatchObject({
      index: 12,
      seed: 2 ** 53 - 1,
      guidance_scale: 4.5,
      width: 0,
      height: 64,
      negative_prompt: "",
    });
    expect(decodeTask(writeTask({ ...plainTask, samples: [] }) as Uint8Array).samples).toEqual([]);
  });

  it("leaves values outside the plain contract to the generated encoder", () => {
    const sample = plainTask.samples?.[0] as SampleSpec__Input;
    const outside: Task__Input[] = [
      { ...plainTask, shard: "7" },
      { ...plainTask, shard: -1 },
      { ...plainTask, shard: 1.5 },
      { ...plainTask, shard: 2 ** 53 },
      { ...plainTask, samples: [{ ...sample, seed: "9007199254740993" }] },
      { ...plainTask, samples: [{ ...sample, steps: 2 ** 32 }] },
      { ...plainTask, samples: [{ ...sample, width: -1 }] },
      { ...plainTask, samples: [{ ...sample, prompt: "lone \ud800 surrogate" }] },
      { ...plainTask, samples: [{ ...sample, prompt: `${"long ".repeat(20)}\udc00` }] },
      { ...plainTask, job_id: "\udbff" },
    ];
    for (const [i, task] of outside.entries()) expect(writeTask(task), `case ${i}`).toBeUndefined();
  });
});
