/**
 * Fair sharing of the workers between jobs.
 *
 * Workers of a model pull from one durable consumer on LF_TASKS, first in, first out. A job that published
 * all of its tasks at once would put every job submitted after it behind all of them: a job of ten hours
 * would hold up one of ten minutes for ten hours. So the coordinator keeps only a short queue of tasks per
 * model ahead of the workers, enough that no worker waits for work, and the jobs that have tasks to publish
 * take turns filling it, round-robin, a turn being up to TASKS_PER_TURN tasks (published together: one socket
 * write for all of them rather than one each). A new job's first task is then at most about `target` tasks
 * from the head of the queue, and running jobs share the workers evenly, turn for turn.
 *
 * The queue's length is read from the model's consumer (tasks not yet delivered), at most every `pollMs`
 * while some job waits, and counted up by one with each turn granted in between. Its target grows with how
 * fast the workers take tasks: twice what they take between two reads, at least `minQueued`. A model no
 * worker has pulled yet (no consumer) counts every task of it in the stream as queued.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { errorMessage, type Logger } from "../common/log.js";
import { TASKS_STREAM, taskSubject, workersConsumerName } from "../common/nats/names.js";
import { COORDINATOR_OPTIONS } from "../common/options/index.js";

/** Most tasks one turn grants: fairness between jobs at this granularity, one write for all of them. */
export const TASKS_PER_TURN = 8;

export const FAIR_QUEUE_DEFAULTS = {
  /** Fewest tasks kept queued per model (--queue-ahead). */
  minQueued: COORDINATOR_OPTIONS.queueAhead.default,
  /** Most tasks kept queued per model, however fast the workers are. */
  maxQueued: 4096,
  pollMs: 250,
} as const;

export interface FairQueueOptions {
  jsm: JetStreamManager;
  log: Logger;
  minQueued?: number;
  maxQueued?: number;
  pollMs?: number;
}

interface Waiter {
  /** With the tasks granted. */
  resolve: (granted: number) => void;
  /** Tasks asked for. */
  want: number;
  reject: (err: unknown) => void;
  signal: AbortSignal;
}

interface ModelQueue {
  /** Jobs with a turn to take, in turn order (a Map keeps insertion order); each job's waiters in order. */
  waiting: Map<string, Waiter[]>;
  /** Tasks queued, as last read plus the tasks granted since. */
  queued: number;
  target: number;
  readAt: number;
  /** The consumer's delivered count at the last read, for the rate. */
  delivered: number | undefined;
  pumping: boolean;
}

export class FairQueue {
  private readonly models = new Map<string, ModelQueue>();
  /**
   * Signals with an abort listener of this queue: one listener per signal (a job's), for all its turns,
   * rather than one added and removed per turn.
   */
  private readonly watched = new WeakSet<AbortSignal>();
  private readonly o: Required<Omit<FairQueueOptions, "jsm" | "log">>;
  private stopped = false;

  constructor(private readonly opts: FairQueueOptions) {
    this.o = {
      minQueued: opts.minQueued ?? FAIR_QUEUE_DEFAULTS.minQueued,
      maxQueued: Math.max(opts.maxQueued ?? FAIR_QUEUE_DEFAULTS.maxQueued, opts.minQueued ?? 0),
      pollMs: opts.pollMs ?? FAIR_QUEUE_DEFAULTS.pollMs,
    };
  }

