/**
 * Thumbnails made off the coordinator's main thread: one thread (thumbnail-thread.ts), started on the
 * first request and not keeping the process alive while idle. A thread that fails fails what it held, and
 * the next request starts another.
 */
import type { Worker } from "node:worker_threads";
import { startThread } from "../../common/threads.js";
import { THUMBNAIL_SIZE } from "./thumbnail.js";

export interface ThumbnailRequest {
  id: number;
  png: Uint8Array;
  size: number;
}

export type ThumbnailReply = { id: number; png: Uint8Array } | { id: number; error: string };

interface Pending {
  resolve: (png: Buffer) => void;
  reject: (err: Error) => void;
}

export class ThumbnailMaker {
  private thread: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  /** The thread's id while one runs (the main thread's is 0). */
  get threadId(): number | undefined {
    return this.thread?.threadId;
  }

  make(png: Buffer, size = THUMBNAIL_SIZE): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error("the thumbnail maker is closed"));
    const thread = this.started();
    const id = this.nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      thread.ref();
      const msg: ThumbnailRequest = { id, png, size };
      thread.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    this.thread = undefined;
    this.fail(new Error("the thumbnail maker is closed"));
    await thread?.terminate();
  }

  private started(): Worker {
    if (this.thread) return this.thread;
    const thread = startThread(import.meta.url, "thumbnail-thread");
    thread.unref();
    thread.on("message", (msg: ThumbnailReply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) thread.unref();
      if ("error" in msg) p.reject(new Error(`cannot make a thumbnail: ${msg.error}`));
      else p.resolve(Buffer.from(msg.png.buffer, msg.png.byteOffset, msg.png.byteLength));
    });
    const lost = (why: string) => {
      if (this.thread === thread) this.thread = undefined;
      this.fail(new Error(`the thumbnail thread ${why}`));
    };
    thread.on("error", (err) => lost(`crashed: ${err.message}`));
    thread.on("exit", (code) => {
      if (!this.closed) lost(`exited with code ${code}`);
    });
    this.thread = thread;
    return thread;
  }

  private fail(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
