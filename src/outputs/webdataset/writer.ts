/**
 * The webdataset writer (the layout: shard-index.ts): the shard's PNGs are kept in memory as they finish;
 * at the end the tar (`{key}.png`, `{key}.txt`, `{key}.json` per successful sample, in task order) and the
 * shard's Parquet file, which records the tar's size and CRC-32 and so marks the shard complete, are put
 * together: both flushed to disk at once, the Parquet file moved into place after the tar. Each put is
 * atomic (a multipart upload on S3), so a consumer never sees half a tar.
 */
import { performance } from "node:perf_hooks";
import type { SampleRequest } from "../../common/contract/sample.js";
import type { Task } from "../../common/contract/task.js";
import { type TarMember, tarChunks, tarDataOffsets } from "../../common/tar.js";
import type { ShardSampleOutcome, ShardWriter, ShardWriterContext } from "../format.js";
import {
  parquetShardName,
  type ShardSampleRecord,
  sampleKey,
  tarDigest,
  tarShardName,
  wdsShardLabel,
  writeShardIndex,
} from "./shard-index.js";

export class WebdatasetWriter<Image> implements ShardWriter<Image> {
  private readonly pngs: (Buffer | undefined)[];
  /** Each PNG's CRC-32, from the encoder: the tar's CRC is combined from them. */
  private readonly crcs = new Map<Uint8Array, number>();

  constructor(private readonly ctx: ShardWriterContext<Image>) {
    this.pngs = new Array<Buffer | undefined>(ctx.task.samples.length);
  }

  async removeLeftovers(): Promise<void> {
    await this.ctx.storage.removeLeftovers(`${wdsShardLabel(this.ctx.shard)}.`);
  }

  async sample(i: number, outcome: ShardSampleOutcome<Image>): Promise<string> {
    if (!outcome.ok) {
      this.pngs[i] = undefined;
      return "";
    }
    const { png, crc32, seconds } = await this.ctx.encode(outcome.image);
    this.pngs[i] = png;
    this.crcs.set(png, crc32);
    this.ctx.onStage?.("png_encode", seconds);
    return `${tarShardName(this.ctx.shard)}#${sampleKey(this.ctx.shard, i)}.png`;
  }

  async finish(
    requests: (SampleRequest | undefined)[],
    outcomes: ShardSampleOutcome<Image>[],
  ): Promise<void> {
    const { storage, task, shard, modelName } = this.ctx;
    const records = shardSampleRecords(task, requests, outcomes, modelName);
    const members: TarMember[] = [];
    /** Each record's PNG member, by its place in `members`. */
    const pngMembers: (number | undefined)[] = [];
    records.forEach((r, i) => {
      const png = this.pngs[i];
      if (r.status !== "success" || png === undefined) return;
      pngMembers[i] = members.length;
      members.push(
        { name: `${r.key}.png`, data: png },
        { name: `${r.key}.txt`, data: Buffer.from(r.prompt, "utf8") },
        { name: `${r.key}.json`, data: Buffer.from(JSON.stringify(r), "utf8") },
      );
    });
    const t0 = performance.now();
    const tar = members.length > 0 ? tarChunks(members) : null;
    const digest = tar ? tarDigest(tar, this.crcs) : null;
    const offsets = tarDataOffsets(members);
    const images = records.map((_, i) => {
      const m = pngMembers[i];
      return m === undefined ? undefined : { offset: offsets[m], size: members[m].data.length };
    });
    const index = { key: parquetShardName(shard), data: await writeShardIndex(records, digest, images) };
    // The Parquet file vouches for the tar: it goes in place last, and only once both are on disk.
    if (tar) await storage.putAll([{ key: tarShardName(shard), data: tar }, index]);
    else {
      await storage.delete(tarShardName(shard)); // every sample failed: no tar (a stale one would mislead)
      await storage.put(index.key, index.data);
    }
    this.ctx.onStage?.("write", (performance.now() - t0) / 1000);
    this.pngs.fill(undefined);
    this.crcs.clear();
  }
}

/**
 * A shard's records: every sample in task order, failed ones included, with the settings it ran with (or,
 * for a sample that could not be resolved, the ones it was given).
 */
export function shardSampleRecords(
  task: Task,
  requests: (SampleRequest | undefined)[],
  outcomes: ShardSampleOutcome<unknown>[],
  modelName: string,
): ShardSampleRecord[] {
  const { shard } = task;
  return task.samples.map((spec, i): ShardSampleRecord => {
    const req = requests[i];
    const outcome = outcomes[i];
    const ok = outcome.ok && req !== undefined;
    return {
      key: sampleKey(shard, i),
      shard,
      index: spec.index,
      id: spec.sample_id,
      prompt: req?.prompt ?? spec.prompt,
      text: req?.prompt ?? spec.prompt,
      negative_prompt: req?.negativePrompt ?? spec.negative_prompt,
      seed: req?.seed ?? (Number.isSafeInteger(spec.seed) ? spec.seed : 0),
      steps: req?.steps ?? spec.steps,
      guidance_scale: req?.guidanceScale ?? spec.guidance_scale,
      scheduler: req?.scheduler ?? spec.scheduler,
      width: req?.width ?? spec.width,
      height: req?.height ?? spec.height,
      model: modelName,
      status: ok ? "success" : "failed",
      error_message: outcome.ok ? "" : outcome.message,
      error_code: outcome.ok ? "" : outcome.code,
    };
  });
}
