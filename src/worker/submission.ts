/**
 * What passes through the batcher (batcher.ts): a submission's sample entries (a task's K samples, or a
 * Generate call's few), each sample's outcome (an image or an error), and the submission's `done`, which
 * settles once every sample is done and its onSample callbacks (the writes) have finished.
 */

import type { SampleRequest } from "../common/contract/sample.js";
import { type ErrorCode, isLatentFleetError, type LatentFleetError } from "../common/errors.js";

/**
 * One generated image: packed 8-bit RGB, or the VAE's planar floats in [-1, 1] (what a worker's engine
 * returns: its PNG threads make the bytes, off the engine thread).
 */
export type EngineImage = { width: number; height: number; warnings: string[] } & (
  | { rgb: Uint8Array }
  | { pixels: Float32Array }
);

/** What the batcher needs of an engine: one batch of same-key requests in, one image per request out. */
export interface BatchEngine {
  generate(requests: SampleRequest[]): Promise<{ samples: EngineImage[] }>;
}

export type SampleOutcome =
  | { ok: true; image: EngineImage }
  | { ok: false; code: ErrorCode; message: string };

/** A sample entry of a submission: a request to run, or an error found before any engine work (bad spec). */
export type SampleEntry = SampleRequest | LatentFleetError;

export interface SubmitOptions {
  /**
   * Called once per sample as soon as it is done (successful or not). `done` waits for the promises it
   * returns, and rejects with the first error one of them throws (after every sample is done).
   */
  onSample?: (index: number, outcome: SampleOutcome) => void | Promise<void>;
}

/** Samples submitted to the batcher together. */
export interface Submission {
  /** Samples in the submission. */
  readonly size: number;
  /**
   * True once one of its samples went to the engine: a drain finishes a started submission, never
   * withdraws it.
   */
  readonly started: boolean;
  /** True once `done` has settled. */
  readonly settled: boolean;
  /**
   * The outcome of every sample, in entry order. Rejects with WORKER_DRAINING when the submission was
   * withdrawn before it started, or with the fatal engine error.
   */
  readonly done: Promise<SampleOutcome[]>;
}

/** A submission's samples and their outcomes, as they come in. */
export class SubmissionTracker implements Submission {
  started = false;
  settled = false;
  private readonly outcomes: (SampleOutcome | undefined)[];
  private remaining: number;
  private readonly callbacks: Promise<void>[] = [];
  readonly done: Promise<SampleOutcome[]>;
  private resolve!: (outcomes: SampleOutcome[]) => void;
  private reject!: (err: unknown) => void;

  constructor(
    readonly size: number,
    private readonly onSample: SubmitOptions["onSample"],
  ) {
    this.outcomes = new Array<SampleOutcome | undefined>(size).fill(undefined);
    this.remaining = size;
    this.done = new Promise<SampleOutcome[]>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A caller that drops a withdrawn or failed submission must not crash the process with an unhandled rejection.
    this.done.catch(() => undefined);
  }

  /** Records a sample's outcome; false when it had one already or the submission settled (nothing done). */
  record(index: number, outcome: SampleOutcome): boolean {
    if (this.settled || this.outcomes[index] !== undefined) return false;
    this.outcomes[index] = outcome;
    this.remaining--;
    return true;
  }

  /** Tells onSample about a recorded sample, and settles `done` once every sample is done. */
  notify(index: number, outcome: SampleOutcome): void {
    if (this.onSample) {
      try {
        const r = this.onSample(index, outcome);
        if (r) {
          // settleIfDone looks at it once every sample is done. A rejection before that (an image that
          // cannot be written while the task's next batch still runs) must not be an unhandled rejection
          // meanwhile: Node would end the whole worker process for it.
          r.catch(() => undefined);
          this.callbacks.push(r);
        }
      } catch (err) {
        const rejected = Promise.reject(err);
        rejected.catch(() => undefined);
        this.callbacks.push(rejected);
      }
    }
    this.settleIfDone();
  }

  /**
   * Once every sample is done: resolves with the outcomes after the onSample promises settle, or rejects
   * with the first of them that failed.
   */
  settleIfDone(): void {
    if (this.settled || this.remaining > 0) return;
    void Promise.allSettled(this.callbacks).then((results) => {
      if (this.settled) return;
      this.settled = true;
      const bad = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (bad) this.reject(bad.reason);
      else this.resolve(this.outcomes as SampleOutcome[]);
    });
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }
}

/** An engine that cannot run anything any more: closed, or its thread crashed or exited (ENGINE_DEAD). */
export function isEngineDead(err: unknown): boolean {
  return isLatentFleetError(err) && (err.code === "ENGINE_DEAD" || err.code === "ENGINE_CLOSED");
}

export function errorCode(err: unknown): ErrorCode {
  return isLatentFleetError(err) ? err.code : "ENGINE_FAILED";
}
