/**
 * An output format: how a job's samples land in its output (a folder or an S3 prefix, through an
 * ObjectStorage) and how they are read back. The writer side is what a worker uses for each delivery of a
 * task; the reader side is what the coordinator uses to reuse an earlier run's shards, remove a
 * dead-lettered shard's files and check a job's files at its end, and what `inspect` reports (its
 * summary, one sample, a contact sheet of the first few).
 *
 * Each format is one folder here (imagefolder/, webdataset/), registered by name in registry.ts.
 */

import type { MetadataRow } from "../common/contract/job.js";
import type { OutputFormatName } from "../common/contract/output-formats.js";
import type { SampleRequest } from "../common/contract/sample.js";
import type { Task } from "../common/contract/task.js";
import type { ObjectStorage, StoredObject } from "../common/storage/index.js";

export interface OutputFormat {
  readonly name: OutputFormatName;

  /** The writer of one delivery of a task: each sample as it finishes, then what completes the shard. */
  openShard<Image>(ctx: ShardWriterContext<Image>): ShardWriter<Image>;

  /** Whether the output holds files of this format. `top`: the output's top-level listing. */
  detect(storage: ObjectStorage, top: readonly StoredObject[]): Promise<boolean>;
  /** The shards an earlier run marked complete, found with one listing whatever their number. */
  listShards(storage: ObjectStorage): Promise<StoredShards>;
  /** Removes what a shard wrote (a dead-lettered one); returns the number of objects removed. */
  removeShard(storage: ObjectStorage, shard: number): Promise<number>;
  /** The keys of every file a run in this format leaves in the output (`--overwrite`); `top` as in detect. */
  runFiles(storage: ObjectStorage, top: readonly StoredObject[]): Promise<string[]>;
  /** The end of a job: what the format assembles from its shards, and which shards lack their files. */
  finishJob(job: FinishingJob): Promise<FinishedJobFiles>;
  /** The samples, failures and shards `inspect` reports; `verify` reads every image through. */
  inspect(storage: ObjectStorage, verify: boolean): Promise<ShardsReport>;
  /** One sample by the key this format gives it, or why there is no such sample. */
  extract(storage: ObjectStorage, key: string): Promise<ExtractedSample | { missing: string }>;
  /**
   * The first `count` samples written (complete shards in shard order, each in manifest order), failed
   * ones skipped: each image with its stored record. Reads the index and the image files of those samples
   * only, never the rest of the output.
   */
  firstSamples(storage: ObjectStorage, count: number): Promise<ExtractedSample[]>;

  // One shard at a time, for a gallery that pages through a job of any size while it runs.

  /** The shards whose index (the list of their samples) is written, in shard order: one listing. */
  indexedShards(storage: ObjectStorage): Promise<number[]>;
  /** A shard's samples in manifest order, read from its index alone; null when it has none yet. */
  shardSamples(storage: ObjectStorage, shard: number): Promise<IndexedSample[] | null>;
  /**
   * The PNG of the sample that the shard's index lists under `key` (a successful one), read without the
   * rest of the shard; null when the index lists no such image. The key is looked up, never made a path.
   * `listed`: the shard's samples as shardSamples gave them, when the caller keeps them (the index is then
   * not read again).
   */
  sampleImage(
    storage: ObjectStorage,
    shard: number,
    key: string,
    listed?: readonly IndexedSample[],
  ): Promise<Buffer | null>;
}

/** One sample as a shard's index lists it. */
export interface IndexedSample {
  /** The key sampleImage takes: the sample id (imagefolder), the shard and index key (webdataset). */
  key: string;
  ok: boolean;
  /** Why it failed ("" when it did not; imagefolder's index lists its successes only). */
  error: string;
  metadata: StoredSample;
  /** Where the image lies in a file of the shard, when the index says (webdataset: in its tar). */
  imageAt?: { offset: number; size: number };
}

// The writer side.

export type WriteStage = "png_encode" | "write";

/** A sample as the writer gets it: an image to encode (whatever the caller's image type), or its failure. */
export type ShardSampleOutcome<Image> =
  | { ok: true; image: Image }
  | { ok: false; code: string; message: string };

export interface EncodedImage {
  png: Buffer;
  /** CRC-32 of the whole file. */
  crc32: number;
  /** Time the encoding took. */
  seconds: number;
}

/** What a writer needs: the storage of the task's output, the encoder, the metrics hook. */
export interface ShardWriterContext<Image> {
  storage: ObjectStorage;
  task: Task;
  shard: number;
  modelName: string;
  encode: (image: Image) => Promise<EncodedImage>;
  onStage?: (stage: WriteStage, seconds: number) => void;
}

export interface ShardWriter<Image> {
  /** Removes what an interrupted earlier delivery of the shard left (temporary files, unfinished uploads). */
  removeLeftovers(): Promise<void>;
  /**
   * One sample is done. Returns the name its result reports ("" for a failed one). `request` is undefined
   * for a sample that could not be resolved (its id may not even make a file name).
   */
  sample(i: number, outcome: ShardSampleOutcome<Image>, request: SampleRequest | undefined): Promise<string>;
  /** Every sample is done: writes what makes the shard complete, atomically. */
  finish(
    requests: (SampleRequest | undefined)[],
    outcomes: ShardSampleOutcome<Image>[],
    fileNames: string[],
  ): Promise<void>;
}

// The reader side.

/** The settings a stored sample (a metadata row, a Parquet record) has in common with what made it. */
export type StoredSample = Pick<
  MetadataRow,
  | "id"
  | "prompt"
  | "negative_prompt"
  | "seed"
  | "steps"
  | "guidance_scale"
  | "scheduler"
  | "width"
  | "height"
  | "model"
>;

export type ReuseVerdict = { reusable: true; fileNames: string[] } | { reusable: false; why: string };

export interface StoredShards {
  /** Shards with a completion marker (complete or not). */
  readonly count: number;
  has(shard: number): boolean;
  /**
   * Reads and checks a marked shard's files. `mismatch` compares its stored samples, in order, with those
   * the shard has now (null when they match). Throws when a file cannot be read.
   */
  reuse(shard: number, mismatch: (stored: readonly StoredSample[]) => string | null): Promise<ReuseVerdict>;
}

export interface FinishingJob {
  storage: ObjectStorage;
  /** A local folder for temporary files. */
  workDir: string;
  shards: number;
  /** Whether the shard has images (a shard whose samples all failed may have no files). */
  hasImages: (shard: number) => boolean;
}

export interface FinishedJobFiles {
  /** Shards whose files are missing. */
  missing: number[];
  /** Sample rows of the job-wide index the format wrote, if it writes one (imagefolder's metadata.jsonl). */
  indexRows?: number;
}

export interface ShardsReport {
  samples: { done: number; failed: number };
  shards: { complete: number; incomplete: { shard: number; why: string }[] };
  /** Failed samples by error code. */
  failures: Record<string, number>;
}

export interface ExtractedSample {
  /** The key asked for. */
  key: string;
  png: Buffer;
  /** Its metadata as stored (a metadata row, a `{key}.json` record). */
  metadata: StoredSample;
}
