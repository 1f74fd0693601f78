/**
 * The image sink: opens the writer of each task delivery for the task's output location (a folder or
 * `s3://bucket/prefix`, storages opened once and kept) and format (src/outputs), and owns the pool of PNG
 * encoder threads the writers share.
 *
 * Every output is written atomically with a deterministic name, so a reader never sees half a file and a
 * redelivered shard rewrites the same outputs. PNG encoding runs on the pool's threads (png-pool.ts), never
 * on the main thread, so NATS in-progress acks and gRPC calls are not held up behind a batch of encodes.
 */
import type { Task } from "../common/contract/task.js";
import { type S3Settings, StorageCache } from "../common/storage/index.js";
import { NAN_PIXELS_WARNING } from "../engine/vae-decoder.js";
import { outputFormat, type ShardWriter, type WriteStage } from "../outputs/index.js";
import { type EncodedPng, PngPool } from "./png-pool.js";
import type { EngineImage } from "./submission.js";

/** The writer of one task delivery. */
export type ShardOutput = ShardWriter<EngineImage>;
export type SinkStage = WriteStage;

export interface SinkOptions {
  /** fsync files (and their folders) before a task is reported; default true. */
  durable?: boolean;
  /** Told how long each image took to encode and to write (metrics). */
  onStage?: (stage: SinkStage, seconds: number) => void;
  /** PNG encoder threads (default: half the cores, 2 to 4; 0: encode on this thread). */
  pngThreads?: number;
  /** zlib level of the PNGs (default 1). */
  pngLevel?: number;
  /** S3 settings for s3:// outputs (default: from the environment). */
  s3?: S3Settings;
}

export class ImageSink {
  private readonly onStage: SinkOptions["onStage"];
  private readonly storages: StorageCache;
  private readonly pool: PngPool;

  constructor(opts: SinkOptions = {}) {
    this.onStage = opts.onStage;
    this.storages = new StorageCache({ durable: opts.durable ?? true, s3: opts.s3 });
    this.pool = new PngPool({ threads: opts.pngThreads, level: opts.pngLevel });
  }

  /** The writer of one delivery of `task`, in the task's output format and location. */
  open(task: Task, modelName: string): ShardOutput {
    const format = outputFormat(task.output_format);
    return format.openShard<EngineImage>({
      storage: this.storages.get(task.output_dir === "" ? "." : task.output_dir),
      task,
      shard: task.shard,
      modelName,
      // The engine's images are the sink's once done: moved to the encoder thread, not copied.
      encode: (image) => this.encode(image),
      onStage: this.onStage,
    });
  }

  /** One image as a PNG, encoded on the pool's threads (gRPC's Generate); its buffer is moved there. */
  async encodePng(image: EngineImage): Promise<Buffer> {
    return (await this.encode(image)).png;
  }

  /**
   * Encodes on the pool, the image's buffer moved there. The engine's floats are checked for NaN as they
   * become bytes: the image gains the engine's warning, logged with its sample once written.
   */
  private async encode(image: EngineImage): Promise<EncodedPng> {
    const encoded = await this.pool.encodeImage(image, { transfer: true });
    if (encoded.nanPixels) image.warnings.push(NAN_PIXELS_WARNING);
    return encoded;
  }

  /** Stops the encoder threads and closes the storages' connections. */
  async close(): Promise<void> {
    await this.pool.close();
    this.storages.close();
  }
}
