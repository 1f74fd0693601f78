/** A job as clients see it: the KV record merged with the live counts of the coordinator running it. */
import type { JobStateName } from "../common/contract/job.js";
import type { Job__Input } from "../common/proto/generated/latentfleet/v1/Job.js";
import type { JobState__Input } from "../common/proto/generated/latentfleet/v1/JobState.js";
import type { CoordinatorJobRecord } from "./job-store.js";

export interface JobSnapshot {
  jobId: string;
  state: JobStateName;
  model: string;
  output: string;
  /** Known once every shard is published. */
  samplesTotal: number | null;
  samplesDone: number;
  samplesFailed: number;
  shardsTotal: number | null;
  shardsPublished: number;
  shardsDone: number;
  /** Shards (and samples) kept from an earlier run into the same output. */
  shardsReused: number;
  samplesReused: number;
  rowsRejected: number;
  imagesPerSecond: number;
  /** Seconds; -1 while unknown. */
  etaSeconds: number;
  createdAtMs: number;
  finishedAtMs: number | null;
  error: string;
  /** The failure tolerance, as written ("0" when none was given). */
  maxFailed: string;
}

/** A job known only from its record (finished, or not run by this coordinator). */
export function snapshotFromRecord(r: CoordinatorJobRecord): JobSnapshot {
  return {
    jobId: r.job_id,
    state: r.state,
    model: r.model,
    output: r.output,
    samplesTotal: r.samples_total ?? null,
    samplesDone: r.samples_done ?? 0,
    samplesFailed: r.samples_failed ?? 0,
    shardsTotal: r.shards_total ?? null,
    shardsPublished: r.shards_total ?? 0,
    shardsDone: r.shards_done ?? 0,
    shardsReused: r.shards_reused ?? 0,
    samplesReused: r.samples_reused ?? 0,
    rowsRejected: r.rows_rejected ?? 0,
    imagesPerSecond: 0,
    etaSeconds: r.finished_at_ms === undefined ? -1 : 0,
    createdAtMs: r.created_at_ms,
    finishedAtMs: r.finished_at_ms ?? null,
    error: r.error ?? "",
    maxFailed: r.max_failed ?? "0",
  };
}

export function toProtoJob(s: JobSnapshot): Job__Input {
  return {
    job_id: s.jobId,
    state: `JOB_STATE_${s.state}` as JobState__Input,
    model: s.model,
    output: s.output,
    samples_total: s.samplesTotal ?? 0,
    samples_done: s.samplesDone,
    samples_failed: s.samplesFailed,
    shards_total: s.shardsTotal ?? 0,
    shards_published: s.shardsPublished,
    shards_done: s.shardsDone,
    rows_rejected: s.rowsRejected,
    images_per_second: s.imagesPerSecond,
    eta_seconds: s.etaSeconds,
    created_at_ms: s.createdAtMs,
    finished_at_ms: s.finishedAtMs ?? 0,
    error: s.error,
    shards_reused: s.shardsReused,
    samples_reused: s.samplesReused,
    max_failed: s.maxFailed,
  };
}

/** Two snapshots differ in what a watcher should be told. */
export function snapshotsDiffer(a: JobSnapshot, b: JobSnapshot): boolean {
  return (
    a.state !== b.state ||
    a.samplesTotal !== b.samplesTotal ||
    a.samplesDone !== b.samplesDone ||
    a.samplesFailed !== b.samplesFailed ||
    a.shardsPublished !== b.shardsPublished ||
    a.shardsDone !== b.shardsDone ||
    a.shardsReused !== b.shardsReused ||
    a.rowsRejected !== b.rowsRejected ||
    a.error !== b.error
  );
}
