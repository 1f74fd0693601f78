/**
 * Folding task results into a job's counts, idempotent per shard: JetStream may deliver a task more than
 * once, so a shard can have several results. A shard counts once; a worker's result beats a dead-letter
 * report whichever comes first (the images are there), and any later result of a counted shard is ignored.
 * Per-shard state is a byte and two counters in growable typed arrays, so ten million samples cost a few MB.
 */
import type { SampleResult, TaskResult } from "../common/contract/task.js";

const NONE = 0;
const OK = 1;
const DEAD = 2;

export interface FoldOutcome {
  /** The result changed the counts. */
  counted: boolean;
  /** Samples that failed in this result (for errors.jsonl). */
  failures: SampleResult[];
  /** A dead-letter report this result replaced: its samples' error lines are stale. */
  replacedDead: boolean;
  /** Samples newly done (for the images/s rate). */
  newlyDone: number;
}

export class JobFold {
  private outcome = new Uint8Array(1024);
  private doneBy = new Uint32Array(1024);
  private failedBy = new Uint32Array(1024);
  samplesDone = 0;
  samplesFailed = 0;
  shardsFolded = 0;

  apply(result: TaskResult): FoldOutcome {
    const { shard } = result;
    const ignored: FoldOutcome = { counted: false, failures: [], replacedDead: false, newlyDone: 0 };
    if (!Number.isSafeInteger(shard) || shard < 0) return ignored;
    this.ensure(shard);
    const prev = this.outcome[shard];
    const dead = result.dead_lettered;
    if (prev === OK || (prev === DEAD && dead)) return ignored;
    let replacedDead = false;
    if (prev === DEAD) {
      this.samplesDone -= this.doneBy[shard];
      this.samplesFailed -= this.failedBy[shard];
      replacedDead = true;
    } else {
      this.shardsFolded++;
    }
    let done = 0;
    const failures: SampleResult[] = [];
    for (const s of result.samples) {
      if (s.ok && !dead) done++;
      else failures.push(s);
    }
    this.outcome[shard] = dead ? DEAD : OK;
    this.doneBy[shard] = done;
    this.failedBy[shard] = failures.length;
    this.samplesDone += done;
    this.samplesFailed += failures.length;
    return { counted: true, failures, replacedDead, newlyDone: done };
  }

  /** The shard was folded from a worker's result with at least one image. */
  hasImages(shard: number): boolean {
    return shard < this.outcome.length && this.outcome[shard] === OK && this.doneBy[shard] > 0;
  }

  /** The shards folded from a dead-letter report (no worker's result replaced it). */
  *deadShards(): Generator<number> {
    for (let s = 0; s < this.outcome.length; s++) if (this.outcome[s] === DEAD) yield s;
  }

  isFolded(shard: number): boolean {
    return shard < this.outcome.length && this.outcome[shard] !== NONE;
  }

  private ensure(shard: number): void {
    if (shard < this.outcome.length) return;
    let n = this.outcome.length;
    while (n <= shard) n *= 2;
    const grow = <T extends Uint8Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.outcome = grow(this.outcome, (k) => new Uint8Array(k));
    this.doneBy = grow(this.doneBy, (k) => new Uint32Array(k));
    this.failedBy = grow(this.failedBy, (k) => new Uint32Array(k));
  }
}
