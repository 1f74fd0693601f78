/**
 * Where each sample came from ("file:line"), for the errors.jsonl lines of samples that fail on a worker
 * (a TaskResult names the sample, not its manifest row). Kept on disk, one line per shard
 * (`[firstIndex, [source, count], ...]`, runs of equal sources), with only the line offsets in memory, so
 * a job of ten million samples costs a few MB of memory. Written by the publisher in shard order, read on
 * failures only. A lookup for a shard not written yet waits for it (after a restart the results replay may
 * run ahead of the re-expansion); `finish()` releases the waiters of shards that will never come.
 */
import { type FileHandle, mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";

const FLUSH_BYTES = 256 * 1024;

type Run = [string, number];

export class WhereIndex {
  private handle: FileHandle | null = null;
  private opening: Promise<FileHandle> | null = null;
  /** offsets[s] = byte offset of shard s's line; offsets[written] = end of the written part. */
  private readonly offsets: number[] = [0];
  private pending: string[] = [];
  /** The pending lines' byte lengths. */
  private pendingLengths: number[] = [];
  /** The last source seen and its JSON: a shard's samples, and the next shard's, mostly share one. */
  private lastSource = "";
  private lastSourceJson = '""';
  private pendingBytes = 0;
  private pendingShards = 0;
  private flushing: Promise<void> = Promise.resolve();
  private finished = false;
  private waiters = new Map<number, (() => void)[]>();
  private closed = false;

  constructor(private readonly file: string) {}

  /** Shards appended so far (written or pending). */
  get shards(): number {
    return this.offsets.length - 1 + this.pendingShards;
  }

  /** Appends shard `shard`'s line; shards must come in order 0, 1, 2, ... */
  append(shard: number, firstIndex: number, sources: readonly string[]): void {
    if (shard !== this.shards) throw new Error(`where index: shard ${shard} appended out of order`);
    // JSON.stringify([firstIndex, ...runs]), written without an array per run.
    let line = `[${firstIndex}`;
    for (let i = 0; i < sources.length; ) {
      const source = sources[i];
      let j = i + 1;
      while (j < sources.length && sources[j] === source) j++;
      if (source !== this.lastSource) {
        this.lastSource = source;
        this.lastSourceJson = JSON.stringify(source);
      }
      line += `,[${this.lastSourceJson},${j - i}]`;
      i = j;
    }
    line += "]\n";
    const bytes = Buffer.byteLength(line);
    this.pending.push(line);
    this.pendingLengths.push(bytes);
    this.pendingBytes += bytes;
    this.pendingShards++;
    if (this.pendingBytes >= FLUSH_BYTES) void this.flush().catch(() => undefined);
    const ws = this.waiters.get(shard);
    if (ws) {
      this.waiters.delete(shard);
      for (const w of ws) w();
    }
  }

  /** No more shards will be appended: waiting lookups of unknown shards resolve to "". */
  finish(): void {
    this.finished = true;
    for (const ws of this.waiters.values()) for (const w of ws) w();
    this.waiters.clear();
  }

  /** The source of sample `index` of shard `shard`, or "" when unknown. */
  async lookup(shard: number, index: number): Promise<string> {
    while (shard >= this.shards && !this.finished && !this.closed) {
      await new Promise<void>((resolve) => {
        const ws = this.waiters.get(shard) ?? [];
        ws.push(resolve);
        this.waiters.set(shard, ws);
      });
    }
    if (shard >= this.shards) return "";
    if (shard >= this.offsets.length - 1) await this.flush();
    const start = this.offsets[shard];
    const end = this.offsets[shard + 1];
    if (start === undefined || end === undefined) return "";
    const handle = await this.open();
    const buf = Buffer.alloc(end - start);
    await handle.read(buf, 0, buf.length, start);
    const [first, ...runs] = JSON.parse(buf.toString("utf8")) as [number, ...Run[]];
    let k = index - first;
    for (const [source, count] of runs) {
      if (k < count) return k >= 0 ? source : "";
      k -= count;
    }
    return "";
  }

  /** Writes the pending lines (in order; concurrent calls queue). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const lines = this.pending;
      const lengths = this.pendingLengths;
      const n = this.pendingShards;
      this.pending = [];
      this.pendingLengths = [];
      this.pendingBytes = 0;
      const data = Buffer.from(lines.join(""), "utf8");
      const handle = await this.open();
      const at = this.offsets[this.offsets.length - 1];
      await handle.write(data, 0, data.length, at);
      let pos = at;
      for (const bytes of lengths) {
        pos += bytes;
        this.offsets.push(pos);
      }
      this.pendingShards -= n;
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.finish();
    await this.flush().catch(() => undefined);
    const h = this.handle;
    this.handle = null;
    await h?.close().catch(() => undefined);
  }

  private open(): Promise<FileHandle> {
    if (this.handle) return Promise.resolve(this.handle);
    this.opening ??= (async () => {
      await mkdir(dirname(this.file), { recursive: true });
      // "w+": a (re)started publisher rewrites the index from its first shard.
      this.handle = await open(this.file, "w+");
      return this.handle;
    })();
    return this.opening;
  }
}
