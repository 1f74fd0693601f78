import { describe, expect, it } from "vitest";
import { formatJobLine, toleranceSource } from "../../../src/cli/commands/jobs-client.js";
import type { Job } from "../../../src/common/proto/generated/latentfleet/v1/Job.js";

/** A job that SUCCEEDED with one failed sample and one rejected row, within a tolerance of 2. */
const job: Job = {
  job_id: "j1",
  state: "JOB_STATE_SUCCEEDED",
  model: "tiny-shapes",
  output: "/out",
  samples_total: "10",
  samples_done: "9",
  samples_failed: "1",
  shards_total: "1",
  shards_published: "1",
  shards_done: "1",
  rows_rejected: "1",
  images_per_second: 0,
  eta_seconds: -1,
  created_at_ms: "0",
  finished_at_ms: "1",
  error: "",
  shards_reused: "0",
  samples_reused: "0",
  max_failed: "2",
};

describe("the job line's failure tolerance", () => {
  it("names the flag when the command sent --max-failed", () => {
    expect(formatJobLine(job, toleranceSource("2"))).toBe(
      "j1 SUCCEEDED, 9/10 done, 1 failed, 1 rows rejected, 2 failures within --max-failed 2",
    );
  });

  it("names the spec's key when the command sent none", () => {
    expect(formatJobLine(job, toleranceSource(undefined))).toBe(
      "j1 SUCCEEDED, 9/10 done, 1 failed, 1 rows rejected, 2 failures within the spec's max_failed 2",
    );
  });

  it("names neither for a job watched by id, whose source is not known", () => {
    const line = formatJobLine(job);
    expect(line).toMatch(/, 2 failures within max_failed 2$/);
    expect(line).not.toMatch(/--max-failed|spec's/);
  });

  it("says nothing of the tolerance when nothing failed", () => {
    const clean = { ...job, samples_done: "10", samples_failed: "0", rows_rejected: "0" };
    expect(formatJobLine(clean, "--max-failed")).toBe("j1 SUCCEEDED, 10/10 done, 0 failed");
  });
});
