/**
 * Job state and publishing cursors in the LF_JOBS KV bucket. Every write is compare-and-set on the
 * entry's revision, so two coordinators (an old one not quite dead, a new one) never silently overwrite
 * each other: the record update retries on a fresh read, the cursor write reports a conflict.
 *
 * Every write and every read rides out a leader election of the bucket (retryNatsWrite; a read is
 * idempotent, so it is simply tried again): a status call, or a coordinator resuming its jobs while the
 * bucket elects a leader, waits for it instead of failing. A read on its own gives up sooner than a write
 * (NATS_READ_RETRY: its caller is waiting for the answer); the read an update depends on is the write's. A write that timed out may have been applied: its retry then meets a wrong last
 * sequence, so the entry is read back, and when it holds exactly what was written the write counts as
 * done (at the revision read), never applied a second time.
 */
import type { KV } from "@nats-io/kv";
import { FINAL_JOB_STATES, type JobRecord, type JobStateName } from "../common/contract/job.js";
import type { OutputFormatName } from "../common/contract/output-formats.js";
import type { Logger } from "../common/log.js";
import {
  isWrongLastSequence,
  jobCursorKey,
  jobStateKey,
  NATS_READ_RETRY,
  type NatsRetryPolicy,
  retryNatsWrite,
  warnOnRetry,
} from "../common/nats/index.js";

/** The coordinator's job record: the shared JobRecord plus what a restarted coordinator needs. */
export interface CoordinatorJobRecord extends JobRecord {
  output_format: OutputFormatName;
  /** Most samples per shard (the sharder also cuts earlier to keep a task under the message limit). */
  shard_size: number;
  /** First LF_RESULTS sequence that can hold a result of this job (the stream's last sequence + 1 at submit). */
  results_from_seq: number;
  /** Remove an earlier run's outputs before publishing, instead of reusing its complete shards. */
  overwrite?: boolean;
  /** Failed samples + rejected rows allowed, as written ("3", "2.5%"); absent: none. */
  max_failed?: string;
  /** Final counts, written with the final state (live counts are kept in memory and folded from LF_RESULTS). */
  samples_done?: number;
  shards_reused?: number;
  samples_reused?: number;
  samples_failed?: number;
  rows_rejected?: number;
  shards_done?: number;
}

/** Where publishing stands: shards below next_shard are in LF_TASKS (acknowledged by the stream). */
export interface JobCursor {
  next_shard: number;
  /** Samples in shards below next_shard (the first sample index of shard next_shard). */
  samples_emitted: number;
  /** Every shard is published; next_shard is then the number of shards. */
  done: boolean;
  /** Rows rejected by validation, known when done. */
  rows_rejected?: number;
  /** Why publishing stopped early (the manifest could not be read to its end). */
  error?: string;
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** Another writer changed the entry since we read it. */
export class StaleRevisionError extends Error {
  override readonly name = "StaleRevisionError";
}

export function isFinalState(state: JobStateName): boolean {
  return FINAL_JOB_STATES.includes(state);
}

const encoder = new TextEncoder();

export interface JobStoreOptions {
  /** How long a write waits out a bucket without a leader (default NATS_WRITE_RETRY). */
  retry?: NatsRetryPolicy;
  /** How long a read (get, list, getCursor) waits it out (default NATS_READ_RETRY). */
  readRetry?: NatsRetryPolicy;
  /** Told of each retried write or read. */
  log?: Logger;
}

export class JobStore {
  constructor(
    private readonly kv: KV,
    private readonly opts: JobStoreOptions = {},
  ) {}

  async create(record: CoordinatorJobRecord): Promise<number> {
    return this.write(jobStateKey(record.job_id), encoder.encode(JSON.stringify(record)), null);
  }

  async get(jobId: string): Promise<Versioned<CoordinatorJobRecord> | null> {
    return this.readRecord(jobId, this.readPolicy);
  }

  private async readRecord(
    jobId: string,
    policy: NatsRetryPolicy | undefined,
  ): Promise<Versioned<CoordinatorJobRecord> | null> {
    const entry = await this.retried(() => this.kv.get(jobStateKey(jobId)), policy);
    if (entry?.operation !== "PUT" || entry.length === 0) return null;
    return { value: entry.json<CoordinatorJobRecord>(), revision: entry.revision };
  }

