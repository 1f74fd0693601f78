/**
 * The imagefolder format (the contract's default): `images/<shard>/<id>.png` as each sample finishes, then
 * `.shards/<shard>.jsonl`, the shard's metadata rows, once all of its images are in place: the presence of
 * that file means the shard is complete. Deterministic names, so a redelivered shard rewrites the same files.
 * Each image is moved into place whole as it is written, and flushed to disk with the others of its shard
 * before the shard's metadata file is written (one flush per shard rather than one per image).
 */
import { performance } from "node:perf_hooks";
import { imageFileName, SHARDS_DIR, shardLabel, shardMetadataFile } from "../common/contract/job.js";
import type { SampleRequest } from "../common/contract/sample.js";
import type { OutputContext, ShardOutput } from "./shard-output.js";
import type { SampleOutcome } from "./submission.js";
import { shardMetadataRows } from "./task-results.js";

export class ImagefolderOutput implements ShardOutput {
  /**
   * Each image's PNG, kept until the shard is complete: a write tried again after a failure puts the same
   * bytes without encoding again (the engine's image was handed to the encoder), and should flushing the
   * shard fail, its images are written again rather than trusted to a disk that lost them.
   */
  private readonly pngs: (Buffer | undefined)[];
  private flushFailed = false;

  constructor(private readonly ctx: OutputContext) {
    this.pngs = new Array<Buffer | undefined>(ctx.task.samples.length);
  }

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
    let png = this.pngs[i];
    if (png === undefined) {
      const encoded = await this.ctx.encode(outcome.image);
      png = this.pngs[i] = encoded.png;
      this.ctx.onStage?.("png_encode", encoded.seconds);
    }
    const t0 = performance.now();
    // Flushed to disk with the rest of the shard, in finish.
    await storage.put(fileName, png, { durable: false });
    this.ctx.onStage?.("write", (performance.now() - t0) / 1000);
    return fileName;
  }

  async finish(requests: (SampleRequest | undefined)[], outcomes: SampleOutcome[], fileNames: string[]) {
    const { storage, task, shard, modelName } = this.ctx;
    const rows = shardMetadataRows(task, requests, outcomes, fileNames, modelName);
    const text = rows.map((r) => `${JSON.stringify(r)}\n`).join("");
    const written = fileNames.flatMap((f, i) => (f === "" ? [] : [{ key: f, png: this.pngs[i] }]));
    if (!this.flushFailed) {
      try {
        await storage.sync(written.map((w) => w.key));
      } catch (err) {
        // After a failed fsync the kernel may have dropped the pages and a second fsync reports success:
        // the next try writes the images again instead.
        this.flushFailed = true;
        throw err;
      }
    } else {
      for (const w of written) if (w.png) await storage.put(w.key, w.png);
    }
    await storage.put(shardMetadataFile(shard), Buffer.from(text, "utf8"));
    this.pngs.fill(undefined);
  }
}
