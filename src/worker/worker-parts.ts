/** The parts of a running worker (metrics, batcher, sink, task runner), each made after what it needs. */
import type { Logger } from "../common/log.js";
import type { TaskQueue } from "../common/task-queue/port.js";
import { batchKey } from "../engine/batch-key.js";
import { Batcher } from "./batcher.js";
import type { JobStateSource } from "./job-states.js";
import { WorkerMetrics } from "./metrics.js";
import { ImageSink } from "./sink.js";
import { WorkerStats } from "./stats.js";
import { TaskRunner } from "./task-runner.js";
import { DEFAULT_LINGER_MS, type WorkerEngine, type WorkerOptions } from "./worker-options.js";

/** The parts of a running worker. */
export interface WorkerParts {
  readonly stats: WorkerStats;
  readonly metrics: WorkerMetrics | undefined;
  readonly batcher: Batcher;
  readonly sink: ImageSink;
  readonly runner: TaskRunner;
}

/** Metrics, batcher, sink and task runner, each made after what it needs. */
export function assembleParts(
  options: WorkerOptions,
  identity: { workerId: string; deviceName: string; batchSize: number; log: Logger },
  engine: WorkerEngine,
  queue: TaskQueue,
  jobStates: JobStateSource,
): WorkerParts {
  const { workerId, deviceName, batchSize, log } = identity;
  const model = engine.model;
  const stats = new WorkerStats();
  const metrics =
    options.metricsAddress === undefined
      ? undefined
      : new WorkerMetrics({ workerId, model: model.name, device: deviceName });
  const usesCfg = (r: { guidanceScale: number }) => r.guidanceScale > 1 && !model.guidanceDistilled;
  const batcher = new Batcher({
    engine: metrics ? metrics.instrument(engine) : engine,
    onSampleDone: metrics && ((outcome) => metrics.sampleDone(outcome)),
    batchSize,
    batchKey: (r) => batchKey(r, usesCfg),
    lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS,
    stats,
    log,
  });
  const sink = new ImageSink({
    durable: options.durable,
    onStage: metrics && ((stage, s) => metrics.sinkStage(stage, s)),
    pngThreads: options.pngThreads,
    s3: options.s3,
  });
  const runner = new TaskRunner({
    queue,
    batcher,
    sink,
    model,
    workerId,
    jobStates,
    samplesInHand: options.samplesInHand,
    pullExpiresMs: options.pullExpiresMs,
    retryDelayMs: options.retryDelayMs,
    log,
    events: metrics,
  });
  metrics?.readGaugesFrom({
    tasksInFlight: () => runner.tasksInHand,
    samplesQueued: () => batcher.queued,
    samplesUnwritten: () => runner.samplesUnwritten,
  });
  return { stats, metrics, batcher, sink, runner };
}
