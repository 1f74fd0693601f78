/**
 * The publisher of one job: expands the manifest, cuts the samples into shards, writes rejected rows to
 * errors.jsonl and each shard's sources to the where-index, publishes the shards as tasks with bounded
 * in-flight, and records its progress in the KV cursor.
 *
 * Re-runs: with `reuse`, a shard an earlier run into the same output completed (reuse.ts) is not published;
 * a result marked `reused` goes to LF_RESULTS in its place (through the same window, so the cursor moves on
 * as for a task), and the job folds it like any other: a restarted coordinator replays it too.
 *
 * Resume: the manifest is always expanded from its start (expansion and cuts are deterministic), shards
 * below the cursor's next_shard are skipped (their row errors and sources are written again, since a
 * restarted job rewrites those files), and the rest are published. The cursor lags the stream by up to
 * `cursorIntervalMs` plus the in-flight window; the shards in that gap are published again and dropped by
 * the stream's msg-id de-duplication.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { ErrorRow } from "../common/contract/job.js";
import type { TaskResult } from "../common/contract/task.js";
import { isLatentFleetError, LatentFleetError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import { type PublishPipe, pipeTask, publishResult, publishTask } from "../common/nats/index.js";
import { expandSpecRows, type JobSpec, type SourceAccess } from "../manifest/index.js";
import type { ErrorsFile } from "./errors-file.js";
import { TASKS_PER_TURN } from "./fair-queue.js";
import type { JobCursor, JobStore } from "./job-store.js";
import { PublishWindow } from "./publish-window.js";
import type { CompletedShards } from "./reuse.js";
import { rowBaseBytes, type Shard, Sharder, type TaskHeader, toTask } from "./sharder.js";
import type { WhereIndex } from "./where-index.js";

/** Least time between two writes of a job's publishing cursor: how much a restart may republish. */
export const DEFAULT_CURSOR_INTERVAL_MS = 500;

export interface PublishProgress {
  /** Shards in LF_TASKS (skipped ones of a resumed job included). */
  shardsPublished: number;
  /** Samples expanded so far. */
  samplesExpanded: number;
  rowsRejected: number;
}

export interface PublishOutcome {
  shardsTotal: number;
  /** Shards of this publishing pass kept from an earlier run, and those sent to workers. */
  shardsReused: number;
  shardsPublished: number;
  samplesTotal: number;
  rowsRejected: number;
  /** Why expansion stopped before the manifest's end (the shards before it are published). */
  error?: string;
}

export interface PublisherOptions {
  js: JetStreamClient;
  /** Tasks go through it when given (acks pipelined), else through js.publish one request each. */
  pipe?: PublishPipe;
  store: JobStore;
  log: Logger;
  task: TaskHeader;
  shardSize: number;
  spec: JobSpec;
  access: SourceAccess;
  where: WhereIndex;
  errors: ErrorsFile;
  signal: AbortSignal;
  /** Most publishes awaiting an ack (default: PublishWindow's). */
  windowSize?: number;
  /** Least time between cursor writes (default DEFAULT_CURSOR_INTERVAL_MS). */
  cursorIntervalMs?: number;
  onProgress?: (p: PublishProgress) => void;
  /** Called once per task the stream stored (not for a republished duplicate). */
  onPublished?: () => void;
  /**
   * Awaited before tasks are published (the job's turn, see fair-queue.ts), with how many are ready;
   * resolves with how many may go now (at least 1).
   */
  beforePublish?: (ready: number) => Promise<number>;
  /** Shards an earlier run completed; those that verify are reused instead of published. */
  reuse?: CompletedShards;
}

/** The manifest no longer expands to what was published before the restart. */
class ManifestChangedError extends LatentFleetError {
  constructor(what: string) {
    super("SPEC_INVALID", `the manifest changed since the job started: ${what}; submit it as a new job`);
  }
}

