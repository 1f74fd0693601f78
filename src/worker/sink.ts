/**
 * The image sink: writes a task's images and its shard metadata under the job's output folder, in the
 * layout of src/common/job-contract.ts.
 *
 * Every file is written atomically (`<file>.tmp-<pid>-<rand>`, fsync, rename) with a deterministic name,
 * so a reader never sees half a file and a redelivered shard rewrites the same files with the same bytes.
 * The shard metadata file is written last, once all of the task's images are in place: its presence
 * means the shard is complete.
 *
 * PNG encoding runs on this (the main) thread with pngjs's synchronous encoder: the engine runs in its own
 * thread and hands back RGB, and a 64x64 image encodes in well under a millisecond. Large images (512x512
 * and up take tens of milliseconds each) should move to a small pool of encoder threads so that NATS
 * in-progress acks and gRPC calls are never held up behind a batch of encodes.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { LatentFleetError } from "../common/errors.js";
import {
  imageFileName,
  type MetadataRow,
  SHARDS_DIR,
  shardLabel,
  shardMetadataFile,
} from "../common/job-contract.js";
import { errorMessage } from "../common/log.js";
import type { EngineImage } from "./batcher.js";
import { encodePng } from "./engine/png.js";

export interface SinkOptions {
  /** fsync files (and their folders) before a task is reported; default true. */
  durable?: boolean;
  /** Told how long each image took to encode and to write (metrics). */
  onStage?: (stage: SinkStage, seconds: number) => void;
}

export type SinkStage = "png_encode" | "write";

const TMP_MARK = ".tmp-";
const MAX_SAMPLE_ID_LENGTH = 200;

/** A sample id becomes a file name: it must be one plain path segment. */
export function checkSampleId(sampleId: string): void {
  if (
    sampleId.length === 0 ||
    sampleId.length > MAX_SAMPLE_ID_LENGTH ||
    sampleId === "." ||
    sampleId === ".." ||
    /[/\\\0]/.test(sampleId) ||
    sampleId.includes(TMP_MARK)
  ) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `sample id ${JSON.stringify(sampleId.slice(0, MAX_SAMPLE_ID_LENGTH))} cannot be a file name ` +
        `(1 to ${MAX_SAMPLE_ID_LENGTH} characters, no '/', '\\', NUL or "${TMP_MARK}")`,
    );
  }
}

export class ImageSink {
  private readonly durable: boolean;
  private readonly onStage: SinkOptions["onStage"];

  constructor(opts: SinkOptions = {}) {
    this.durable = opts.durable ?? true;
    this.onStage = opts.onStage;
  }

  /**
   * Removes what an earlier, interrupted delivery of the shard may have left: temporary files (a worker
   * killed between write and rename). Call it before a redelivered shard starts.
   */
  async removeLeftovers(outputDir: string, shard: number): Promise<void> {
    const root = resolve(outputDir);
    const imagesDir = dirname(join(root, imageFileName(shard, "x")));
    await removeTmpFiles(imagesDir, () => true);
    const label = shardLabel(shard);
    await removeTmpFiles(join(root, SHARDS_DIR), (name) => name.startsWith(`${label}.jsonl${TMP_MARK}`));
  }

  /** Encodes and writes one image; returns its file name relative to the output folder. */
  async writeImage(outputDir: string, shard: number, sampleId: string, image: EngineImage): Promise<string> {
    checkSampleId(sampleId);
    const fileName = imageFileName(shard, sampleId);
    const t0 = performance.now();
    const png = encodePng(image.rgb, image.width, image.height);
    const t1 = performance.now();
    await this.writeFileAtomic(join(resolve(outputDir), fileName), png);
    this.onStage?.("png_encode", (t1 - t0) / 1000);
    this.onStage?.("write", (performance.now() - t1) / 1000);
    return fileName;
  }

  /** Removes the image of a sample that failed this time (a previous delivery may have written it). */
  async removeImage(outputDir: string, shard: number, sampleId: string): Promise<void> {
    checkSampleId(sampleId);
    await rm(join(resolve(outputDir), imageFileName(shard, sampleId)), { force: true }).catch(
      () => undefined,
    );
  }

  /**
   * Writes `.shards/<shard>.jsonl`, one row per line in the order given, after making the shard's image
   * folder durable; returns its file name relative to the output folder.
   */
  async writeShardMetadata(outputDir: string, shard: number, rows: readonly MetadataRow[]): Promise<string> {
    const root = resolve(outputDir);
    const fileName = shardMetadataFile(shard);
    if (this.durable && rows.length > 0) await syncDir(dirname(join(root, imageFileName(shard, "x"))));
    const text = rows.map((r) => `${JSON.stringify(r)}\n`).join("");
    const path = join(root, fileName);
    await this.writeFileAtomic(path, Buffer.from(text, "utf8"));
    if (this.durable) await syncDir(dirname(path));
    return fileName;
  }

  private async writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
    const tmp = `${path}${TMP_MARK}${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await mkdir(dirname(path), { recursive: true });
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(data);
        if (this.durable) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new LatentFleetError("OUTPUT_FAILED", `cannot write ${path}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }
}

async function removeTmpFiles(dir: string, match: (name: string) => boolean): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return; // no folder yet: nothing was left
  }
  await Promise.all(
    names
      .filter((n) => n.includes(TMP_MARK) && match(n))
      .map((n) => rm(join(dir, n), { force: true }).catch(() => undefined)),
  );
}

/** fsync a folder so the renames in it survive a power loss (best effort: not every platform allows it). */
async function syncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch {
    // e.g. Windows cannot open a folder; the files themselves were synced
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
