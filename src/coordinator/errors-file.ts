/**
 * `<out>/errors.jsonl`: one ErrorRow per line, appended as rows are rejected and samples fail, so a user
 * sees problems while the job runs. Created on the first error only (the contract: the file exists only
 * when something failed). Appends are serialized; a restarted coordinator starts the file afresh and
 * writes every line again (re-expansion and results replay are deterministic).
 */
import { createReadStream } from "node:fs";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ERRORS_FILE, type ErrorRow } from "../common/contract/job.js";

export class ErrorsFile {
  readonly path: string;
  private handle: FileHandle | null = null;
  private chain: Promise<void> = Promise.resolve();
  private lines = 0;

  constructor(outputDir: string) {
    this.path = join(outputDir, ERRORS_FILE);
  }

  /** Lines written since the last reset. */
  get count(): number {
    return this.lines;
  }

  /** Removes the file (a restarted job writes it again from the start). */
  reset(): Promise<void> {
    return this.enqueue(async () => {
      await this.closeHandle();
      await rm(this.path, { force: true });
      this.lines = 0;
    });
  }

  append(rows: readonly ErrorRow[]): Promise<void> {
    if (rows.length === 0) return this.chain;
    const text = rows.map((r) => `${JSON.stringify(r)}\n`).join("");
    return this.enqueue(async () => {
      this.handle ??= await open(this.path, "a");
      await this.handle.write(text);
      this.lines += rows.length;
    });
  }

  /** Rewrites the file without the lines `drop` rejects, then appends `extra` (tmp + rename). */
  rewrite(drop: (row: ErrorRow) => boolean, extra: readonly ErrorRow[] = []): Promise<void> {
    return this.enqueue(async () => {
      await this.closeHandle();
      const tmp = `${this.path}.tmp-${process.pid}`;
      const out = await open(tmp, "w");
      let kept = 0;
      try {
        const input = createReadStream(this.path, { encoding: "utf8" });
        const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
        try {
          for await (const line of rl) {
            if (line.trim() === "") continue;
            if (drop(JSON.parse(line) as ErrorRow)) continue;
            await out.write(`${line}\n`);
            kept++;
          }
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
        for (const r of extra) {
          await out.write(`${JSON.stringify(r)}\n`);
          kept++;
        }
      } finally {
        await out.close();
      }
      if (kept === 0) {
        await rm(tmp, { force: true });
        await rm(this.path, { force: true });
      } else {
        await rename(tmp, this.path);
      }
      this.lines = kept;
    });
  }

  /** Waits for the appends so far. */
  flush(): Promise<void> {
    return this.chain;
  }

  close(): Promise<void> {
    return this.enqueue(() => this.closeHandle());
  }

  private async closeHandle(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.chain.then(step);
    // Keep the chain usable after a failed step; the caller of that step still sees its error.
    this.chain = next.catch(() => undefined);
    return next;
  }
}
