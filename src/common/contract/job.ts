/**
 * What the coordinator and the workers agree on besides the protobuf payloads: the output layout of a
 * job, the metadata row, and the job record kept in the LF_JOBS bucket.
 *
 * Output of a job (the user contract):
 *   <out>/metadata.jsonl           one MetadataRow per image, in manifest order (written by the coordinator)
 *   <out>/images/<shard>/<id>.png  the images (written by workers, tmp + rename)
 *   <out>/errors.jsonl             only when rows or samples failed
 *   <out>/.shards/<shard>.jsonl    per-shard metadata, written atomically by the worker before it reports
 *                                  the shard; the coordinator concatenates them in shard order
 *   <out>/_stats.json              the job's counts and timings, written when it ends
 * That is the imagefolder format; the webdataset format (tar + Parquet per shard) is in webdataset.ts.
 * `<out>` is a folder or an `s3://bucket/prefix` (src/common/storage).
 */

export const METADATA_FILE = "metadata.jsonl";
export const ERRORS_FILE = "errors.jsonl";
export const SHARDS_DIR = ".shards";

/** Shard numbers are zero-padded so that file listings sort in manifest order. */
export function shardLabel(shard: number): string {
  return String(shard).padStart(6, "0");
}

/** Image path relative to the job's output folder, as metadata.jsonl's file_name gives it. */
export function imageFileName(shard: number, sampleId: string): string {
  return `images/${shardLabel(shard)}/${sampleId}.png`;
}

/** Per-shard metadata file, relative to the job's output folder. */
export function shardMetadataFile(shard: number): string {
  return `${SHARDS_DIR}/${shardLabel(shard)}.jsonl`;
}

/** One line of metadata.jsonl: everything needed to reproduce the image. */
export interface MetadataRow {
  file_name: string;
  id: string;
  prompt: string;
  negative_prompt: string;
  seed: number;
  steps: number;
  guidance_scale: number;
  scheduler: string;
  width: number;
  height: number;
  model: string;
}

/** One line of errors.jsonl. */
export interface ErrorRow {
  /** "file:line" of the manifest row. */
  where: string;
  /** Sample id, when a sample (not a whole row) failed. */
  id?: string;
  field?: string | null;
  code?: string;
  error: string;
}

export type JobStateName = "PENDING" | "PUBLISHING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";

export const FINAL_JOB_STATES: readonly JobStateName[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/** The job record in the LF_JOBS bucket (key jobStateKey(jobId)); workers read `state` to skip cancelled jobs. */
export interface JobRecord {
  job_id: string;
  state: JobStateName;
  model: string;
  output: string;
  created_at_ms: number;
  finished_at_ms?: number;
  /** Known once publishing is done. */
  samples_total?: number;
  shards_total?: number;
  error?: string;
}
