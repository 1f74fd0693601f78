/**
 * A worker process, one per GPU: the engine (its own thread), the NATS task loop, the batcher, the sink
 * and the gRPC service, wired together.
 *
 * GPU pinning: `device: "cuda:N"` (or "tensorrt:N") hands the ordinal N to ONNX Runtime's execution
 * provider, which then uses that GPU only; run one worker per GPU with N = 0, 1, .... With the Kubernetes
 * device plugin a pod sees only the GPU it was given, always as ordinal 0, so pods use `cuda:0`.
 * (CUDA_VISIBLE_DEVICES is not touched: it would have to be set before the process starts.)
 *
 * Start-up: the model loads on its thread while NATS is connected and set up (streams created if nobody has
 * yet, the model's shared consumer created if missing, the job states watched); a model that fails to load
 * is reported before a NATS problem. Then gRPC, then pulling.
 * Shut-down: drain (stop pulling, finish the batch in hand, hand back the rest), then gRPC, NATS, engine.
 */
import { hostname } from "node:os";
import { LatentFleetError } from "../common/errors.js";
import type { GrpcServerTls } from "../common/grpc/tls.js";
import { createLogger, errorMessage, type Logger } from "../common/log.js";
import { parseListenAddress, startMetricsServer } from "../common/metrics.js";
import { connectJetStream, type JetStreamContext } from "../common/nats/connect.js";
import { workersConsumerName } from "../common/nats/names.js";
import type { NatsAuthOptions } from "../common/nats/security.js";
import { type NatsTaskQueue, openWorkerTaskQueue } from "../common/nats/task-queue.js";
import { openJobsBucket } from "../common/nats/worker-setup.js";
import { WORKER_OPTIONS } from "../common/options/index.js";
import type { WorkerInfo__Input } from "../common/proto/generated/latentfleet/v1/WorkerInfo.js";
import type { S3Settings } from "../common/storage/index.js";
import type { TaskQueue } from "../common/task-queue/port.js";
import { batchKey } from "../engine/batch-key.js";
import { type Device, formatDevice, parseDevice } from "../engine/device.js";
import { EngineHost } from "../engine/engine-host.js";
import { modelNameOf } from "../engine/model-folder.js";
import type { ModelDescription } from "../engine/pipeline.js";
import { Batcher } from "./batcher.js";
import { type JobStateSource, type WatchedJobStates, watchJobStates } from "./job-states.js";
import { WorkerMetrics } from "./metrics.js";
import { ImageSink } from "./sink.js";
import { WorkerStats } from "./stats.js";
import type { BatchEngine } from "./submission.js";
import { type RunnerState, TaskRunner } from "./task-runner.js";

export const DEFAULT_BATCH_SIZE: number = WORKER_OPTIONS.batchSize.default;
/** How long an idle engine waits for tasks on their way before running a partial batch. */
export const DEFAULT_LINGER_MS = 50;

/** What a worker needs of an engine: the model it serves (tasks are routed by its name) and batches. */
export interface WorkerEngine extends BatchEngine {
  readonly model: ModelDescription;
}

export interface WorkerOptions {
  /** NATS server URL(s), comma-separated. */
  natsUrl: string;
  /** NATS credentials and TLS (credentials in natsUrl work too). */
  natsAuth?: NatsAuthOptions;
  /** How long the first connect waits for a NATS server that does not listen yet (default 0). */
  natsConnectWaitMs?: number;
  /** Model folder (diffusers ONNX layout); its folder name is the model name tasks are routed by. */
  modelDir: string;
  /**
   * An engine to use instead of loading `modelDir` on `device` in an engine thread, e.g. a stand-in with a
   * fixed latency for benchmarks. It stays the caller's: stop() leaves it open.
   */
  engine?: WorkerEngine;
  /**
   * The engine thread of `modelDir` on `device`, started by the caller before it loaded this module (the
   * model loads while the worker's code does): the worker's own, as one it starts itself.
   */
  engineStarting?: Promise<EngineHost>;
  /** "cpu", "cuda:N" or "tensorrt:N" (default cpu). */
  device?: string | Device;
  /** Largest engine batch (default DEFAULT_BATCH_SIZE, the --batch-size default). */
  batchSize?: number;
  /** HOST:PORT for the gRPC service (port 0: a free one); no gRPC server when omitted. */
  grpcAddress?: string;
  /** Serve gRPC over TLS (mutual with a client CA); plaintext when omitted. */
  grpcTls?: GrpcServerTls;
  /** HOST:PORT to serve Prometheus metrics at /metrics (port 0: a free one); none when omitted. */
  metricsAddress?: string;
  /** Default: <hostname>-<pid>. */
  workerId?: string;
  /** ONNX Runtime threads per operator (CPU default: ONNX Runtime's choice, its physical cores). */
  intraOpThreads?: number;
  /**
   * Settings of the shared consumer `workers-<model>`, applied when given (they change it for every
   * worker of the model); when omitted an existing consumer is used as it is.
   */
  ackWaitMs?: number;
  maxDeliver?: number;
  /**
   * Replicas for the streams and the job bucket when this worker is the first to create them (a worker may
   * start before any coordinator); set it as the coordinator's on a NATS cluster. Default 1.
   */
  replicas?: number;
  /** Samples to keep in hand (default 2 x batch size). */
  samplesInHand?: number;
  /** How long one pull request waits (default 2000 ms). */
  pullExpiresMs?: number;
  /** Pause before a task that failed for a task-level reason is redelivered (default 5000 ms). */
  retryDelayMs?: number;
  /** How long an idle engine may wait for tasks on their way to fill a batch (default 50 ms). */
  lingerMs?: number;
  /** fsync outputs before reporting them (default true). */
  durable?: boolean;
  /** PNG encoder threads (default: half the cores, 2 to 4). */
  pngThreads?: number;
  /** Settings for s3:// outputs (default: from the AWS environment variables). */
  s3?: S3Settings;
  log?: Logger;
}

