/**
 * The jobs of one coordinator: submitting (validate, then create), resuming the unfinished jobs found in
 * KV at start, routing results to the live job, and the queries the gRPC service answers.
 */
import { mkdir, readFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import { type FailureTolerance, formatFailureTolerance } from "../common/contract/failure-tolerance.js";
import type { JobStateName } from "../common/contract/job.js";
import type { TaskResult } from "../common/contract/task.js";
import { isLatentFleetError, LatentFleetError } from "../common/errors.js";
import { errorMessage } from "../common/log.js";
import { RESULTS_STREAM } from "../common/nats/index.js";
import { isS3Url, normalizeLocation } from "../common/storage/index.js";
import { isPromptsFile, type SpecInput } from "../manifest/index.js";
import { decodeSpecBytes } from "../manifest/utf8.js";
import { newJobId } from "./job-id.js";
import { type JobInput, jobInputDir, loadJobSpec, readJobInput, saveJobInput } from "./job-input.js";
import { type JobSnapshot, snapshotFromRecord } from "./job-snapshot.js";
import { type CoordinatorJobRecord, isFinalState } from "./job-store.js";
import { type JobRuntime, LiveJob } from "./live-job.js";
import { PathPolicy } from "./path-policy.js";
import type { ResultOrigin } from "./results-loop.js";
import { MAX_SHARD_SIZE } from "./sharder.js";
import { UploadSpool } from "./uploads.js";

export interface SubmitRequest {
  /**
   * The spec: a path on the coordinator's disk, or its content with the name it goes by (relative paths
   * in it resolve against that name's folder). A path or name ending in .jsonl/.csv/.parquet/.txt with no
   * content is a bare prompts file (built-in defaults, the bundled model).
   */
  spec: SpecInput;
  /** Replaces the spec's output folder; relative to the coordinator's working folder. */
  output?: string;
  /** Prompt files sent with the spec, keyed by the path the spec names them by. */
  files?: UploadSpool | ReadonlyMap<string, Uint8Array | string>;
  /** Samples per shard (default: the coordinator's). */
  shardSize?: number;
  /**
   * Remove what an earlier run left in the output before starting (default false: an earlier run's
   * complete shards are kept and only the rest is generated).
   */
  overwrite?: boolean;
  /**
   * Failed samples + rejected rows the job may have and still succeed; overrides the spec's `max_failed`
   * (default: the spec's, else none).
   */
  maxFailed?: FailureTolerance;
}

export interface JobDetails {
  snapshot: JobSnapshot;
  outputFormat: string;
  live: { workers: Record<string, number>; failures: Record<string, number> } | null;
}

/** Finished jobs whose last snapshot stays visible to metrics, so a dashboard sees how they ended. */
const RECENT_JOBS = 5;

export class JobManager {
  private readonly live = new Map<string, LiveJob>();
  /** The last RECENT_JOBS jobs that ended here, newest last. */
  private readonly recent: JobSnapshot[] = [];
  /** Output folders of submissions under way. */
  private readonly reserved = new Set<string>();
  /** LF_RESULTS sequences below this one were stored before the jobs were resumed (read again). */
  private replayedBelow = 0;

  constructor(
    private readonly rt: JobRuntime,
    private readonly jsm: JetStreamManager,
    private readonly defaultShardSize: number,
    /** Where a submission may read (files not sent with it) and write (its output folder). */
    private readonly paths = PathPolicy.unrestricted(),
  ) {}

  /** Validates the spec (SPEC_INVALID: nothing is created), then creates and starts the job; returns its id. */
  async submit(req: SubmitRequest): Promise<string> {
    const shardSize = req.shardSize ?? this.defaultShardSize;
    if (!Number.isSafeInteger(shardSize) || shardSize < 1 || shardSize > MAX_SHARD_SIZE) {
      throw new LatentFleetError(
        "INVALID_ARGUMENT",
        `shard size must be an integer in [1, ${MAX_SHARD_SIZE}]`,
      );
    }
    const spool = req.files instanceof UploadSpool ? req.files : await UploadSpool.create();
    let reserved: string | null = null;
    try {
      if (!(req.files instanceof UploadSpool) && req.files) {
        for (const [path, content] of req.files) await spool.add(path, content);
      }
      const input: JobInput = {
        // A path given here is made absolute, so a restarted coordinator finds what it names from any folder.
        specName: typeof req.spec === "string" ? resolve(req.spec) : req.spec.name,
        specContent:
          typeof req.spec === "string"
            ? null
            : typeof req.spec.content === "string"
              ? req.spec.content
              : decodeSpecBytes(req.spec.name, req.spec.content),
        ...(req.output ? { outputOverride: normalizeLocation(req.output) } : {}),
        uploads: await spool.finish(),
      };
      if (input.specContent === null) await this.paths.check(input.specName, "read");
      if (input.specContent === null && !isPromptsFile(input.specName)) {
        // A spec given by path: read it here so that a restart does not depend on the file staying put.
        input.specContent = await readSpecText(input.specName);
      }
      const spec = await loadJobSpec(input, this.paths);
      const maxFailed = req.maxFailed ?? spec.maxFailed;
      const output = normalizeLocation(spec.output.dir);
      // The folder policy is about this machine's disk; an S3 output is the store's credentials' business.
      if (!isS3Url(output)) await this.paths.check(output, "write");
      const user = [...this.live.values()].find((j) => j.output === output)?.jobId;
      if (user !== undefined || this.reserved.has(output)) {
        throw new LatentFleetError(
          "INVALID_ARGUMENT",
          `the output folder ${output} is in use by ${user === undefined ? "a job being submitted" : `job ${user}`}; give this job another one (--out)`,
        );
      }
      this.reserved.add(output);
      reserved = output;
      const jobId = newJobId();
      if (!isS3Url(output)) await mkdir(output, { recursive: true });
      const stored: JobInput = {
        ...input,
        outputOverride: output,
        uploads: await spool.moveInto(jobInputDir(output)),
      };
      await saveJobInput(output, stored);
      const record: CoordinatorJobRecord = {
        job_id: jobId,
        state: "PENDING",
        model: basename(spec.model),
        output,
        created_at_ms: Date.now(),
        output_format: spec.output.format,
        shard_size: shardSize,
        ...(req.overwrite ? { overwrite: true } : {}),
        ...(maxFailed ? { max_failed: formatFailureTolerance(maxFailed) } : {}),
        results_from_seq: (await this.jsm.streams.info(RESULTS_STREAM)).state.last_seq + 1,
      };
      await this.rt.store.create(record);
      this.rt.log.info("job submitted", { job: jobId, model: record.model, output, spec: input.specName });
      this.startJob(record, stored, spec);
      return jobId;
    } finally {
      if (reserved !== null) this.reserved.delete(reserved);
      await spool.discard();
    }
  }

  /** Resumes every unfinished job in KV; returns the LF_RESULTS sequence to fold from. */
  async resumeAll(): Promise<number> {
    const nextSeq = (await this.jsm.streams.info(RESULTS_STREAM)).state.last_seq + 1;
    this.replayedBelow = nextSeq;
    let from = nextSeq;
    for (const record of await this.rt.store.list()) {
      if (isFinalState(record.state) || this.live.has(record.job_id)) continue;
      from = Math.min(from, record.results_from_seq);
      let input: JobInput;
      try {
        input = await readJobInput(record.output);
      } catch (err) {
        this.rt.log.error("cannot resume job", { job: record.job_id, err });
        await this.rt.store.update(record.job_id, (r) =>
          isFinalState(r.state)
            ? null
            : {
                ...r,
                state: "FAILED",
                finished_at_ms: Date.now(),
                error: `cannot resume: ${errorMessage(err)}`,
              },
        );
        continue;
      }
      this.rt.log.info("resuming job", { job: record.job_id, state: record.state });
      this.startJob(record, input);
    }
    return Math.max(1, from);
  }

  /**
   * Hands a result to its job; results of jobs this coordinator does not run are ignored. One that was in
   * the stream before this coordinator resumed its jobs counts for the rate at the time it was stored.
   */
  async route(result: TaskResult, origin?: ResultOrigin): Promise<void> {
    const madeAt = origin && origin.seq < this.replayedBelow ? origin.storedAtMs : undefined;
    await this.live.get(result.job_id)?.applyResult(result, madeAt);
  }

  async get(jobId: string): Promise<JobSnapshot> {
    const job = this.live.get(jobId);
    if (job) return job.snapshot();
    const stored = await this.rt.store.get(jobId);
    if (!stored) throw notFound(jobId);
    return snapshotFromRecord(stored.value);
  }

  /**
   * A job with its output format, and (for a job run here) the samples each worker did and the failures
   * by error code; a job not run here has them in its _stats.json, read by whoever wants them.
   */
  async details(jobId: string): Promise<JobDetails> {
    const job = this.live.get(jobId);
    if (job) return { snapshot: job.snapshot(), outputFormat: job.outputFormat, live: job.counts() };
    const stored = await this.rt.store.get(jobId);
    if (!stored) throw notFound(jobId);
    return {
      snapshot: snapshotFromRecord(stored.value),
      outputFormat: stored.value.output_format,
      live: null,
    };
  }

  async list(): Promise<JobSnapshot[]> {
    const records = await this.rt.store.list();
    return records.map((r) => this.live.get(r.job_id)?.snapshot() ?? snapshotFromRecord(r));
  }

  async cancel(jobId: string): Promise<JobSnapshot> {
    const job = this.live.get(jobId);
    if (job) {
      await job.cancel();
      return job.snapshot();
    }
    const updated = await this.rt.store.update(jobId, (r) =>
      isFinalState(r.state)
        ? null
        : { ...r, state: "CANCELLED", finished_at_ms: Date.now(), error: "cancelled" },
    );
    if (!updated) throw notFound(jobId);
    return snapshotFromRecord(updated);
  }

  /** Calls `listener` on every change of a job this coordinator runs; null when it runs no such job. */
  subscribe(jobId: string, listener: () => void): (() => void) | null {
    return this.live.get(jobId)?.subscribe(listener) ?? null;
  }

  isLive(jobId: string): boolean {
    return this.live.has(jobId);
  }

  /** The state of a job this coordinator runs, read from memory; undefined when it runs no such job. */
  liveState(jobId: string): JobStateName | undefined {
    return this.live.get(jobId)?.state;
  }

  /** The jobs this coordinator runs and the last few that ended here: a bounded set, read from memory. */
  recentJobs(): JobSnapshot[] {
    return [...this.recent, ...[...this.live.values()].map((j) => j.snapshot())];
  }

  async stop(): Promise<void> {
    const jobs = [...this.live.values()];
    this.live.clear();
    await Promise.all(jobs.map((j) => j.stop()));
  }

  private startJob(
    record: CoordinatorJobRecord,
    input: JobInput,
    spec?: Parameters<LiveJob["start"]>[1],
  ): void {
    const job = new LiveJob(record, this.rt);
    job.onEnd = () => {
      if (this.live.get(record.job_id) === job) this.live.delete(record.job_id);
      const snap = job.snapshot();
      if (!isFinalState(snap.state)) return;
      this.recent.push(snap);
      if (this.recent.length > RECENT_JOBS) this.recent.shift();
      this.rt.onJobEnded?.(snap);
    };
    this.live.set(record.job_id, job);
    job.start(input, spec);
  }
}

async function readSpecText(path: string): Promise<string> {
  try {
    return decodeSpecBytes(path, await readFile(path));
  } catch (err) {
    if (isLatentFleetError(err)) throw err;
    const why =
      (err as NodeJS.ErrnoException).code === "ENOENT" ? "cannot find the spec file" : errorMessage(err);
    throw new LatentFleetError("SPEC_INVALID", `${path}: ${why}`, { cause: err });
  }
}

function notFound(jobId: string): LatentFleetError {
  return new LatentFleetError("JOB_NOT_FOUND", `no job ${jobId} (list the jobs with \`latent-fleet jobs\`)`);
}