  /**
   * Applies `change` to the current record and writes it with CAS, re-reading and re-applying on a
   * conflict. `change` returns null to leave the record as it is. Returns the record as stored, or null
   * when there is no such job.
   */
  async update(
    jobId: string,
    change: (record: CoordinatorJobRecord) => CoordinatorJobRecord | null,
  ): Promise<CoordinatorJobRecord | null> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.readRecord(jobId, this.opts.retry);
      if (!current) return null;
      const next = change(current.value);
      if (!next) return current.value;
      try {
        await this.write(jobStateKey(jobId), encoder.encode(JSON.stringify(next)), current.revision);
        return next;
      } catch (err) {
        if (!isWrongLastSequence(err) || attempt >= 20) throw err;
      }
    }
  }

  /** Every job record in the bucket, newest first (job ids sort by submission time). */
  async list(): Promise<CoordinatorJobRecord[]> {
    // Listed again from the start when the bucket stops answering part way: a key list may be stale by then.
    const records = await this.retried(() => this.readAll(), this.readPolicy);
    return records.sort((a, b) => (a.job_id < b.job_id ? 1 : a.job_id > b.job_id ? -1 : 0));
  }

  private async readAll(): Promise<CoordinatorJobRecord[]> {
    const keys: string[] = [];
    // jobStateKey(id) is `job.<token>`.
    for await (const key of await this.kv.keys("job.*")) keys.push(key);
    const records: CoordinatorJobRecord[] = [];
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry && entry.operation === "PUT" && entry.length > 0)
        records.push(entry.json<CoordinatorJobRecord>());
    }
    return records;
  }

  async getCursor(jobId: string): Promise<Versioned<JobCursor> | null> {
    const entry = await this.retried(() => this.kv.get(jobCursorKey(jobId)), this.readPolicy);
    if (entry?.operation !== "PUT" || entry.length === 0) return null;
    return { value: entry.json<JobCursor>(), revision: entry.revision };
  }

  /**
   * Writes the cursor if it still has `revision` (null: if there is none yet); returns the new revision.
   * Throws StaleRevisionError when someone else wrote it meanwhile.
   */
  async putCursor(jobId: string, cursor: JobCursor, revision: number | null): Promise<number> {
    const data = encoder.encode(JSON.stringify(cursor));
    try {
      return await this.write(jobCursorKey(jobId), data, revision);
    } catch (err) {
      // For create() too: a key that already has a value is a wrong last sequence (expected 0).
      if (isWrongLastSequence(err)) {
        throw new StaleRevisionError(`the publishing cursor of job ${jobId} was changed by another writer`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  /**
   * Writes `data` if the entry still has `revision` (null: if it has no value yet), retrying while the
   * bucket has no leader; returns the new revision. See the file's comment for a write that timed out.
   */
  private async write(key: string, data: Uint8Array, revision: number | null): Promise<number> {
    let ambiguous = false;
    try {
      return await this.retried((attempt) => {
        ambiguous ||= attempt > 1;
        return revision === null ? this.kv.create(key, data) : this.kv.update(key, data, revision);
      });
    } catch (err) {
      if (!ambiguous || !isWrongLastSequence(err)) throw err;
      const landed = await this.retried(() => this.kv.get(key));
      const ours =
        landed?.operation === "PUT" &&
        landed.revision > (revision ?? 0) &&
        Buffer.from(landed.value).equals(Buffer.from(data));
      if (!landed || !ours) throw err;
      this.opts.log?.info("a write that timed out had been applied", { key, revision: landed.revision });
      return landed.revision;
    }
  }

  private get readPolicy(): NatsRetryPolicy {
    return this.opts.readRetry ?? NATS_READ_RETRY;
  }

  /** `op` retried under `policy` (default: the writes'). */
  private retried<T>(op: (attempt: number) => Promise<T>, policy = this.opts.retry): Promise<T> {
    return retryNatsWrite(op, {
      policy,
      onRetry: warnOnRetry(this.opts.log, "the job bucket did not answer; retrying"),
    });
  }
}
