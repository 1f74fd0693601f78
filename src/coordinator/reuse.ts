/**
 * Re-runs: before publishing a shard, the coordinator checks whether an earlier run of the same spec into
 * the same output completed it, and if so keeps its outputs instead of generating them again. A shard is
 * reused only when it is complete and verifies:
 *
 * - imagefolder: `.shards/<shard>.jsonl` reads, holds one row per sample of the shard, each row matching
 *   its sample (id, prompt, seed, steps, guidance, scheduler, size, model), and every row's PNG is there;
 * - webdataset: `{shard}.parquet` reads, holds every sample of the shard as a success with matching
 *   settings, and `{shard}.tar` has the size the Parquet file recorded (a truncated tar does not).
 *
 * Anything else (missing, truncated, a sample that failed, settings that changed) makes the shard run
 * again. What exists is listed once up front, so shards with no outputs cost no request.
 */

import { float32ToDecimal } from "../common/contract/floats.js";
import { imageFileName, type MetadataRow, SHARDS_DIR, shardMetadataFile } from "../common/contract/job.js";
import type { TaskSample } from "../common/contract/task.js";
import { errorMessage } from "../common/log.js";
import type { ObjectStorage } from "../common/storage/index.js";
import {
  parquetShardName,
  readShardIndex,
  sampleKey,
  shardOfName,
  tarShardName,
} from "../common/webdataset.js";
import type { OutputFormat } from "../manifest/index.js";
import type { Shard } from "./sharder.js";

export type ReuseVerdict = { reusable: true; fileNames: string[] } | { reusable: false; why: string };

/** The settings a stored row or record has in common with the sample it was made from. */
type StoredSample = Pick<
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
    private readonly storage: ObjectStorage,
    private readonly format: OutputFormat,
    private readonly model: string,
    /** Shard -> size of its tar (webdataset) or 0 (imagefolder), for shards with a completion marker. */
    private readonly marked: Map<number, number>,
  ) {}

  /** Lists the shards of an earlier run the output holds (one listing, whatever the number of shards). */
  static async scan(storage: ObjectStorage, format: OutputFormat, model: string): Promise<CompletedShards> {
    const marked = new Map<number, number>();
    if (format === "webdataset") {
      const top = await storage.list("", { recursive: false });
      const tars = new Map<number, number>();
      for (const o of top) {
        const t = shardOfName(o.key, "tar");
        if (t !== undefined) tars.set(t, o.size);
      }
      for (const o of top) {
        const p = shardOfName(o.key, "parquet");
        if (p !== undefined) marked.set(p, tars.get(p) ?? -1);
      }
    } else {
      for (const o of await storage.list(`${SHARDS_DIR}/`, { recursive: false })) {
        const m = /^(\d+)\.jsonl$/.exec(o.key.slice(SHARDS_DIR.length + 1));
        if (m) marked.set(Number(m[1]), 0);
      }
    }
    return new CompletedShards(storage, format, model, marked);
  }

  /** Shards with outputs of an earlier run (complete or not). */
  get found(): number {
    return this.marked.size;
  }

  async check(shard: Shard): Promise<ReuseVerdict> {
    if (!this.marked.has(shard.shard)) return { reusable: false, why: "no outputs" };
    try {
      return this.format === "webdataset"
        ? await this.checkWebdataset(shard)
        : await this.checkImagefolder(shard);
    } catch (err) {
      return { reusable: false, why: `unreadable: ${errorMessage(err)}` };
    }
  }

  private async checkImagefolder(shard: Shard): Promise<ReuseVerdict> {
    const data = await this.storage.get(shardMetadataFile(shard.shard));
    if (data === null) return { reusable: false, why: "its metadata file is gone" };
    const rows = data
      .toString("utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as MetadataRow);
    const no = this.compare(shard, rows);
    if (no) return no;
    const images = new Map(
      (await this.storage.list(imageFileName(shard.shard, "x").slice(0, -"x.png".length))).map((o) => [
        o.key,
        o.size,
      ]),
    );
    for (const row of rows) {
      if (row.file_name !== imageFileName(shard.shard, row.id)) {
        return { reusable: false, why: `sample ${row.id} names another file` };
      }
      if (!((images.get(row.file_name) ?? 0) > 0))
        return { reusable: false, why: `${row.file_name} is missing` };
    }
    return { reusable: true, fileNames: rows.map((r) => r.file_name) };
  }

  private async checkWebdataset(shard: Shard): Promise<ReuseVerdict> {
    const tarBytes = this.marked.get(shard.shard) ?? -1;
    const data = await this.storage.get(parquetShardName(shard.shard));
    if (data === null) return { reusable: false, why: "its Parquet file is gone" };
    const index = await readShardIndex(data);
    const failed = index.records.find((r) => r.status !== "success");
    if (failed) return { reusable: false, why: `sample ${failed.id} failed` };
    const no = this.compare(shard, index.records);
    if (no) return no;
    for (let i = 0; i < index.records.length; i++) {
      if (index.records[i].key !== sampleKey(shard.shard, i)) return { reusable: false, why: "keys differ" };
    }
    if (!index.tar) return { reusable: false, why: "no tar recorded" };
    if (tarBytes !== index.tar.bytes) {
      const have = tarBytes < 0 ? "missing" : `${tarBytes} bytes`;
      return { reusable: false, why: `${tarShardName(shard.shard)} is ${have}, not ${index.tar.bytes}` };
    }
    return {
      reusable: true,
      fileNames: index.records.map((r) => `${tarShardName(shard.shard)}#${r.key}.png`),
    };
  }

  private compare(shard: Shard, stored: readonly StoredSample[]): ReuseVerdict | null {
    if (stored.length !== shard.samples.length) {
      return { reusable: false, why: `${stored.length} of its ${shard.samples.length} samples are there` };
    }
    for (let i = 0; i < stored.length; i++) {
      const why = sampleMismatch(stored[i], shard.samples[i], this.model);
      if (why) return { reusable: false, why };
    }
    return null;
  }
}
