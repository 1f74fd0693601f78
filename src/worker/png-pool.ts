/**
 * A small pool of PNG encoder threads (png-thread.ts). A 512x512 image takes around 10 ms to encode, a
 * batch of them a good part of a second: on the main thread that would hold up NATS in-progress acks,
 * gRPC calls and /metrics scrapes. Each image goes to the thread with the fewest in hand; threads start on
 * first use and are left out of the process's liveness while idle. With `threads: 0` images are encoded
 * inline (tests, tools).
 */
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import type { Worker } from "node:worker_threads";
import { LatentFleetError } from "../common/errors.js";
import { startThread } from "../common/threads.js";
import { DEFAULT_PNG_LEVEL, encodeRgbPngWithCrc } from "../engine/png-encode.js";
import { toRgbImages } from "../engine/vae-decoder.js";

/** An image to encode: 8-bit RGB (HWC), or planar floats in [-1, 1] (CHW, the VAE's) made into RGB first. */
export type PngImage = { width: number; height: number } & ({ rgb: Uint8Array } | { pixels: Float32Array });

export type PngRequest = PngImage & { id: number; level: number };

export type PngReply =
  | { id: number; png: Uint8Array; crc32: number; seconds: number; nanPixels: boolean }
  | { id: number; error: string };

export interface EncodedPng {
  png: Buffer;
  /** CRC-32 of the whole file. */
  crc32: number;
  /** The image came as floats with a NaN among them (written as 0): see NAN_PIXELS_WARNING. */
  nanPixels: boolean;
  /** Time the encoding itself took (on its thread). */
  seconds: number;
}

export interface PngPoolOptions {
  /** Encoder threads (default: half the cores, 2 to 4); 0 encodes on the calling thread. */
  threads?: number;
  /** zlib level (default DEFAULT_PNG_LEVEL). */
  level?: number;
}

export function defaultPngThreads(): number {
  return Math.max(2, Math.min(4, Math.floor(availableParallelism() / 2)));
}

interface Slot {
  thread: Worker;
  pending: Map<number, { resolve: (r: EncodedPng) => void; reject: (e: Error) => void }>;
}

export class PngPool {
  readonly threads: number;
  private readonly level: number;
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;

  constructor(opts: PngPoolOptions = {}) {
    this.threads = Math.max(0, Math.floor(opts.threads ?? defaultPngThreads()));
    this.level = opts.level ?? DEFAULT_PNG_LEVEL;
  }

  /**
   * Encodes on a pool thread. With `transfer`, an image that owns its whole buffer (as the engine hands
   * them over) is moved to the thread rather than copied, and is empty here afterwards: copying a large
   * image costs the main thread more than handing it over.
   */
  encode(
    rgb: Uint8Array,
    width: number,
    height: number,
    opts: { transfer?: boolean } = {},
  ): Promise<EncodedPng> {
    return this.encodeImage({ rgb, width, height }, opts);
  }

  /** As encode(), for RGB bytes or for the VAE's floats, which the thread converts to bytes first. */
  encodeImage(image: PngImage, opts: { transfer?: boolean } = {}): Promise<EncodedPng> {
    if (this.closed)
      return Promise.reject(new LatentFleetError("OUTPUT_FAILED", "the PNG encoder is closed"));
    const { width, height } = image;
    const data = "rgb" in image ? image.rgb : image.pixels;
    // Also an image whose buffer was already moved to a thread (detached: empty here), which the thread
    // would never answer for.
    if (data.length !== width * height * 3) {
      const kind = "rgb" in image ? "bytes of RGB" : "floats";
      const why = `a ${width}x${height} image needs ${width * height * 3} ${kind}, got ${data.length}`;
      return Promise.reject(new LatentFleetError("OUTPUT_FAILED", why));
    }
    if (this.threads === 0) {
      try {
        return Promise.resolve(encodePngImage(image, this.level));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const slot = this.pick();
    const id = this.nextId++;
    return new Promise<EncodedPng>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.thread.ref();
      const msg: PngRequest = { ...image, id, level: this.level };
      const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      // Otherwise copied: the image may share its buffer with others (a batch's).
      if (opts.transfer && own && data.buffer instanceof ArrayBuffer)
        slot.thread.postMessage(msg, [data.buffer]);
      else slot.thread.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    for (const s of slots)
      this.failSlot(s, new LatentFleetError("OUTPUT_FAILED", "the PNG encoder is closed"));
    await Promise.all(slots.map((s) => s.thread.terminate()));
  }

  /** The thread with the fewest images in hand, starting one while there are fewer than `threads`. */
  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (!best || s.pending.size < best.pending.size) best = s;
    if (best && (best.pending.size === 0 || this.slots.length >= this.threads)) return best;
    return this.startSlot();
  }

  private startSlot(): Slot {
    const thread = startThread(import.meta.url, "png-thread");
    const slot: Slot = { thread, pending: new Map() };
    thread.unref();
    thread.on("message", (msg: PngReply) => {
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (slot.pending.size === 0) thread.unref();
      if ("error" in msg)
        p.reject(new LatentFleetError("OUTPUT_FAILED", `PNG encoding failed: ${msg.error}`));
      else {
        const { png } = msg;
        p.resolve({
          png: Buffer.from(png.buffer, png.byteOffset, png.byteLength),
          crc32: msg.crc32,
          seconds: msg.seconds,
          nanPixels: msg.nanPixels,
        });
      }
    });
    const lost = (why: string) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      this.failSlot(slot, new LatentFleetError("OUTPUT_FAILED", `PNG encoder thread ${why}`));
    };
    thread.on("error", (err) => lost(`crashed: ${err.message}`));
    thread.on("exit", (code) => {
      if (!this.closed) lost(`exited with code ${code}`);
    });
    this.slots.push(slot);
    return slot;
  }

  private failSlot(slot: Slot, err: Error): void {
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
  }
}

/** Encodes on this thread (a pool thread, or the caller's with `threads: 0`); floats are made into RGB first. */
export function encodePngImage(image: PngImage, level: number): EncodedPng {
  const t0 = performance.now();
  const nan: boolean[] = [false];
  const rgb = "rgb" in image ? image.rgb : toRgbImages(image.pixels, 1, image.height, image.width, nan)[0];
  const { png, crc32 } = encodeRgbPngWithCrc(rgb, image.width, image.height, { level });
  return { png, crc32, seconds: (performance.now() - t0) / 1000, nanPixels: nan[0] };
}
