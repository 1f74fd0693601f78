/**
 * The batcher: takes submissions of samples (a task's K samples, or a Generate call's few), groups samples
 * that can share an engine batch (same batch key: size, steps, scheduler, guidance mode) across
 * submissions into batches of up to B, runs them on the engine, and tells each submission when all of its
 * samples are done (submission.ts).
 *
 * - Order: the oldest waiting sample's key goes first and a batch takes samples oldest first, so
 *   submissions (tasks) finish roughly in the order they came in and none starves.
 * - Keeping the engine busy: up to `pipelineDepth` batches (default 2) are handed to the engine at once, so
 *   while one runs the next is already assembled and queued in the engine thread; the gap between batches
 *   is not a round trip through this thread (which may be busy encoding PNGs). A second batch is only
 *   queued when it is full; a partial batch waits until the engine is about to go idle, in case more
 *   samples of its key arrive.
 * - Failures: a batch that fails with OUT_OF_MEMORY is retried as two halves, recursively, and only a
 *   single sample that still runs out of memory is given up; later batches of that key are capped at the
 *   size that fitted. A batch that fails with another error is retried sample by sample, so one bad sample
 *   is reported with its own error while the rest complete. An error after which the engine is unusable
 *   (`isFatal`, e.g. a crashed engine thread) fails every submission at once: their samples were not wrong, the
 *   tasks should be redelivered, not reported failed.
 *
 * Independent of NATS and of the engine thread: anything with `generate(requests)` can drive it.
 */
import { performance } from "node:perf_hooks";
import type { SampleRequest } from "../common/contract/sample.js";
import { LatentFleetError } from "../common/errors.js";
import { errorMessage, type Logger, silentLogger } from "../common/log.js";
import type { WorkerStats } from "./stats.js";
import {
  type BatchEngine,
  type EngineImage,
  errorCode,
  isEngineDead,
  type SampleEntry,
  type SampleOutcome,
  type Submission,
  SubmissionTracker,
  type SubmitOptions,
} from "./submission.js";

export interface BatcherOptions {
  engine: BatchEngine;
  /** Largest engine batch (B). */
  batchSize: number;
  /** Samples with equal keys may share a batch. */
  batchKey: (req: SampleRequest) => string;
  /** Batches handed to the engine at once (default 2: one running, the next queued behind it). */
  pipelineDepth?: number;
  /** Errors that leave the engine unusable (default: isEngineDead). */
  isFatal?: (err: unknown) => boolean;
  /**
   * When the engine is idle and only a partial batch is waiting, and samples are on their way (see
   * expectMore), wait up to this long for them before sending the partial batch (default 0: never wait).
   * Start-up and bursts then fill whole batches.
   */
  lingerMs?: number;
  stats?: WorkerStats;
  /** Called once per finished sample, successful or not (metrics). */
  onSampleDone?: (outcome: SampleOutcome) => void;
  log?: Logger;
}

interface Item {
  submission: SubmissionTracker;
  index: number;
  request: SampleRequest;
  key: string;
}

export class Batcher {
  private readonly queue: Item[] = [];
  private readonly caps = new Map<string, number>();
  private inFlight = 0;
  private failure: unknown;
  private closedReason: LatentFleetError | undefined;
  private readonly depth: number;
  private readonly isFatal: (err: unknown) => boolean;
  private readonly log: Logger;
  private idleWaiters: (() => void)[] = [];
  private readonly runningBatches = new Set<Item[]>();
  private perSample: number | undefined;
  private pumpScheduled = false;
  private moreComing = false;
  private lingerSince: number | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private lastFinishedAt = 0;

