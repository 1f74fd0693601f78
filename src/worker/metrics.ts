/**
 * The metrics of one worker process, in its own registry; every series carries the labels `model` and
 * `worker`. They are fed from the side: the engine is wrapped (batch sizes, busy time, and the stage
 * timings the engine thread measures and sends back with each batch), and the batcher, sink and task runner
 * report through their optional callbacks. Nothing here decides anything.
 */
import { performance } from "node:perf_hooks";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { SampleRequest } from "../common/contract/sample.js";
import type { ErrorCode } from "../common/errors.js";
import { createMetricsRegistry } from "../common/metrics.js";
import { packageVersion } from "../common/package-root.js";
import type { StageTimings } from "../engine/pipeline.js";
import type { SinkStage } from "./sink.js";
import type { BatchEngine, EngineImage, SampleOutcome } from "./submission.js";
import type { TaskEvents, TaskOutcome } from "./task-flow.js";

/** The stages of `latent_fleet_stage_duration_seconds`. */
export const STAGES = [
  "tokenize",
  "text_encoder",
  "denoise_step",
  "vae_decode",
  "png_encode",
  "write",
] as const;
export type Stage = (typeof STAGES)[number];

/**
 * Failure reasons a worker can report for a sample; their series exist from the start at 0 (a series that
 * appears only with the first failure hides the first increase from rate()). Other codes get theirs when
 * they happen.
 */
const SAMPLE_FAILURE_REASONS: readonly ErrorCode[] = [
  "INVALID_ARGUMENT",
  "OUT_OF_MEMORY",
  "ENGINE_FAILED",
  "OUTPUT_FAILED",
  "MODEL_MISMATCH",
  "PAYLOAD_INVALID",
];
const TASK_OUTCOMES: readonly TaskOutcome[] = ["acked", "retried", "terminated", "released", "lapsed"];

/** From half a millisecond (tokenizing a cached prompt) to minutes (a large batch on a CPU). */
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/** `latent_fleet_worker_busy_ratio` covers this much recent time. */
const BUSY_WINDOW_S = 30;

/** An engine whose batches may come with the stage timings of the engine thread. */
export interface TimedEngine {
  generate(requests: SampleRequest[]): Promise<{ samples: EngineImage[]; timings?: StageTimings }>;
}

/** What the gauges read at each scrape. */
export interface WorkerGauges {
  /** Tasks delivered and not yet acked or given back. */
  tasksInFlight: () => number;
  /** Samples waiting for an engine batch. */
  samplesQueued: () => number;
  /** Samples the engine has made whose outputs are not yet written. */
  samplesUnwritten: () => number;
}

/** The gauges may be given later (readGaugesFrom); until then they read 0. */
export interface WorkerMetricsOptions extends Partial<WorkerGauges> {
  workerId: string;
  model: string;
  device: string;
}

export class WorkerMetrics implements TaskEvents {
  readonly registry: Registry;
  private readonly generated: Counter;
  private readonly failed: Counter<"reason">;
  private readonly batchSize: Histogram;
  private readonly batchSeconds: Histogram;
  private readonly stageSeconds: Histogram<"stage">;
  private readonly busySeconds: Counter;
  private readonly tasksReceived: Counter;
  private readonly redeliveries: Counter;
  private readonly tasksFinished: Counter<"outcome">;
  /** Batches handed to the engine and not back yet: the engine is busy while there is one. */
  private pendingBatches = 0;
  /** performance.now() up to which busy time is counted. */
  private busyCountedTo = 0;
  /**
   * (time, busy seconds so far) at the start, then once a second, for the busy ratio over the last
   * BUSY_WINDOW_S: the first point is where the window begins (the start, until the window is full).
   */
  private readonly busyHistory: { t: number; busy: number }[] = [];
  private busyTotal = 0;
  private readonly startedAt = performance.now();
  private readonly sampler: NodeJS.Timeout;
  private gauges: Partial<WorkerGauges>;

