/**
 * The imagefolder writer (the layout: src/common/contract/job.ts): `images/<shard>/<id>.png` as each sample
 * finishes, then `.shards/<shard>.jsonl`, the shard's metadata rows, once all of its images are in place:
 * the presence of that file means the shard is complete. Deterministic names, so a redelivered shard
 * rewrites the same files. Each image is moved into place whole as it is written, and flushed to disk with
 * the others of its shard before the shard's metadata file is written (one flush per shard, not per image).
 */
import { performance } from "node:perf_hooks";
import {
  imageFileName,
  type MetadataRow,
  shardImagesDir,
  shardMetadataFile,
} from "../../common/contract/job.js";
import type { SampleRequest } from "../../common/contract/sample.js";
import type { Task } from "../../common/contract/task.js";
import type { ShardSampleOutcome, ShardWriter, ShardWriterContext } from "../format.js";

export class ImagefolderWriter<Image> implements ShardWriter<Image> {
  /**
   * Each image's PNG, kept until the shard is complete: a write tried again after a failure puts the same
   * bytes without encoding again (the engine's image was handed to the encoder), and should flushing the
   * shard fail, its images are written again rather than trusted to a disk that lost them.
   */
  private readonly pngs: (Buffer | undefined)[];
  private flushFailed = false;

  constructor(private readonly ctx: ShardWriterContext<Image>) {
    this.pngs = new Array<Buffer | undefined>(ctx.task.samples.length);
  }

  async removeLeftovers(): Promise<void> {
    const { storage, shard } = this.ctx;
    await storage.removeLeftovers(shardImagesDir(shard));
    await storage.removeLeftovers(shardMetadataFile(shard));
  }

  async sample(
    i: number,
    outcome: ShardSampleOutcome<Image>,
    request: SampleRequest | undefined,
  ): Promise<string> {
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

  async finish(
    requests: (SampleRequest | undefined)[],
    outcomes: ShardSampleOutcome<Image>[],
    fileNames: string[],
  ): Promise<void> {
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

/** The shard's metadata rows: one per successful sample, in sample order, with the settings it ran with. */
export function shardMetadataRows(
  task: Task,
  requests: (SampleRequest | undefined)[],
  outcomes: ShardSampleOutcome<unknown>[],
  fileNames: string[],
  modelName: string,
): MetadataRow[] {
  const rows: MetadataRow[] = [];
  outcomes.forEach((outcome, i) => {
    const req = requests[i];
    if (!outcome.ok || req === undefined) return;
    rows.push({
      file_name: fileNames[i],
      id: task.samples[i].sample_id,
      prompt: req.prompt,
      text: req.prompt,
      negative_prompt: req.negativePrompt,
      seed: req.seed,
      steps: req.steps,
      guidance_scale: req.guidanceScale,
      scheduler: req.scheduler,
      width: req.width,
      height: req.height,
      model: modelName,
    });
  });
  return rows;
}
