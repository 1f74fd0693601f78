import { describe, expect, it } from "vitest";
import { LatentFleetError } from "../../../src/common/errors.js";
import {
  decodeTask,
  decodeTaskResult,
  encodeTask,
  encodeTaskResult,
} from "../../../src/common/nats/codec.js";
import type { Task__Input } from "../../../src/common/proto/generated/latentfleet/v1/Task.js";

const task: Task__Input = {
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
      seed: "9007199254740991", // 2^53 - 1: the largest seed, exact only as a string
      steps: 20,
      guidance_scale: 4.5,
      scheduler: "euler",
      width: 64,
      height: 64,
      source: "prompts.jsonl:4",
    },
    { sample_id: "row-3-1", index: 13, row_id: "row-3", prompt: "ünïcödé ✓", seed: 1 },
  ],
};

describe("task codec", () => {
  it("round-trips a Task with 64-bit fields as strings and defaults filled", () => {
    const decoded = decodeTask(encodeTask(task));
    expect(decoded).toEqual({
      job_id: "job-1",
      shard: "7",
      model: "tiny-shapes",
      output_dir: "/data/out",
      output_format: "imagefolder",
      samples: [
        {
          sample_id: "row-3-0",
          index: "12",
          row_id: "row-3",
          prompt: "a red circle on a white background",
          negative_prompt: "",
          seed: "9007199254740991",
          steps: 20,
          guidance_scale: 4.5,
          scheduler: "euler",
          width: 64,
          height: 64,
          source: "prompts.jsonl:4",
        },
        {
          sample_id: "row-3-1",
          index: "13",
          row_id: "row-3",
          prompt: "ünïcödé ✓",
          negative_prompt: "",
          seed: "1",
          steps: 0,
          guidance_scale: 0,
          scheduler: "",
          width: 0,
          height: 0,
          source: "",
        },
      ],
    });
  });

  it("round-trips a TaskResult, empty sample list included", () => {
    const bytes = encodeTaskResult({
      job_id: "job-1",
      shard: "7",
      worker_id: "w-0",
      delivery: 2,
      seconds: 1.25,
      samples: [
        { sample_id: "row-3-0", index: 12, ok: true, file_name: "images/row-3-0.png" },
        { sample_id: "row-3-1", index: 13, ok: false, error: "out of memory", error_code: "OUT_OF_MEMORY" },
      ],
    });
    expect(decodeTaskResult(bytes)).toEqual({
      job_id: "job-1",
      shard: "7",
      worker_id: "w-0",
      delivery: 2,
      seconds: 1.25,
      dead_lettered: false,
      reused: false,
      samples: [
        {
          sample_id: "row-3-0",
          index: "12",
          ok: true,
          file_name: "images/row-3-0.png",
          error: "",
          error_code: "",
        },
        {
          sample_id: "row-3-1",
          index: "13",
          ok: false,
          file_name: "",
          error: "out of memory",
          error_code: "OUT_OF_MEMORY",
        },
      ],
    });
    const dead = decodeTaskResult(encodeTaskResult({ job_id: "j", shard: 0, dead_lettered: true }));
    expect(dead.samples).toEqual([]);
    expect(dead.dead_lettered).toBe(true);
    expect(decodeTaskResult(encodeTaskResult({ job_id: "j", shard: 1, reused: true })).reused).toBe(true);
  });

  it("rejects garbage with a PAYLOAD_INVALID error", () => {
    const garbage = [
      new TextEncoder().encode('{"job_id":"job-1"}'),
      new TextEncoder().encode("not a protobuf message at all"),
      Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
      encodeTask(task).subarray(0, 20), // truncated
      new Uint8Array(0),
    ];
    for (const bytes of garbage) {
      const err = catchError(() => decodeTask(bytes));
      expect(err).toBeInstanceOf(LatentFleetError);
      expect((err as LatentFleetError).code).toBe("PAYLOAD_INVALID");
      expect((err as LatentFleetError).message).toMatch(/not a latentfleet\.v1\.Task message \(\d+ bytes\)/);
      expect(catchError(() => decodeTaskResult(bytes))).toBeInstanceOf(LatentFleetError);
    }
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}
