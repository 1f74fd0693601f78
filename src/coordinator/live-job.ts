/**
 * One job this coordinator runs: its publisher, the fold of its results, its errors.jsonl and where-index,
 * its watchers, and the end of the job (its files checked, the verdict: job-verdict.ts; the final state
 * written: final-state-writer.ts). State transitions are written to the KV record with CAS; counts live in
 * memory (a restarted coordinator folds them again from LF_RESULTS) and go to the record with the final
 * state.
 */

import { rm, stat } from "node:fs/promises";
import type { JetStreamClient } from "@nats-io/jetstream";
import { parseFailureTolerance } from "../common/contract/failure-tolerance.js";
import { ERRORS_FILE, type ErrorRow, type JobStateName, STATS_FILE } from "../common/contract/job.js";
import type { TaskResult } from "../common/contract/task.js";
import { errorMessage, type Logger } from "../common/log.js";
import type { PublishPipe } from "../common/nats/index.js";
import { describeKey, type ObjectStorage, openStorage } from "../common/storage/index.js";
import type { JobSpec } from "../manifest/index.js";
import { removeDeadShardOutputs } from "./dead-shards.js";
import { ErrorsFile } from "./errors-file.js";
import type { FairQueue } from "./fair-queue.js";
import { FinalStateWriter, type RecordChange } from "./final-state-writer.js";
import { JobFold } from "./fold.js";
import { type JobInput, loadJobSpec, localWorkDir, removeJobInput, whereIndexFile } from "./job-input.js";
import type { JobSnapshot } from "./job-snapshot.js";
import { JobStats } from "./job-stats.js";
import { type CoordinatorJobRecord, isFinalState, type JobStore, StaleRevisionError } from "./job-store.js";
import { checkShardFiles, failureBudget, type JobTally, jobVerdict } from "./job-verdict.js";
import { countManifest } from "./manifest-count.js";
import { removeRunOutputs } from "./output-files.js";
import { ProgressMeter } from "./progress.js";
import { type PublishOutcome, publishJob } from "./publisher.js";
import { CompletedShards } from "./reuse.js";
import { overlayAccess, resolveUploads } from "./uploads.js";
import { WhereIndex } from "./where-index.js";

export interface JobRuntime {
  js: JetStreamClient;
  /** The coordinator's pipelined task publishes (publish-pipe.ts); js.publish without. */
  pipe?: PublishPipe;
  store: JobStore;
  log: Logger;
  /** Most task publishes awaiting an ack, per job. */
  windowSize: number;
  cursorIntervalMs: number;
  /** Told of each task published (metrics). */
  onTaskPublished?: (model: string) => void;
  /** Told of each job that reached a final state here (metrics). */
  onJobEnded?: (job: JobSnapshot) => void;
  /** Turns at publishing shared with the other jobs (fair-queue.ts); each job publishes at will without. */
  fairQueue?: FairQueue;
}

type Listener = () => void;

export class LiveJob {
  readonly jobId: string;
  private record: CoordinatorJobRecord;
  private readonly fold = new JobFold();
  /** Samples and shards of the whole manifest, counted ahead of the publisher (countManifest). */
  private counted: { samples: number; shards: number } | null = null;
  private readonly stats = new JobStats();
  /** Where the outputs go: the output folder, or its S3 bucket and prefix. */
  private readonly storage: ObjectStorage;
  private readonly meter = new ProgressMeter();
  private readonly errors: ErrorsFile;
  private readonly where: WhereIndex;
  private readonly abort = new AbortController();
  private readonly listeners = new Set<Listener>();
  private readonly log: Logger;
  private outcome: PublishOutcome | null = null;
  private shardsPublished = 0;
  private rowsRejected = 0;
  /** Sample ids of dead-lettered shards a worker's result replaced, and that result's own failures. */
  private readonly retracted = new Set<string>();
  private readonly reappend: ErrorRow[] = [];
  private finishing: Promise<void> | null = null;
  private publishing: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly finalState: FinalStateWriter;
  /** Called once, when the job reaches a final state (or this coordinator stops handling it). */
  onEnd: () => void = () => undefined;

