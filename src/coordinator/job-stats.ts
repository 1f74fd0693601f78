/**
 * `<out>/_stats.json`: what a job did, for people and for dataset cards: counts (generated, reused from an
 * earlier run, failed by error code), shards, wall time and throughput, and the workers' task times.
 * Gathered from the results as they are folded (a restarted coordinator folds them again).
 */
import type { FailureBudget, JobStatsFile } from "../common/contract/job.js";
import type { TaskResult } from "../common/contract/task.js";
import type { FoldOutcome } from "./fold.js";
import type { JobSnapshot } from "./job-snapshot.js";

export class JobStats {
  /** Error codes of the failed samples of each shard (a worker's result replaces a dead-letter report). */
  private readonly failures = new Map<number, string[]>();
  private readonly workers = new Map<string, number>();
  private taskSeconds = 0;
  private taskMax = 0;
  private tasks = 0;
  shardsReused = 0;
  samplesReused = 0;

  /** A result the fold counted. */
  record(result: TaskResult, folded: FoldOutcome): void {
    const { shard } = result;
    if (folded.failures.length > 0)
      this.failures.set(
        shard,
        folded.failures.map((s) => s.error_code || "UNKNOWN"),
      );
    else this.failures.delete(shard);
    if (result.reused) {
      this.shardsReused++;
      this.samplesReused += folded.newlyDone;
      return;
    }
    if (result.dead_lettered || result.worker_id === "") return;
    this.tasks++;
    this.taskSeconds += result.seconds;
    this.taskMax = Math.max(this.taskMax, result.seconds);
    this.workers.set(result.worker_id, (this.workers.get(result.worker_id) ?? 0) + folded.newlyDone);
  }

  toFile(snap: JobSnapshot, format: string, endMs: number, budget: FailureBudget): JobStatsFile {
    const duration = Math.max(0, (endMs - snap.createdAtMs) / 1000);
    const generated = snap.samplesDone - this.samplesReused;
    const shardsTotal = snap.shardsTotal ?? snap.shardsDone;
    return {
      job_id: snap.jobId,
      state: snap.state,
      model: snap.model,
      output: snap.output,
      format,
      created_at: new Date(snap.createdAtMs).toISOString(),
      finished_at: new Date(endMs).toISOString(),
      duration_seconds: round(duration),
      samples: {
        total: snap.samplesTotal ?? snap.samplesDone + snap.samplesFailed,
        done: snap.samplesDone,
        failed: snap.samplesFailed,
        generated,
        reused: this.samplesReused,
      },
      shards: {
        total: shardsTotal,
        done: snap.shardsDone,
        generated: snap.shardsDone - this.shardsReused,
        reused: this.shardsReused,
      },
      rows_rejected: snap.rowsRejected,
      failure_budget: budget,
      failures: this.failureCounts(),
      images_per_second: duration > 0 ? round(generated / duration) : 0,
      task_seconds: {
        total: round(this.taskSeconds),
        mean: this.tasks > 0 ? round(this.taskSeconds / this.tasks) : 0,
        max: round(this.taskMax),
      },
      workers: Object.fromEntries([...this.workers].sort()),
    };
  }

  /** Samples done by each worker so far. */
  workerCounts(): Record<string, number> {
    return Object.fromEntries([...this.workers].sort());
  }

  /** Failed samples by error code so far. */
  failureCounts(): Record<string, number> {
    const counts = new Map<string, number>();
    for (const codes of this.failures.values())
      for (const c of codes) counts.set(c, (counts.get(c) ?? 0) + 1);
    return Object.fromEntries([...counts].sort());
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
