/**
 * Writes a job's final state to its record, with the job's counts, unless another final state got there
 * first. A write that still fails after the job store's own retries is tried again later (1 s, doubling up
 * to 30 s), until it lands or the writer is stopped: a job is never left neither running nor ended while its
 * coordinator runs.
 */
import type { JobStateName } from "../common/contract/job.js";
import type { Logger } from "../common/log.js";
import type { JobSnapshot } from "./job-snapshot.js";
import { type CoordinatorJobRecord, isFinalState } from "./job-store.js";

/** A final state that could not be written is tried again after this, doubling up to the max. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

export type RecordChange = (r: CoordinatorJobRecord) => CoordinatorJobRecord | null;

export interface FinalStateWriterOptions {
  /** Applies a change to the job's record (compare-and-set in the job store). */
  update: (change: RecordChange) => Promise<void>;
  /** The job's counts now: each try writes the latest. */
  snapshot: () => JobSnapshot;
  /** Called once, after the final state is written, with the counts it was written with. */
  onWritten: (written: JobSnapshot) => Promise<void>;
  log: Logger;
}

export class FinalStateWriter {
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: FinalStateWriterOptions) {}

  /** Writes `state`; resolves once it is written, or once a later try is scheduled. */
  async write(state: JobStateName, error?: string, attempt = 1): Promise<void> {
    const snap = this.o.snapshot();
    const now = Date.now();
    try {
      await this.o.update((r) => (isFinalState(r.state) ? null : finalRecord(r, state, now, snap, error)));
    } catch (err) {
      if (this.stopped) {
        this.o.log.error("cannot write the job's final state", { state, err });
        return;
      }
      const retryMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(attempt - 1, 10));
      this.o.log.error("cannot write the job's final state; trying again later", {
        state,
        attempt,
        retry_ms: retryMs,
        err,
      });
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.write(state, error, attempt + 1), retryMs);
      return;
    }
    await this.o.onWritten(snap);
  }

  /** No more tries (the coordinator stops handling the job). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }
}

/** The record with its final state, the time it ended and the job's counts. */
function finalRecord(
  r: CoordinatorJobRecord,
  state: JobStateName,
  finishedAtMs: number,
  snap: JobSnapshot,
  error: string | undefined,
): CoordinatorJobRecord {
  return {
    ...r,
    state,
    finished_at_ms: finishedAtMs,
    samples_total: snap.samplesTotal ?? r.samples_total,
    shards_total: snap.shardsTotal ?? r.shards_total,
    samples_done: snap.samplesDone,
    samples_failed: snap.samplesFailed,
    shards_done: snap.shardsDone,
    shards_reused: snap.shardsReused,
    samples_reused: snap.samplesReused,
    rows_rejected: snap.rowsRejected,
    ...(error === undefined ? {} : { error }),
  };
}