  constructor(
    record: CoordinatorJobRecord,
    private readonly rt: JobRuntime,
  ) {
    this.jobId = record.job_id;
    this.record = record;
    this.log = rt.log.child({ job: record.job_id });
    this.storage = openStorage(record.output);
    // For an S3 output, errors.jsonl grows in the local work folder and is uploaded when the job ends.
    this.errors = new ErrorsFile(localWorkDir(record.output));
    this.where = new WhereIndex(whereIndexFile(record.output));
    this.finalState = new FinalStateWriter({
      update: (change) => this.updateRecord(change),
      snapshot: () => this.snapshot(),
      onWritten: (written) => this.ended(written),
      log: this.log,
    });
  }

  get state(): JobStateName {
    return this.record.state;
  }

  get output(): string {
    return this.record.output;
  }

  get outputFormat(): string {
    return this.record.output_format;
  }

  /** Samples done by each worker and failed samples by error code, so far. */
  counts(): { workers: Record<string, number>; failures: Record<string, number> } {
    return { workers: this.stats.workerCounts(), failures: this.stats.failureCounts() };
  }

  /** Starts (or resumes) publishing. `spec` when already validated (a new job); else loaded from `input`. */
  start(input: JobInput, spec?: JobSpec): void {
    this.publishing = this.run(input, spec).catch((err: unknown) => {
      if (this.stopped || this.abort.signal.aborted) return;
      if (err instanceof StaleRevisionError) {
        this.log.error("another coordinator is publishing this job; leaving it to that one", { err });
        this.detach();
        return;
      }
      this.log.error("job failed", { err });
      void this.end("FAILED", errorMessage(err));
    });
  }

  private async run(input: JobInput, given?: JobSpec): Promise<void> {
    await this.errors.reset();
    const spec = given ?? (await loadJobSpec({ ...input, outputOverride: this.record.output }));
    const access = overlayAccess(resolveUploads(input.specName, input.uploads));
    if (this.rt.fairQueue) {
      const stop = () => this.abort.signal.aborted || this.stopped;
      void countManifest(spec, access, this.record.shard_size, stop).then((counted) => {
        if (counted === null) return;
        this.counted = counted;
        this.notify();
      });
    }
    const reuse = await this.prepareOutput();
    if (this.record.state === "PENDING") await this.setState("PUBLISHING");
    this.outcome = await publishJob({
      js: this.rt.js,
      pipe: this.rt.pipe,
      store: this.rt.store,
      log: this.log,
      task: {
        jobId: this.jobId,
        model: this.record.model,
        outputDir: this.record.output,
        outputFormat: this.record.output_format,
      },
      shardSize: this.record.shard_size,
      spec,
      access,
      where: this.where,
      errors: this.errors,
      signal: this.abort.signal,
      windowSize: this.rt.windowSize,
      cursorIntervalMs: this.rt.cursorIntervalMs,
      onPublished: () => this.rt.onTaskPublished?.(this.record.model),
      beforePublish: this.rt.fairQueue && this.takeTurn(this.rt.fairQueue),
      reuse,
      onProgress: (p) => {
        this.shardsPublished = p.shardsPublished;
        this.rowsRejected = p.rowsRejected;
        this.notify();
      },
    });
    this.shardsPublished = this.outcome.shardsTotal;
    this.rowsRejected = this.outcome.rowsRejected;
    const { samplesTotal, shardsTotal } = this.outcome;
    this.log.info("job published", {
      samples: samplesTotal,
      shards: shardsTotal,
      rows_rejected: this.rowsRejected,
    });
    if (reuse && reuse.found > 0) {
      const { shardsReused, shardsPublished } = this.outcome;
      this.log.info(`re-run: ${shardsReused} shards complete, skipped; ${shardsPublished} regenerated`, {
        shards_reused: shardsReused,
        shards_regenerated: shardsPublished,
      });
    }
    await this.updateRecord((r) =>
      isFinalState(r.state)
        ? null
        : { ...r, state: "RUNNING", samples_total: samplesTotal, shards_total: shardsTotal },
    );
    this.maybeFinish();
  }

