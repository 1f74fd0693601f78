import { describe, expect, it } from "vitest";
import {
  allowedFailures,
  formatFailureTolerance,
  parseFailureTolerance,
} from "../../src/common/contract/failure-tolerance.js";
import { failureBudget, jobVerdict } from "../../src/coordinator/job-verdict.js";

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

describe("jobVerdict with a failure tolerance (--max-failed)", () => {
  const tally = { ...clean, samplesTotal: 38, samplesFailed: 1, rowsRejected: 2 };

  it("counts failed samples and rejected rows together against a count", () => {
    expect(failureBudget({ ...tally, maxFailed: { count: 3 } })).toEqual({
      max_failed: "3",
      allowed: 3,
      failures: 3,
    });
    expect(jobVerdict({ ...tally, maxFailed: { count: 3 } })).toEqual({ state: "SUCCEEDED" });
    expect(jobVerdict({ ...tally, maxFailed: { count: 2 } })).toEqual({
      state: "FAILED",
      error:
        "1 of 38 samples failed; 2 manifest rows were rejected; 3 failures are over --max-failed 2 (2 allowed); " +
        "see /out/errors.jsonl",
    });
  });

  it("takes a percentage of the samples plus the rejected rows, rounded down", () => {
    // 40 asked for: 7.5% allows 3, 7.4% allows 2.
    expect(failureBudget({ ...tally, maxFailed: { percent: 7.5 } }).allowed).toBe(3);
    expect(jobVerdict({ ...tally, maxFailed: { percent: 7.5 } }).state).toBe("SUCCEEDED");
    expect(failureBudget({ ...tally, maxFailed: { percent: 7.4 } }).allowed).toBe(2);
    expect(jobVerdict({ ...tally, maxFailed: { percent: 7.4 } }).state).toBe("FAILED");
    expect(failureBudget({ ...tally, maxFailed: { percent: 100 } }).allowed).toBe(40);
  });

  it("defaults to none allowed: one failure fails the job", () => {
    expect(failureBudget({ ...clean, samplesFailed: 1 })).toEqual({
      max_failed: "0",
      allowed: 0,
      failures: 1,
    });
    expect(jobVerdict({ ...clean, rowsRejected: 1 }).state).toBe("FAILED");
  });

  it("never forgives a publishing error or missing shard files", () => {
    const lenient = { ...clean, maxFailed: { percent: 100 } };
    expect(jobVerdict({ ...lenient, publishError: "the manifest cannot be read" })).toEqual({
      state: "FAILED",
      error: "the manifest cannot be read",
    });
    expect(jobVerdict({ ...lenient, samplesFailed: 1, missing: [4] })).toEqual({
      state: "FAILED",
      error: "the shard metadata of shard(s) 4 is missing; see /out/errors.jsonl",
    });
  });
});

describe("parseFailureTolerance", () => {
  it("reads a count or a percentage and writes it back as given", () => {
    expect(parseFailureTolerance("0")).toEqual({ count: 0 });
    expect(parseFailureTolerance(" 12 ")).toEqual({ count: 12 });
    expect(parseFailureTolerance("2.5%")).toEqual({ percent: 2.5 });
    expect(formatFailureTolerance(parseFailureTolerance("2.5%"))).toBe("2.5%");
    expect(formatFailureTolerance(parseFailureTolerance("12"))).toBe("12");
  });

  it("refuses anything else as a bad argument", () => {
    for (const bad of ["", "-1", "1.5", "101%", "%", "5 %", "ten", "1e3", "99999999999999999999"]) {
      expect(() => parseFailureTolerance(bad), bad).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/--max-failed/) }),
      );
    }
  });

  it("rounds a percentage of the asked-for count down, without float dust", () => {
    expect(allowedFailures({ percent: 10 }, 30)).toBe(3);
    expect(allowedFailures({ percent: 0.1 }, 999)).toBe(0);
    expect(allowedFailures({ percent: 0.1 }, 1000)).toBe(1);
    expect(allowedFailures({ count: 5 }, 2)).toBe(5);
  });
});
