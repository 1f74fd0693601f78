/**
 * How a worker writes one delivery of a task, whatever the output format: each sample as it finishes,
 * then what completes the shard. The formats (imagefolder-output.ts, webdataset-output.ts) write through
 * an ObjectStorage, so a folder and an S3 prefix take the same path.
 */

import type { SampleRequest } from "../common/contract/sample.js";
import type { Task } from "../common/contract/task.js";
import type { ObjectStorage } from "../common/storage/index.js";
import type { EncodedPng } from "./png-pool.js";
import type { EngineImage, SampleOutcome } from "./submission.js";

export type SinkStage = "png_encode" | "write";

/** What the formats share: the storage of the task's output, the encoder, the metrics hook. */
export interface OutputContext {
  storage: ObjectStorage;
  task: Task;
  shard: number;
  modelName: string;
  encode: (image: EngineImage) => Promise<EncodedPng>;
  onStage?: (stage: SinkStage, seconds: number) => void;
}

export interface ShardOutput {
  /** Removes what an interrupted earlier delivery of the shard left (temporary files, unfinished uploads). */
  removeLeftovers(): Promise<void>;
  /**
   * One sample is done. Returns the name its result reports ("" for a failed one). `request` is undefined
   * for a sample that could not be resolved (its id may not even make a file name).
   */
  sample(i: number, outcome: SampleOutcome, request: SampleRequest | undefined): Promise<string>;
  /** Every sample is done: writes what makes the shard complete. */
  finish(
    requests: (SampleRequest | undefined)[],
    outcomes: SampleOutcome[],
    fileNames: string[],
  ): Promise<void>;
}