  /**
   * Before the first publish: `overwrite` removes an earlier run's outputs; otherwise the shards an
   * earlier run completed are found, to be reused. (A resumed job neither removes nor rescans what this
   * job wrote: the shards below its cursor are not published again anyway.)
   */
  private async prepareOutput(): Promise<CompletedShards | undefined> {
    if (this.record.overwrite) {
      if (this.record.state !== "PENDING") return undefined;
      const removed = await removeRunOutputs(this.storage);
      if (removed > 0)
        this.log.info("overwrite: removed the outputs of an earlier run", { objects: removed });
      return undefined;
    }
    return CompletedShards.scan(this.storage, this.record.output_format, this.record.model);
  }

  /** Waits for this job's turn to queue tasks (FairQueue), until the job is cancelled or stopped. */
  private takeTurn(queue: FairQueue): (ready: number) => Promise<number> {
    return (ready) => queue.turn(this.record.model, this.jobId, this.abort.signal, ready);
  }

  /**
   * Folds one result of this job (results come in stream order); `madeAtMs` for one made before this
   * coordinator started (read again from the stream), for the rate.
   */
  async applyResult(result: TaskResult, madeAtMs?: number): Promise<void> {
    if (isFinalState(this.record.state) || this.finishing || this.stopped) return;
    const folded = this.fold.apply(result);
    if (!folded.counted) return;
    this.stats.record(result, folded);
    this.meter.record(folded.newlyDone, madeAtMs);
    const { shard } = result;
    const rows: ErrorRow[] = [];
    for (const s of folded.failures) {
      rows.push({
        where: await this.where.lookup(shard, s.index),
        id: s.sample_id,
        ...(s.error_code ? { code: s.error_code } : {}),
        error: s.error || "failed without a reason",
      });
    }
    // The job may have ended (or this coordinator stopped) while the sources were looked up.
    if (this.stopped || isFinalState(this.record.state)) return;
    if (folded.replacedDead) {
      for (const s of result.samples) this.retracted.add(s.sample_id);
      this.reappend.push(...rows);
    } else {
      await this.errors.append(rows);
    }
    this.notify();
    this.maybeFinish();
  }

  /** Cancels the job: state CANCELLED (workers skip its tasks), publishing stops. */
  async cancel(): Promise<void> {
    if (isFinalState(this.record.state)) return;
    this.abort.abort();
    await this.end("CANCELLED", "cancelled");
  }