  constructor(opts: WorkerMetricsOptions) {
    this.gauges = opts;
    const registry = createMetricsRegistry({ model: opts.model, worker: opts.workerId });
    this.registry = registry;
    const registers = [registry];
    this.generated = new Counter({
      name: "latent_fleet_images_generated_total",
      help: "Images the engine generated.",
      registers,
    });
    this.failed = new Counter({
      name: "latent_fleet_images_failed_total",
      help: "Samples that failed, by reason (an error code).",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of SAMPLE_FAILURE_REASONS) this.failed.inc({ reason }, 0);
    this.batchSize = new Histogram({
      name: "latent_fleet_batch_size",
      help: "Samples per engine batch.",
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    });
    this.batchSeconds = new Histogram({
      name: "latent_fleet_batch_duration_seconds",
      help: "Engine time of one batch, tokenizing to VAE decode, as the engine thread measured it.",
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.stageSeconds = new Histogram({
      name: "latent_fleet_stage_duration_seconds",
      help:
        "Time per stage: tokenize, text_encoder and vae_decode per batch; denoise_step per step of a batch " +
        "(UNet and scheduler); png_encode and write per image.",
      labelNames: ["stage"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    for (const stage of STAGES) this.stageSeconds.zero({ stage });
    this.busySeconds = new Counter({
      name: "latent_fleet_engine_busy_seconds_total",
      help: "Time the engine had a batch to work on (rate() of it is the busy ratio).",
      registers,
      collect: () => this.countBusy(),
    });
    const busyRatio: Gauge = new Gauge({
      name: "latent_fleet_worker_busy_ratio",
      help: `Share of the last ${BUSY_WINDOW_S} s the engine had a batch to work on (0..1).`,
      registers,
      collect: () => {
        this.countBusy();
        const from = this.busyHistory[0];
        const span = (performance.now() - from.t) / 1000;
        busyRatio.set(span > 0 ? Math.min(1, (this.busyTotal - from.busy) / span) : 0);
      },
    });
    const inFlight: Gauge = new Gauge({
      name: "latent_fleet_tasks_in_flight",
      help: "Tasks delivered to this worker and not yet acked or given back.",
      registers,
      collect: () => inFlight.set(this.gauges.tasksInFlight?.() ?? 0),
    });
    const queued: Gauge = new Gauge({
      name: "latent_fleet_samples_queued",
      help: "Samples in hand waiting for an engine batch.",
      registers,
      collect: () => queued.set(this.gauges.samplesQueued?.() ?? 0),
    });
    const unwritten: Gauge = new Gauge({
      name: "latent_fleet_samples_unwritten",
      help: "Samples made by the engine whose PNGs are not yet encoded and written (high: the output is the bottleneck).",
      registers,
      collect: () => unwritten.set(this.gauges.samplesUnwritten?.() ?? 0),
    });
    this.tasksReceived = new Counter({
      name: "latent_fleet_tasks_received_total",
      help: "Task deliveries to this worker, redeliveries included.",
      registers,
    });
    this.redeliveries = new Counter({
      name: "latent_fleet_task_redeliveries_total",
      help: "Tasks delivered to this worker again (an earlier delivery was not acked in time, or was given back).",
      registers,
    });
    this.tasksFinished = new Counter({
      name: "latent_fleet_tasks_finished_total",
      help: "Tasks that left this worker, by outcome: acked, retried (given back with a delay), terminated, released, lapsed (its delivery may have passed to another worker).",
      labelNames: ["outcome"],
      registers,
    });
    for (const outcome of TASK_OUTCOMES) this.tasksFinished.inc({ outcome }, 0);
    new Gauge({
      name: "latent_fleet_worker_info",
      help: "Always 1; labels: the worker's device and version.",
      labelNames: ["device", "version"],
      registers,
    }).set({ device: opts.device, version: packageVersion() }, 1);
    this.busyHistory.push({ t: this.startedAt, busy: 0 });
    this.sampler = setInterval(() => {
      this.countBusy();
      this.busyHistory.push({ t: performance.now(), busy: this.busyTotal });
      if (this.busyHistory.length > BUSY_WINDOW_S + 1) this.busyHistory.shift();
    }, 1000);
    this.sampler.unref();
  }

  /**
   * Where the gauges read from, once the parts that hold the counts exist (the batcher and the task runner
   * take this object's hooks when they are made, so they come after it).
   */
  readGaugesFrom(gauges: WorkerGauges): void {
    this.gauges = gauges;
  }

  /** The engine, timed: batch sizes, busy time and stage durations go to the metrics. */
  instrument<E extends TimedEngine>(engine: E): BatchEngine {
    return {
      generate: async (requests) => {
        this.batchStarted();
        try {
          const result = await engine.generate(requests);
          this.batchSize.observe(requests.length);
          if (result.timings) this.observeTimings(result.timings);
          return result;
        } finally {
          this.batchEnded();
        }
      },
    };
  }

  /** A sample finished in the batcher. */
  sampleDone(outcome: SampleOutcome): void {
    if (outcome.ok) this.generated.inc();
    else this.failed.inc({ reason: outcome.code });
  }

  /** PNG encode and write times of one image (the sink). */
  sinkStage(stage: SinkStage, seconds: number): void {
    this.stageSeconds.observe({ stage }, seconds);
  }

  received(delivery: number): void {
    this.tasksReceived.inc();
    if (delivery > 1) this.redeliveries.inc();
  }

  finished(outcome: TaskOutcome): void {
    this.tasksFinished.inc({ outcome });
  }

  samplesFailed(code: string, count: number): void {
    if (count > 0) this.failed.inc({ reason: code }, count);
  }

  close(): void {
    clearInterval(this.sampler);
  }

  private observeTimings(t: StageTimings): void {
    this.stageSeconds.observe({ stage: "tokenize" }, t.tokenizeMs / 1000);
    this.stageSeconds.observe({ stage: "text_encoder" }, t.textEncoderMs / 1000);
    for (const ms of t.stepMs) this.stageSeconds.observe({ stage: "denoise_step" }, ms / 1000);
    this.stageSeconds.observe({ stage: "vae_decode" }, t.vaeMs / 1000);
    let total = t.tokenizeMs + t.textEncoderMs + t.vaeMs;
    for (const ms of t.stepMs) total += ms;
    this.batchSeconds.observe(total / 1000);
  }

  private batchStarted(): void {
    if (this.pendingBatches === 0) this.busyCountedTo = performance.now();
    this.pendingBatches++;
  }

  private batchEnded(): void {
    this.countBusy();
    this.pendingBatches--;
  }

  /** Adds the busy time up to now (also while a long batch is still running, so scrapes see it grow). */
  private countBusy(): void {
    if (this.pendingBatches === 0) return;
    const now = performance.now();
    const seconds = (now - this.busyCountedTo) / 1000;
    this.busyCountedTo = now;
    if (seconds <= 0) return;
    this.busyTotal += seconds;
    this.busySeconds.inc(seconds);
  }
}