export interface RunningWorker {
  readonly workerId: string;
  readonly model: ModelDescription;
  readonly device: string;
  readonly batchSize: number;
  /** The bound gRPC port, when a gRPC address was given. */
  readonly grpcPort: number | undefined;
  /** The bound metrics port, when a metrics address was given. */
  readonly metricsPort: number | undefined;
  readonly state: RunnerState;
  info(): WorkerInfo__Input;
  /** Stops pulling, finishes the batch in hand, hands the rest back; resolves with the tasks handed back. */
  drain(): Promise<number>;
  /** Drains, then closes gRPC, NATS and the engine. */
  stop(): Promise<void>;
  /** Settles once stopped: resolves after stop(), rejects with the error when the engine died. */
  readonly done: Promise<void>;
}

/** The parts of a running worker. */
interface WorkerParts {
  readonly stats: WorkerStats;
  readonly metrics: WorkerMetrics | undefined;
  readonly batcher: Batcher;
  readonly sink: ImageSink;
  readonly runner: TaskRunner;
}

/** Metrics, batcher, sink and task runner, each made after what it needs. */
function assembleParts(
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

/**
 * The NATS side of a start: the model's task queue, then the job states (the queue's setup makes the LF_JOBS
 * bucket they are read from when nobody has yet); the connection is closed again on failure.
 */
async function openNatsSide(
  nats: JetStreamContext,
  modelName: string,
  options: WorkerOptions,
  log: Logger,
): Promise<{ nats: JetStreamContext; queue: NatsTaskQueue; jobStates: WatchedJobStates }> {
  try {
    const queue = await openWorkerTaskQueue(nats, modelName, options);
    const jobStates = await watchJobStates(() => openJobsBucket(nats), log);
    return { nats, queue, jobStates };
  } catch (err) {
    await nats.nc.close().catch(() => undefined);
    throw err;
  }
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const workerId = options.workerId ?? `${hostname()}-${process.pid}`;
  const log = options.log ?? createLogger({ worker: workerId });
  let device: Device;
  let batchSize: number;
  try {
    device = typeof options.device === "object" ? options.device : parseDevice(options.device ?? "cpu");
    batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new LatentFleetError(
        "INVALID_ARGUMENT",
        `batch size must be a positive integer, got ${batchSize}`,
      );
    }
    // A bad address fails before the model loads.
    if (options.metricsAddress !== undefined) parseListenAddress(options.metricsAddress);
  } catch (err) {
    // An engine thread already started is this worker's to close: it would keep the process alive.
    await options.engineStarting?.then((e) => e.close()).catch(() => undefined);
    throw err;
  }
  const deviceName = formatDevice(device);

  // The model loads on the engine's thread while this one connects to NATS and opens the model's task queue
  // and the job states: neither waits for the other. (The queue is the model's by its folder's name.)
  const modelName = options.engine?.model.name ?? modelNameOf(options.modelDir);
  const [engineStart, natsStart] = await Promise.allSettled([
    options.engine ??
      (
        options.engineStarting ??
        EngineHost.start({
          modelDir: options.modelDir,
          device,
          intraOpThreads: options.intraOpThreads,
        })
      ).then((engine) => {
        log.debug("model loaded", { process_ms: Math.round(performance.now()) });
        return engine;
      }),
    connectJetStream(options.natsUrl, `latent-fleet worker ${workerId}`, {
      auth: options.natsAuth,
      firstConnectWaitMs: options.natsConnectWaitMs,
    }).then((nats) => {
      log.debug("nats connected", { process_ms: Math.round(performance.now()) });
      return openNatsSide(nats, modelName, options, log);
    }),
  ]);
  if (engineStart.status === "rejected" || natsStart.status === "rejected") {
    if (engineStart.status === "fulfilled" && engineStart.value !== options.engine) {
      await (engineStart.value as EngineHost).close().catch(() => undefined);
    }
    if (natsStart.status === "fulfilled") {
      natsStart.value.jobStates.stop();
      await natsStart.value.nats.nc.close().catch(() => undefined);
    }
    // A model problem is said first, as when the model loaded before NATS was tried.
    throw engineStart.status === "rejected"
      ? engineStart.reason
      : (natsStart as PromiseRejectedResult).reason;
  }
  const engine: WorkerEngine = engineStart.value;
  const { nats, queue, jobStates } = natsStart.value;
  // Only an engine started here is closed here; a given one stays the caller's.
  const ownEngine = engine !== options.engine && engine instanceof EngineHost ? engine : undefined;
  const model = engine.model;
  // What the start opened, closed again (last first) should it fail.
  const opened: (() => unknown)[] = [() => ownEngine?.close(), () => nats.nc.close(), () => jobStates.stop()];
  try {
    if (model.name !== modelName) {
      throw new LatentFleetError(
        "MODEL_MISMATCH",
        `the engine serves ${model.name}, the task queue is ${modelName}'s`,
      );
    }

    const { stats, metrics, batcher, sink, runner } = assembleParts(
      options,
      { workerId, deviceName, batchSize, log },
      engine,
      queue,
      jobStates,
    );
    opened.push(
      () => metrics?.close(),
      () => sink.close(),
    );

    const info = (): WorkerInfo__Input => ({
      worker_id: workerId,
      model: model.name,
      device: deviceName,
      batch_size: batchSize,
      images_generated: stats.generated,
      images_failed: stats.failed,
      images_per_second: stats.imagesPerSecond(),
      uptime_seconds: stats.uptimeSeconds(),
      state: runner.state,
    });
    const drain = (): Promise<number> => runner.drain();
    const grpc =
      options.grpcAddress === undefined
        ? undefined
        : // Loaded only when served: gRPC's server, reflection and health code cost a worker without it
          // (those of `run`) a noticeable part of its start.
          await (await import("./grpc-service.js")).startWorkerGrpc(
            options.grpcAddress,
            { info, drain, accepting: () => runner.state === "running", batcher, model, log },
            options.grpcTls,
          );
    if (grpc) {
      opened.push(() => grpc.stop(0));
      // NOT_SERVING as soon as a drain begins, whoever began it: Kubernetes stops routing Generate calls.
      void runner.drainBegun.then(() => grpc.setServing(false));
    }
    const metricsServer =
      metrics && options.metricsAddress !== undefined
        ? await startMetricsServer(options.metricsAddress, metrics.registry, log)
        : undefined;
    if (metricsServer) opened.push(() => metricsServer.stop());

    let fatal: unknown;
    let resolveDone!: () => void;
    let rejectDone!: (err: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    done.catch(() => undefined);
    let stopPromise: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopPromise ??= (async () => {
        try {
          await drain();
        } catch (err) {
          log.error("drain failed", { error: errorMessage(err) });
        }
        jobStates.stop();
        await sink.close().catch(() => undefined);
        await grpc?.stop(2000).catch(() => undefined);
        // Flush the last acks and naks before closing.
        await nats.nc.flush().catch(() => undefined);
        await nats.nc.close().catch(() => undefined);
        await ownEngine?.close().catch(() => undefined);
        // Last, so that a scrape during the drain still sees the worker.
        await metricsServer?.stop();
        metrics?.close();
        log.info("worker stopped", { images_generated: stats.generated, images_failed: stats.failed });
        if (fatal !== undefined) rejectDone(fatal);
        else resolveDone();
      })();
      return stopPromise;
    };
    void runner.fatal.then((err) => {
      fatal = err;
      log.error("the engine died; handing back the tasks in hand and stopping", { error: errorMessage(err) });
      void stop();
    });

    runner.start();
    log.info("worker started", {
      model: model.name,
      model_dir: model.dir,
      device: deviceName,
      batch_size: batchSize,
      consumer: workersConsumerName(model.name),
      ack_wait_ms: queue.ackWaitMs,
      max_deliver: queue.maxDeliver,
      grpc_port: grpc?.port,
      metrics: metricsServer?.address,
    });

    return {
      workerId,
      model,
      device: deviceName,
      batchSize,
      grpcPort: grpc?.port,
      metricsPort: metricsServer?.port,
      get state() {
        return runner.state;
      },
      info,
      drain,
      stop,
      done,
    };
  } catch (err) {
    for (const close of opened.reverse()) {
      await Promise.resolve()
        .then(close)
        .catch(() => undefined);
    }
    throw err;
  }
}