  constructor(private readonly opts: BatcherOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
      throw new LatentFleetError(
        "INVALID_ARGUMENT",
        `batch size must be a positive integer, got ${opts.batchSize}`,
      );
    }
    this.depth = Math.max(1, opts.pipelineDepth ?? 2);
    this.isFatal = opts.isFatal ?? isEngineDead;
    this.log = opts.log ?? silentLogger;
  }

  get batchSize(): number {
    return this.opts.batchSize;
  }

  /** Samples waiting for a batch (not yet handed to the engine). */
  get queued(): number {
    return this.queue.length;
  }

  /** Batches handed to the engine and not finished. */
  get running(): number {
    return this.inFlight;
  }

  /** Engine seconds per sample (smoothed over recent batches); undefined before the first batch. */
  get secondsPerSample(): number | undefined {
    return this.perSample;
  }

  /** The fatal engine error, once there was one. */
  get fatalError(): unknown {
    return this.failure;
  }

  /** Adds samples; they join the queue at once. Entries that are errors fail without engine work. */
  submit(entries: readonly SampleEntry[], opts: SubmitOptions = {}): Submission {
    const submission = new SubmissionTracker(entries.length, opts.onSample);
    if (this.failure !== undefined) {
      submission.fail(this.failure);
      return submission;
    }
    if (this.closedReason) {
      submission.fail(this.closedReason);
      return submission;
    }
    const items: Item[] = [];
    entries.forEach((entry, index) => {
      if (entry instanceof LatentFleetError) {
        this.finish(submission, index, { ok: false, code: entry.code, message: entry.message });
      } else {
        items.push({ submission, index, request: entry, key: this.opts.batchKey(entry) });
      }
    });
    submission.settleIfDone();
    this.queue.push(...items);
    this.schedulePump();
    return submission;
  }

  /**
   * Takes back every submission none of whose samples went to the engine (their `done` rejects with
   * WORKER_DRAINING) and returns them; started ones run to the end. With `close`, later submits are
   * refused the same way.
   */
  withdrawUnstarted(opts: { close?: boolean } = {}): Submission[] {
    const reason = new LatentFleetError("WORKER_DRAINING", "the worker is draining");
    if (opts.close) this.closedReason = reason;
    const withdrawn = new Set<SubmissionTracker>();
    for (const { submission } of this.queue) {
      if (!submission.started && !submission.settled) withdrawn.add(submission);
    }
    if (withdrawn.size === 0) return [];
    const keep = this.queue.filter((item) => !withdrawn.has(item.submission));
    this.queue.splice(0, this.queue.length, ...keep);
    for (const submission of withdrawn) submission.fail(reason);
    this.notifyIdle();
    return [...withdrawn];
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Pumps on the next turn of the event loop, once: samples submitted in the same turn (a fetch delivers
   * several tasks at once) are grouped before the first batch leaves.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Whoever feeds the batcher tells it whether samples are on their way (a pull request is out, a
   * delivered task is being read): while they are, an idle engine waits up to lingerMs to fill a batch.
   */
  expectMore(onTheirWay: boolean): void {
    const was = this.moreComing;
    this.moreComing = onTheirWay;
    if (was && !onTheirWay) this.schedulePump();
  }

  /** Hands batches to the engine while there is room in the pipeline and work worth sending. */
  private pump(): void {
    while (this.failure === undefined && this.inFlight < this.depth && this.queue.length > 0) {
      const batch = this.nextBatch(this.inFlight === 0 && !this.lingering());
      if (!batch) return;
      this.lingerSince = undefined;
      this.inFlight++;
      for (const item of batch) item.submission.started = true;
      this.runningBatches.add(batch);
      void this.runBatch(batch)
        .catch((err: unknown) => this.failAll(err))
        .finally(() => {
          this.runningBatches.delete(batch);
          this.inFlight--;
          this.pump();
          this.notifyIdle();
        });
    }
  }

  /** True while a partial batch should wait for samples on their way (bounded by lingerMs). */
  private lingering(): boolean {
    const lingerMs = this.opts.lingerMs ?? 0;
    if (lingerMs <= 0 || !this.moreComing) {
      this.lingerSince = undefined;
      return false;
    }
    const now = performance.now();
    this.lingerSince ??= now;
    const left = this.lingerSince + lingerMs - now;
    if (left <= 0) return false;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(() => this.pump(), Math.ceil(left));
    return true;
  }

  /**
   * The batch to run next, removed from the queue: the oldest sample's key, up to the key's cap, oldest
   * samples first. When the engine already has work (`allowPartial` false) only a full batch is worth
   * queueing behind it; the first key in queue order that can fill one is taken.
   */
  private nextBatch(allowPartial: boolean): Item[] | undefined {
    const keys: string[] = [];
    const counts = new Map<string, number>();
    for (const item of this.queue) {
      const n = counts.get(item.key);
      if (n === undefined) keys.push(item.key);
      counts.set(item.key, (n ?? 0) + 1);
    }
    const key = allowPartial ? keys[0] : keys.find((k) => (counts.get(k) ?? 0) >= this.capOf(k));
    if (key === undefined) return undefined;
    const cap = this.capOf(key);
    const batch: Item[] = [];
    const rest: Item[] = [];
    for (const item of this.queue) {
      if (item.key === key && batch.length < cap) batch.push(item);
      else rest.push(item);
    }
    this.queue.splice(0, this.queue.length, ...rest);
    return batch;
  }

  private capOf(key: string): number {
    return this.caps.get(key) ?? this.opts.batchSize;
  }

  private async runBatch(items: Item[]): Promise<void> {
    if (this.failure !== undefined || items.length === 0) return;
    let samples: EngineImage[];
    const handedAt = performance.now();
    try {
      const result = await this.opts.engine.generate(items.map((i) => i.request));
      if (result.samples.length !== items.length) {
        throw new LatentFleetError(
          "ENGINE_FAILED",
          `the engine returned ${result.samples.length} images for a batch of ${items.length}`,
        );
      }
      samples = result.samples;
    } catch (err) {
      if (this.isFatal(err)) {
        this.failAll(err);
        return;
      }
      const code = errorCode(err);
      if (items.length === 1) {
        this.finish(items[0].submission, items[0].index, { ok: false, code, message: errorMessage(err) });
        return;
      }
      if (code === "OUT_OF_MEMORY") {
        const half = Math.ceil(items.length / 2);
        const key = items[0].key;
        if (half < this.capOf(key)) {
          this.caps.set(key, half);
          this.log.warn("out of memory: retrying as two halves; later batches of this shape are capped", {
            key,
            batch: items.length,
            cap: half,
          });
        }
        await this.runBatch(items.slice(0, half));
        // The second half in batches of the cap as it is now: the first half may have lowered it again.
        for (let i = half; i < items.length && this.failure === undefined; ) {
          const n = this.capOf(key);
          await this.runBatch(items.slice(i, i + n));
          i += n;
        }
        return;
      }
      this.log.warn("batch failed: retrying its samples one by one", {
        batch: items.length,
        code,
        error: errorMessage(err),
      });
      for (const item of items) await this.runBatch([item]);
      return;
    }
    this.noteSpeed(items.length, handedAt);
    this.log.debug("batch done", {
      key: items[0].key,
      size: items.length,
      ms: Math.round(performance.now() - handedAt),
    });
    items.forEach((item, i) => {
      this.finish(item.submission, item.index, { ok: true, image: samples[i] });
    });
  }

  /**
   * Engine time of a batch: from when it was handed over, or when the batch before it finished if that was
   * later (the engine runs batches one after the other), to its result.
   */
  private noteSpeed(samples: number, handedAt: number): void {
    const now = performance.now();
    const seconds = (now - Math.max(handedAt, this.lastFinishedAt)) / 1000 / samples;
    this.lastFinishedAt = now;
    this.perSample = this.perSample === undefined ? seconds : 0.8 * this.perSample + 0.2 * seconds;
  }

  private finish(submission: SubmissionTracker, index: number, outcome: SampleOutcome): void {
    if (!submission.record(index, outcome)) return;
    this.opts.stats?.record(outcome.ok ? 1 : 0, outcome.ok ? 0 : 1);
    this.opts.onSampleDone?.(outcome);
    submission.notify(index, outcome);
  }

  /** The engine is gone: every submission, queued or running, fails with its error; nothing runs any more. */
  private failAll(err: unknown): void {
    if (this.failure === undefined) {
      this.failure = err;
      this.log.error("the engine failed; no more batches will run", { error: errorMessage(err) });
    }
    const submissions = new Set(this.queue.map((i) => i.submission));
    this.queue.length = 0;
    for (const submission of submissions) submission.fail(err);
    for (const batch of this.runningBatches) for (const item of batch) item.submission.fail(err);
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.inFlight > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
