/**
 * Output outages: writes that fail because the output location takes no writes at all (disk full, quota
 * exceeded, read-only, permission denied, I/O error) rather than because of the task.
 *
 * Giving such a task back (nak) does not help: every task fails the same way, each try burns one of its
 * max_deliver deliveries, and a disk full for a minute dead-letters the whole queue while the worker races
 * through it. So the worker holds the task instead (its in-progress acks go on), pulls no new tasks, and
 * tries the write again with a growing pause, for up to `maxHoldMs`; after that the error goes the usual
 * way (retried later, dead-lettered after max_deliver). The writes of a shard are idempotent (the same
 * bytes under the same names), so a write tried again is safe.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage, type Logger } from "../common/log.js";

/** errno codes that say the output as a whole takes no writes. */
const UNUSABLE_OUTPUT = new Set(["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO"]);

export const OUTPUT_OUTAGE_DEFAULTS = {
  /** How long one write is held and tried again before its task goes the usual way. */
  maxHoldMs: 10 * 60_000,
  minDelayMs: 500,
  maxDelayMs: 10_000,
} as const;

/** The errno (from the error or its causes) when it says the output is unusable; undefined otherwise. */
export function unusableOutputCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    const { code, syscall } = e as NodeJS.ErrnoException;
    if (typeof code === "string" && UNUSABLE_OUTPUT.has(code)) return code;
    // Node's recursive mkdir says ENOENT, not EROFS, on a read-only file system; and since it makes every
    // missing parent, ENOENT from it means the file system itself is in the way (or gone: an unmounted share).
    if (code === "ENOENT" && syscall === "mkdir") return "EROFS or a vanished folder (mkdir: ENOENT)";
    e = e.cause;
  }
  return undefined;
}

export interface OutputOutageOptions {
  log: Logger;
  maxHoldMs?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
}

export class OutputOutage {
  private downSince: number | undefined;
  private readonly o: Required<Omit<OutputOutageOptions, "log">>;

  constructor(private readonly opts: OutputOutageOptions) {
    this.o = {
      maxHoldMs: opts.maxHoldMs ?? OUTPUT_OUTAGE_DEFAULTS.maxHoldMs,
      minDelayMs: opts.minDelayMs ?? OUTPUT_OUTAGE_DEFAULTS.minDelayMs,
      maxDelayMs: opts.maxDelayMs ?? OUTPUT_OUTAGE_DEFAULTS.maxDelayMs,
    };
  }

  /** True while the output's writes fail (no new tasks should be pulled). */
  get down(): boolean {
    return this.downSince !== undefined;
  }

  /**
   * Runs `write`; while it fails with an unusable output, waits and runs it again, as long as `keepHolding()`
   * (the task is still this worker's, the worker is not draining) and for at most maxHoldMs. `onRetry` is
   * told before each new try: a failed write may have left a temporary file it could not remove.
   */
  async write<T>(write: () => Promise<T>, keepHolding: () => boolean, onRetry?: () => void): Promise<T> {
    const started = Date.now();
    let delay = this.o.minDelayMs;
    for (;;) {
      try {
        const value = await write();
        this.recovered();
        return value;
      } catch (err) {
        const code = unusableOutputCode(err);
        if (code === undefined || !keepHolding() || Date.now() - started + delay > this.o.maxHoldMs)
          throw err;
        if (this.downSince === undefined) {
          this.downSince = Date.now();
          this.opts.log.warn("the output takes no writes; holding the tasks in hand and trying again", {
            code,
            error: errorMessage(err),
            hold_s: Math.round(this.o.maxHoldMs / 1000),
          });
        }
        onRetry?.();
        await sleep(delay);
        delay = Math.min(this.o.maxDelayMs, delay * 2);
      }
    }
  }

  private recovered(): void {
    if (this.downSince === undefined) return;
    this.opts.log.info("the output takes writes again", { down_s: (Date.now() - this.downSince) / 1000 });
    this.downSince = undefined;
  }
}
