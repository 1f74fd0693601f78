/**
 * The metrics of a coordinator process, in its own registry. Job gauges are read from memory on scrape
 * (the jobs it runs and the last few that ended here, so `job_id` stays a bounded label); the queue gauges
 * come from one JetStream consumer listing of LF_TASKS, read at most every `queueReadIntervalMs` however
 * often it is scraped, and bounded in time.
 */
import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import { Counter, Gauge, type Registry } from "prom-client";
import type { JobStateName } from "../common/contract/job.js";
import { errorMessage, type Logger, silentLogger } from "../common/log.js";
import { createMetricsRegistry } from "../common/metrics.js";
import { TASKS_STREAM } from "../common/nats/index.js";
import type { JobSnapshot } from "./job-snapshot.js";
import { isFinalState } from "./job-store.js";

const ACTIVE_STATES: readonly JobStateName[] = ["PENDING", "PUBLISHING", "RUNNING"];
const FINAL_STATES: readonly JobStateName[] = ["SUCCEEDED", "FAILED", "CANCELLED"];
const WORKERS_CONSUMER_PREFIX = "workers-";
/** A scrape must not hang on a slow NATS server: a listing that takes longer counts as failed. */
const QUEUE_READ_TIMEOUT_MS = 2_000;

export interface CoordinatorMetricsOptions {
  /** The jobs to show (JobManager.recentJobs). */
  jobs: () => JobSnapshot[];
  jsm: JetStreamManager;
  /** Least time between two consumer listings (default 2000 ms). */
  queueReadIntervalMs?: number;
  log?: Logger;
}

interface QueueState {
  model: string;
  pending: number;
  ackPending: number;
  redelivered: number;
  waiting: number;
}

export class CoordinatorMetrics {
  readonly registry: Registry;
  private readonly published: Counter<"model">;
  private readonly deadLettered: Counter<"model">;
  private readonly finished: Counter<"state">;
  private readonly log: Logger;
  private queueRead: Promise<QueueState[] | null> | undefined;
  private queueReadAt = 0;
  private queueFailing = false;