  /** Stops handling the job without changing its state (coordinator shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.finalState.stop();
    this.abort.abort();
    await this.publishing.catch(() => undefined);
    await this.finishing?.catch(() => undefined);
    await this.where.close();
    await this.errors.close().catch(() => undefined);
    this.storage.close();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): JobSnapshot {
    const r = this.record;
    const final = isFinalState(r.state);
    const total = this.outcome?.samplesTotal ?? this.counted?.samples ?? null;
    const remaining = total === null ? null : total - this.fold.samplesDone - this.fold.samplesFailed;
    return {
      jobId: r.job_id,
      state: r.state,
      model: r.model,
      output: r.output,
      samplesTotal: total ?? r.samples_total ?? null,
      samplesDone: this.fold.samplesDone,
      samplesFailed: this.fold.samplesFailed,
      shardsTotal: this.outcome?.shardsTotal ?? this.counted?.shards ?? r.shards_total ?? null,
      shardsPublished: this.shardsPublished,
      shardsDone: this.fold.shardsFolded,
      shardsReused: this.stats.shardsReused,
      samplesReused: this.stats.samplesReused,
      rowsRejected: this.rowsRejected,
      imagesPerSecond: final ? 0 : this.meter.rate(),
      etaSeconds: final ? 0 : this.meter.eta(remaining),
      createdAtMs: r.created_at_ms,
      finishedAtMs: r.finished_at_ms ?? null,
      error: r.error ?? "",
      maxFailed: r.max_failed ?? "0",
    };
  }

  private maybeFinish(): void {
    const o = this.outcome;
    if (!o || this.finishing || this.stopped || isFinalState(this.record.state)) return;
    if (this.fold.shardsFolded < o.shardsTotal) return;
    this.finishing = this.finish(o).catch((err: unknown) => {
      this.log.error("cannot finish the job", { err });
      return this.end("FAILED", `cannot finish the job: ${errorMessage(err)}`);
    });
  }

  private async finish(o: PublishOutcome): Promise<void> {
    const format = this.record.output_format;
    const dead = await removeDeadShardOutputs(this.storage, format, this.fold.deadShards());
    if (dead > 0) this.log.info("removed what dead-lettered shards had written", { objects: dead });
    const missing = await checkShardFiles({
      storage: this.storage,
      format,
      workDir: localWorkDir(this.record.output),
      shards: o.shardsTotal,
      hasImages: (s) => this.fold.hasImages(s),
      samplesDone: this.fold.samplesDone,
      log: this.log,
    });
    if (this.retracted.size > 0) {
      await this.errors.rewrite((row) => row.id !== undefined && this.retracted.has(row.id), this.reappend);
    }
    await this.errors.flush();
    if (this.storage.kind !== "local" && (await stat(this.errors.path).catch(() => null))) {
      await this.storage.putFile(ERRORS_FILE, this.errors.path);
    }
    const tally: JobTally = {
      publishError: o.error,
      samplesTotal: o.samplesTotal,
      samplesFailed: this.fold.samplesFailed,
      rowsRejected: o.rowsRejected,
      missing,
      errorsAt: describeKey(this.storage, ERRORS_FILE),
      maxFailed: parseFailureTolerance(this.record.max_failed ?? "0"),
    };
    const { state, error } = jobVerdict(tally);
    const stats = this.stats.toFile({ ...this.snapshot(), state }, format, Date.now(), failureBudget(tally));
    await this.storage.put(STATS_FILE, Buffer.from(`${JSON.stringify(stats, null, 2)}\n`, "utf8"));
    await this.end(state, error);
  }

  /** Writes a final state with the counts (FinalStateWriter: until it lands), then cleans up. */
  private end(state: JobStateName, error?: string): Promise<void> {
    return this.finalState.write(state, error);
  }

  /** After the final state is written: publishing stops, the job's files are closed and its input removed. */
  private async ended(written: JobSnapshot): Promise<void> {
    this.log.info("job ended", {
      state: this.record.state,
      done: written.samplesDone,
      failed: written.samplesFailed,
    });
    this.abort.abort();
    await this.where.close();
    await this.errors.close().catch(() => undefined);
    await removeJobInput(this.record.output).catch((err: unknown) =>
      this.log.warn("cannot remove the job's input folder", { err }),
    );
    if (this.storage.kind !== "local") {
      // errors.jsonl went to the bucket with the rest: the local work folder has served its purpose.
      await rm(localWorkDir(this.record.output), { recursive: true, force: true }).catch(() => undefined);
    }
    this.storage.close();
    this.notify();
    this.detach();
  }

  private detach(): void {
    const cb = this.onEnd;
    this.onEnd = () => undefined;
    cb();
  }

  private async setState(state: JobStateName): Promise<void> {
    await this.updateRecord((r) => (isFinalState(r.state) ? null : { ...r, state }));
  }

  private async updateRecord(change: RecordChange): Promise<void> {
    const stored = await this.rt.store.update(this.jobId, change);
    if (stored) this.record = stored;
    this.notify();
  }

  private notify(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch (err) {
        this.log.warn("job listener failed", { err });
      }
    }
  }
}