  /**
   * Resolves when `jobId` may publish its next tasks of `model`, with how many: 1 to `want` (at most
   * TASKS_PER_TURN, and no more than the queue's room beyond the first); rejects with the signal's reason
   * on abort.
   */
  turn(model: string, jobId: string, signal: AbortSignal, want = 1): Promise<number> {
    signal.throwIfAborted();
    const q = this.queueOf(model);
    if (!this.watched.has(signal)) {
      this.watched.add(signal);
      signal.addEventListener("abort", () => this.abortWaiters(signal), { once: true });
    }
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, want };
      const list = q.waiting.get(jobId);
      if (list) list.push(waiter);
      else q.waiting.set(jobId, [waiter]);
      void this.pump(model, q);
    });
  }

  /** Rejects, with its reason, every turn still awaited under `signal`. */
  private abortWaiters(signal: AbortSignal): void {
    for (const q of this.models.values()) {
      for (const [jobId, list] of q.waiting) {
        const kept = list.filter((w) => w.signal !== signal);
        if (kept.length === list.length) continue;
        if (kept.length > 0) q.waiting.set(jobId, kept);
        else q.waiting.delete(jobId);
        for (const w of list) if (w.signal === signal) w.reject(signal.reason);
      }
    }
  }

  /** Jobs waiting for a turn, over all models (metrics, tests). */
  get waitingJobs(): number {
    let n = 0;
    for (const q of this.models.values()) n += q.waiting.size;
    return n;
  }

  stop(): void {
    this.stopped = true;
  }

  private queueOf(model: string): ModelQueue {
    let q = this.models.get(model);
    if (!q) {
      q = {
        waiting: new Map(),
        queued: 0,
        target: this.o.minQueued,
        readAt: 0,
        delivered: undefined,
        pumping: false,
      };
      this.models.set(model, q);
    }
    return q;
  }

  private async pump(model: string, q: ModelQueue): Promise<void> {
    if (q.pumping) return;
    q.pumping = true;
    try {
      while (q.waiting.size > 0 && !this.stopped) {
        if (Date.now() - q.readAt >= this.o.pollMs) await this.read(model, q);
        if (q.queued >= q.target) {
          await sleep(this.o.pollMs);
          continue;
        }
        // The job whose turn it is goes to the back of the line (it comes back with its next task).
        const [jobId, list] = q.waiting.entries().next().value as [string, Waiter[]];
        q.waiting.delete(jobId);
        const waiter = list.shift() as Waiter;
        if (list.length > 0) q.waiting.set(jobId, list);
        const granted = Math.max(1, Math.min(waiter.want, TASKS_PER_TURN, q.target - q.queued));
        q.queued += granted;
        waiter.resolve(granted);
        // Let the job publish and ask for its next turn before the next one is handed out.
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      q.pumping = false;
    }
  }

  /**
   * Reads the queue's length and the workers' pace; on failure (NATS away, no leader) keeps the count it
   * has. Only a consumer that does not exist yet sends it to the stream's count.
   */
  private async read(model: string, q: ModelQueue): Promise<void> {
    const now = Date.now();
    try {
      const info = await this.opts.jsm.consumers.info(TASKS_STREAM, workersConsumerName(model));
      const delivered = info.delivered.consumer_seq;
      if (q.delivered !== undefined && q.readAt > 0) {
        const taken = Math.max(0, delivered - q.delivered);
        const perPoll = (taken * this.o.pollMs) / Math.max(1, now - q.readAt);
        q.target = Math.min(this.o.maxQueued, Math.max(this.o.minQueued, Math.ceil(2 * perPoll)));
      }
      q.delivered = delivered;
      q.queued = info.num_pending;
    } catch (err) {
      // Any failure but a missing consumer (no answer while a leader is elected) keeps the count.
      const counted = isConsumerMissing(err) && (await this.readStream(model, q));
      if (!counted) {
        this.opts.log.debug("cannot read the task queue; keeping the count", {
          model,
          error: errorMessage(err),
        });
      }
    }
    q.readAt = now;
  }

  /** No consumer yet: every task of the model in the stream counts as queued. False when unread. */
  private async readStream(model: string, q: ModelQueue): Promise<boolean> {
    try {
      const subject = taskSubject(model);
      const info = await this.opts.jsm.streams.info(TASKS_STREAM, { subjects_filter: subject });
      q.queued = info.state.subjects?.[subject] ?? 0;
      return true;
    } catch {
      return false;
    }
  }
}

function isConsumerMissing(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound;
}
