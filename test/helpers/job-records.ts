/** Coordinator job records for tests that write the job store directly. */
import type { CoordinatorJobRecord } from "../../src/coordinator/job-store.js";

/** A running tiny-shapes job, imagefolder output, shards of 8, results read from sequence 1. */
export function runningJobRecord(jobId: string): CoordinatorJobRecord {
  return {
    job_id: jobId,
    state: "RUNNING",
    model: "tiny-shapes",
    output: "/out",
    created_at_ms: 1,
    output_format: "imagefolder",
    shard_size: 8,
    results_from_seq: 1,
  };
}
