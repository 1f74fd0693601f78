/**
 * Re-runs: before publishing a shard, the coordinator checks whether an earlier run of the same spec into
 * the same output completed it, and if so keeps its outputs instead of generating them again. A shard is
 * reused only when it is complete and verifies: its format reads its files back and checks them (see
 * listShards in src/outputs), and each stored sample matches its sample now in the manifest (id, prompt,
 * seed, steps, guidance, scheduler, size, model).
 *
 * Anything else (missing, truncated, a sample that failed, settings that changed) makes the shard run
 * again. What exists is listed once up front, so shards with no outputs cost no request.
 */

import { float32ToDecimal } from "../common/contract/floats.js";
import type { OutputFormatName } from "../common/contract/output-formats.js";
import type { TaskSample } from "../common/contract/task.js";
import { errorMessage } from "../common/log.js";
import type { ObjectStorage } from "../common/storage/index.js";
import { outputFormat, type ReuseVerdict, type StoredSample, type StoredShards } from "../outputs/index.js";
import type { Shard } from "./sharder.js";

/** Why a stored sample does not match the sample now in the manifest; null when it does. */
export function sampleMismatch(stored: StoredSample, spec: TaskSample, model: string): string | null {
  const differs = (field: string) => `sample ${spec.sample_id}: its ${field} changed`;
  if (stored.id !== spec.sample_id) return `sample ${spec.sample_id} is ${stored.id} in the stored shard`;
  if (stored.prompt !== spec.prompt) return differs("prompt");
  if (stored.negative_prompt !== spec.negative_prompt) return differs("negative prompt");
  if (stored.seed !== spec.seed) return differs("seed");
  if (stored.steps !== spec.steps) return differs("steps");
  // What the worker wrote went through the task's float32.
  if (stored.guidance_scale !== float32ToDecimal(spec.guidance_scale)) return differs("guidance scale");
  if (spec.scheduler && stored.scheduler !== spec.scheduler) return differs("scheduler");
  if (spec.width && stored.width !== spec.width) return differs("width");
  if (spec.height && stored.height !== spec.height) return differs("height");
  if (stored.model !== model) return differs("model");
  return null;
}

export class CompletedShards {
  private constructor(
    private readonly stored: StoredShards,
    private readonly model: string,
  ) {}

  /** Lists the shards of an earlier run the output holds (one listing, whatever the number of shards). */
  static async scan(
    storage: ObjectStorage,
    format: OutputFormatName,
    model: string,
  ): Promise<CompletedShards> {
    return new CompletedShards(await outputFormat(format).listShards(storage), model);
  }

  /** Shards with outputs of an earlier run (complete or not). */
  get found(): number {
    return this.stored.count;
  }

  async check(shard: Shard): Promise<ReuseVerdict> {
    if (!this.stored.has(shard.shard)) return { reusable: false, why: "no outputs" };
    try {
      return await this.stored.reuse(shard.shard, (stored) => this.mismatch(shard, stored));
    } catch (err) {
      return { reusable: false, why: `unreadable: ${errorMessage(err)}` };
    }
  }

  private mismatch(shard: Shard, stored: readonly StoredSample[]): string | null {
    if (stored.length !== shard.samples.length) {
      return `${stored.length} of its ${shard.samples.length} samples are there`;
    }
    for (let i = 0; i < stored.length; i++) {
      const why = sampleMismatch(stored[i], shard.samples[i], this.model);
      if (why) return why;
    }
    return null;
  }
}
