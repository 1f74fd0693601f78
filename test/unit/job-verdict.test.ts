import { describe, expect, it } from "vitest";
import { jobVerdict } from "../../src/coordinator/job-verdict.js";

const clean = {
  samplesTotal: 10,
  samplesFailed: 0,
  rowsRejected: 0,
  missing: [],
  errorsAt: "/out/errors.jsonl",
};

describe("jobVerdict", () => {
  it("is SUCCEEDED when nothing went wrong", () => {
    expect(jobVerdict(clean)).toEqual({ state: "SUCCEEDED" });
  });

  it("is FAILED with every problem in one message, pointing at errors.jsonl for samples and rows", () => {
    expect(jobVerdict({ ...clean, samplesFailed: 2, rowsRejected: 1 })).toEqual({
      state: "FAILED",
      error: "2 of 10 samples failed; 1 manifest row was rejected; see /out/errors.jsonl",
    });
    expect(jobVerdict({ ...clean, rowsRejected: 3 }).error).toBe(
      "3 manifest rows were rejected; see /out/errors.jsonl",
    );
    const missing = Array.from({ length: 12 }, (_, i) => i);
    expect(jobVerdict({ ...clean, publishError: "the manifest cannot be read", missing })).toEqual({
      state: "FAILED",
      error:
        "the manifest cannot be read; the shard metadata of shard(s) 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 is missing",
    });
  });
});
