/**
 * The task contract between the coordinator and the workers, as plain values: a task (one shard of a job,
 * K samples for one model) and the result a worker reports for it. Field names are those of the wire
 * (proto/latentfleet/v1/task.proto) and of the shard files; the 64-bit integers (shard, index, seed) are
 * numbers and the guidance scale is the decimal the user wrote, converted once where the messages are
 * encoded and decoded (src/common/nats/codec.ts).
 */
import type { SampleSettings } from "./job.js";

/** One image to generate: everything needed to reproduce it. "" scheduler and 0 size: the model's own. */
export interface TaskSample extends SampleSettings {
  /** Stable id of the sample inside its job ("<row id>-<k>"), used for file names. */
  sample_id: string;
  /** Position of the sample in manifest order (0-based). */
  index: number;
  row_id: string;
  /** Where the row came from, as "file:line". */
  source: string;
}

/** A shard of a job: its samples, for one model, written to one output. */
export interface Task {
  job_id: string;
  /** A safe integer when the sender kept the contract; a worker checks it before running the task. */
  shard: number;
  /** The model's name as workers know it (its folder name). */
  model: string;
  output_dir: string;
  /** "imagefolder" (or "") or "webdataset". */
  output_format: string;
  samples: TaskSample[];
}

export interface SampleResult {
  sample_id: string;
  index: number;
  ok: boolean;
  /** Path relative to the job's output folder; "" for a failed sample. */
  file_name: string;
  /** Why the sample failed, when ok is false. */
  error: string;
  error_code: string;
}

/** What a worker (or the coordinator, for a dead-lettered or reused shard) reports for a task. */
export interface TaskResult {
  job_id: string;
  shard: number;
  worker_id: string;
  samples: SampleResult[];
  /** The delivery of the task that this result comes from (1 on the first try; 0 for a reused shard). */
  delivery: number;
  seconds: number;
  /** The task was dead-lettered or skipped: its samples carry the reason. */
  dead_lettered: boolean;
  /** An earlier run of the same spec into the same output completed the shard; no worker ran it. */
  reused: boolean;
}