export async function publishJob(o: PublisherOptions): Promise<PublishOutcome> {
  const jobId = o.task.jobId;
  const saved = await o.store.getCursor(jobId);
  let revision = saved?.revision ?? null;
  const resume: JobCursor = saved?.value ?? { next_shard: 0, samples_emitted: 0, done: false };
  const cursorInterval = o.cursorIntervalMs ?? DEFAULT_CURSOR_INTERVAL_MS;
  const window = new PublishWindow({
    size: o.windowSize,
    signal: o.signal,
    // The first failure and every tenth: an outage retries each publish in flight about once a second.
    onRetry: (shard, attempt, err) => {
      if (attempt === 1 || attempt % 10 === 0)
        o.log.warn("publish failed, retrying", { job: jobId, shard, attempt, err });
    },
  });
  const sharder = new Sharder(o.shardSize);
  /** End sample index (exclusive) of each shard pushed and not yet behind the frontier. */
  const ends = new Map<number, number>();
  let recorded = resume.next_shard;
  let lastWrite = Date.now();
  let samples = 0;
  let rowsRejected = 0;
  let reused = 0;
  let published = 0;
  let error: string | undefined;
  if (saved) {
    o.log.info("resuming job", {
      job: jobId,
      next_shard: resume.next_shard,
      samples_emitted: resume.samples_emitted,
      done: resume.done,
    });
  }

  const writeCursor = async (cursor: JobCursor) => {
    revision = await o.store.putCursor(jobId, cursor, revision);
    recorded = cursor.next_shard;
    lastWrite = Date.now();
  };

  const maybeWriteCursor = async () => {
    const next = window.frontier + 1;
    if (next <= recorded || Date.now() - lastWrite < cursorInterval) return;
    const end = ends.get(next - 1);
    if (end === undefined) return;
    for (const s of ends.keys()) if (s < next - 1) ends.delete(s);
    await writeCursor({ next_shard: next, samples_emitted: end, done: false });
  };

  const progress = () =>
    o.onProgress?.({
      shardsPublished: Math.max(resume.next_shard, window.frontier + 1),
      samplesExpanded: samples,
      rowsRejected,
    });
  /**
   * Told as each shard lands, not only after a batch of rows: a batch's shards may wait their turns a long
   * while (--queue-ahead), and a resumed job would show none published until then.
   */
  let shownPublished = -1;
  const shardProgress = () => {
    if (Math.max(resume.next_shard, window.frontier + 1) === shownPublished) return;
    shownPublished = Math.max(resume.next_shard, window.frontier + 1);
    progress();
  };

  /** Shards cut and checked, waiting to go as tasks together (one turn, one socket write). */
  let ready: Shard[] = [];

  const publishTaskOf = (shard: Shard) => {
    published++;
    const task = toTask(o.task, shard);
    return async () => {
      const ack = await (o.pipe ? pipeTask(o.pipe, task) : publishTask(o.js, task));
      if (!ack.duplicate) o.onPublished?.();
      return ack;
    };
  };

  /**
   * Publishes the ready shards, as many per turn as the turn grants: those of one turn start in one
   * synchronous run (no await between them while the window has room), so the client writes them at once.
   */
  const publishReady = async () => {
    const shards = ready;
    ready = [];
    for (let i = 0; i < shards.length; ) {
      const granted = o.beforePublish ? await o.beforePublish(shards.length - i) : shards.length - i;
      const end = Math.min(shards.length, i + Math.max(1, granted));
      while (i < end) {
        if (window.free <= 0) await window.room();
        for (let room = window.free; room > 0 && i < end; room--, i++) {
          const shard = shards[i];
          window.start(shard.shard, publishTaskOf(shard));
        }
      }
      await maybeWriteCursor();
      shardProgress();
    }
  };

  const emit = async (shard: Shard) => {
    o.where.append(shard.shard, shard.firstIndex, shard.sources);
    if (shard.shard < resume.next_shard) return;
    if (shard.shard === resume.next_shard && shard.firstIndex !== resume.samples_emitted) {
      throw new ManifestChangedError(
        `shard ${shard.shard} now starts at sample ${shard.firstIndex}, not ${resume.samples_emitted}`,
      );
    }
    if (resume.done) {
      throw new ManifestChangedError(`it now has more than the ${resume.next_shard} shards published`);
    }
    ends.set(shard.shard, shard.firstIndex + shard.samples.length);
    const verdict = o.reuse ? await o.reuse.check(shard) : undefined;
    if (verdict?.reusable) {
      // In order: the window's items increase.
      await publishReady();
      reused++;
      const result = reusedResult(jobId, shard, verdict.fileNames);
      await window.push(shard.shard, () => publishResult(o.js, result));
    } else {
      if (verdict && verdict.why !== "no outputs") {
        o.log.info("shard regenerated", { job: jobId, shard: shard.shard, why: verdict.why });
      }
      ready.push(shard);
      if (ready.length >= TASKS_PER_TURN) await publishReady();
      return;
    }
    await maybeWriteCursor();
    shardProgress();
  };

  try {
    return await run();
  } finally {
    o.where.finish();
  }

  async function run(): Promise<PublishOutcome> {
    // A resumed job has its shards before the cursor published already.
    if (resume.next_shard > 0) shardProgress();
    try {
      // Rows, not samples: each sample is made once, as its task carries it (Sharder.addRowSample).
      for await (const batch of expandSpecRows(o.spec, { access: o.access })) {
        o.signal.throwIfAborted();
        // The batch's rejected rows go to errors.jsonl and the counts first: publishing the samples of the
        // rows before them may wait its turn a long while (--queue-ahead), and the user should see them now.
        const rejected: ErrorRow[] = [];
        for (const ev of batch) {
          if (ev.type !== "row_error") continue;
          rowsRejected++;
          rejected.push({ where: ev.where, field: ev.field, code: "ROW_INVALID", error: ev.message });
        }
        if (rejected.length > 0) {
          await o.errors.append(rejected);
          progress();
        }
        for (const ev of batch) {
          if (ev.type === "row") {
            const base = rowBaseBytes(ev);
            for (let k = 0, n = ev.row.imagesPerPrompt; k < n; k++) {
              samples++;
              const cut = sharder.addRowSample(ev, k, base);
              for (let i = 0; i < cut.length; i++) await emit(cut[i]);
            }
          } else if (ev.type === "notice") {
            o.log.warn(ev.message, { job: jobId });
          }
        }
        // Reading the next batch may take a while (a slow file): what is cut goes now.
        await publishReady();
        progress();
      }
    } catch (err) {
      // A file that cannot be read to its end, or a job past its sample limit: the shards before it stand.
      const fatal = err instanceof ManifestChangedError || o.signal.aborted;
      if (fatal || !isLatentFleetError(err) || err.code !== "SPEC_INVALID") throw err;
      error = err.message;
      o.log.error("manifest expansion stopped", { job: jobId, err });
    }
    o.signal.throwIfAborted();
    const last = sharder.flush();
    if (last) await emit(last);
    await publishReady();
    await window.drain();
    const shardsTotal = o.where.shards;
    if (resume.done && (shardsTotal !== resume.next_shard || samples !== resume.samples_emitted)) {
      throw new ManifestChangedError(
        `it now makes ${samples} samples in ${shardsTotal} shards, not ${resume.samples_emitted} in ${resume.next_shard}`,
      );
    }
    if (!resume.done) {
      await writeCursor({
        next_shard: shardsTotal,
        samples_emitted: samples,
        done: true,
        rows_rejected: rowsRejected,
        ...(error === undefined ? {} : { error }),
      });
    } else {
      error ??= resume.error;
    }
    progress();
    if (window.duplicates > 0)
      o.log.info("republished shards dropped as duplicates", { job: jobId, shards: window.duplicates });
    return {
      shardsTotal,
      shardsReused: reused,
      shardsPublished: published,
      samplesTotal: samples,
      rowsRejected,
      ...(error === undefined ? {} : { error }),
    };
  }
}

/** The result that stands for a shard kept from an earlier run: every sample done, no worker. */
function reusedResult(jobId: string, shard: Shard, fileNames: string[]): TaskResult {
  return {
    job_id: jobId,
    shard: shard.shard,
    worker_id: "",
    samples: shard.samples.map((s, i) => ({
      sample_id: s.sample_id,
      index: s.index,
      ok: true,
      file_name: fileNames[i] ?? "",
      error: "",
      error_code: "",
    })),
    delivery: 0,
    seconds: 0,
    dead_lettered: false,
    reused: true,
  };
}
