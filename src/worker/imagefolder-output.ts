/**
 * The imagefolder format (the contract's default): `images/<shard>/<id>.png` as each sample finishes, then
 * `.shards/<shard>.jsonl`, the shard's metadata rows, once all of its images are in place: the presence of
 * that file means the shard is complete. Deterministic names, so a redelivered shard rewrites the same files.
 */
import { performance } from "node:perf_hooks";
import { imageFileName, SHARDS_DIR, shardLabel, shardMetadataFile } from "../common/job-contract.js";
import type { SampleOutcome } from "./batcher.js";
import type { SampleRequest } from "./engine/sample-request.js";
import type { OutputContext, ShardOutput } from "./shard-output.js";
import { shardMetadataRows } from "./task-results.js";

export class ImagefolderOutput implements ShardOutput {
  constructor(private readonly ctx: OutputContext) {}

  async removeLeftovers(): Promise<void> {
    const { storage, shard } = this.ctx;
    const imagesDir = imageFileName(shard, "x").slice(0, -"x.png".length);
    await storage.removeLeftovers(imagesDir);
    await storage.removeLeftovers(`${SHARDS_DIR}/${shardLabel(shard)}.jsonl`);
  }

  async sample(i: number, outcome: SampleOutcome, request: SampleRequest | undefined): Promise<string> {
    const { storage, shard, task } = this.ctx;
    const fileName = imageFileName(shard, task.samples[i].sample_id);
    if (!outcome.ok) {
      // A previous delivery may have written this image; a failed sample leaves no file.
      if (request !== undefined) await storage.delete(fileName).catch(() => undefined);
      return "";
    }
    const { png, seconds } = await this.ctx.encode(outcome.image);
    const t0 = performance.now();
    await storage.put(fileName, png);
    this.ctx.onStage?.("png_encode", seconds);
    this.ctx.onStage?.("write", (performance.now() - t0) / 1000);
    return fileName;
  }

  async finish(requests: (SampleRequest | undefined)[], outcomes: SampleOutcome[], fileNames: string[]) {
    const { storage, task, shard, modelName } = this.ctx;
    const rows = shardMetadataRows(task, requests, outcomes, fileNames, modelName);
    const text = rows.map((r) => `${JSON.stringify(r)}\n`).join("");
    await storage.put(shardMetadataFile(shard), Buffer.from(text, "utf8"));
  }
}