  constructor(private readonly opts: CoordinatorMetricsOptions) {
    this.log = opts.log ?? silentLogger;
    const registry = createMetricsRegistry();
    this.registry = registry;
    const registers = [registry];
    const models = () => new Set(opts.jobs().map((j) => j.model));

    this.published = new Counter({
      name: "latent_fleet_tasks_published_total",
      help: "Tasks (shards) published to LF_TASKS; republished duplicates are not counted.",
      labelNames: ["model"],
      registers,
      collect: () => {
        for (const model of models()) this.published.inc({ model }, 0);
      },
    });
    this.deadLettered = new Counter({
      name: "latent_fleet_tasks_dead_lettered_total",
      help: "Tasks dead-lettered after their last delivery (max_deliver), their samples reported failed.",
      labelNames: ["model"],
      registers,
      collect: () => {
        for (const model of models()) this.deadLettered.inc({ model }, 0);
      },
    });
    this.finished = new Counter({
      name: "latent_fleet_jobs_finished_total",
      help: "Jobs that reached a final state on this coordinator, by state.",
      labelNames: ["state"],
      registers,
    });
    for (const state of FINAL_STATES) this.finished.inc({ state }, 0);

    const jobs: Gauge<"state"> = new Gauge({
      name: "latent_fleet_jobs",
      help: "Jobs this coordinator runs, by state (PENDING, PUBLISHING, RUNNING).",
      labelNames: ["state"],
      registers,
      collect: () => {
        const counts = new Map<string, number>(ACTIVE_STATES.map((s) => [s, 0]));
        for (const j of opts.jobs()) {
          if (!isFinalState(j.state)) counts.set(j.state, (counts.get(j.state) ?? 0) + 1);
        }
        for (const [state, n] of counts) jobs.set({ state }, n);
      },
    });
    const samples: Gauge<"job_id" | "model" | "state"> = new Gauge({
      name: "latent_fleet_job_samples",
      help:
        "Samples of a job by state: done, failed, pending (pending once every shard is published). " +
        "Jobs this coordinator runs and the last few that ended here.",
      labelNames: ["job_id", "model", "state"],
      registers,
      collect: () => {
        samples.reset();
        for (const j of opts.jobs()) {
          const labels = { job_id: j.jobId, model: j.model };
          samples.set({ ...labels, state: "done" }, j.samplesDone);
          samples.set({ ...labels, state: "failed" }, j.samplesFailed);
          if (j.samplesTotal !== null) {
            samples.set(
              { ...labels, state: "pending" },
              Math.max(0, j.samplesTotal - j.samplesDone - j.samplesFailed),
            );
          }
        }
      },
    });
    const eta: Gauge<"job_id" | "model"> = new Gauge({
      name: "latent_fleet_job_eta_seconds",
      help: "Estimated seconds until a running job's last sample, at its recent rate (absent while unknown).",
      labelNames: ["job_id", "model"],
      registers,
      collect: () => {
        eta.reset();
        for (const j of opts.jobs()) {
          if (!isFinalState(j.state) && j.etaSeconds >= 0) {
            eta.set({ job_id: j.jobId, model: j.model }, j.etaSeconds);
          }
        }
      },
    });

    const queueGauge = (name: string, help: string, pick: (q: QueueState) => number) => {
      const gauge: Gauge<"model"> = new Gauge({
        name,
        help,
        labelNames: ["model"],
        registers,
        collect: async () => {
          const queues = await this.readQueues();
          gauge.reset();
          for (const q of queues ?? []) gauge.set({ model: q.model }, pick(q));
        },
      });
      return gauge;
    };
    queueGauge(
      "latent_fleet_queue_pending_tasks",
      "Tasks of the model waiting in LF_TASKS, not yet delivered to a worker (consumer num_pending).",
      (q) => q.pending,
    );
    queueGauge(
      "latent_fleet_queue_ack_pending_tasks",
      "Tasks delivered to workers and not yet acked (consumer num_ack_pending).",
      (q) => q.ackPending,
    );
    queueGauge(
      "latent_fleet_queue_redelivered_tasks",
      "Tasks delivered more than once and not yet acked (consumer num_redelivered).",
      (q) => q.redelivered,
    );
    queueGauge(
      "latent_fleet_queue_waiting_pulls",
      "Open pull requests of idle workers (consumer num_waiting).",
      (q) => q.waiting,
    );
  }

  taskPublished(model: string): void {
    this.published.inc({ model });
  }

  taskDeadLettered(model: string): void {
    this.deadLettered.inc({ model });
  }

  jobEnded(job: JobSnapshot): void {
    this.finished.inc({ state: job.state });
  }

  /** The worker consumers of LF_TASKS, read at most once per interval; null when the read failed. */
  private readQueues(): Promise<QueueState[] | null> {
    const now = Date.now();
    if (this.queueRead && now - this.queueReadAt < (this.opts.queueReadIntervalMs ?? 2_000)) {
      return this.queueRead;
    }
    this.queueReadAt = now;
    this.queueRead = withTimeout(this.listConsumers(), QUEUE_READ_TIMEOUT_MS).then(
      (queues) => {
        if (this.queueFailing) this.log.info("reading the task queues works again");
        this.queueFailing = false;
        return queues;
      },
      (err: unknown) => {
        if (!this.queueFailing) {
          this.log.warn("cannot read the task queues for metrics", { error: errorMessage(err) });
        }
        this.queueFailing = true;
        return null;
      },
    );
    return this.queueRead;
  }

  private async listConsumers(): Promise<QueueState[]> {
    const out: QueueState[] = [];
    const infos: ConsumerInfo[] = await this.opts.jsm.consumers.list(TASKS_STREAM).next();
    for (const ci of infos) {
      if (!ci.name.startsWith(WORKERS_CONSUMER_PREFIX)) continue;
      out.push({
        // The consumer name carries the model as a subject token (the model's name for the usual names).
        model: ci.name.slice(WORKERS_CONSUMER_PREFIX.length),
        pending: ci.num_pending,
        ackPending: ci.num_ack_pending,
        redelivered: ci.num_redelivered,
        waiting: ci.num_waiting,
      });
    }
    return out;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
