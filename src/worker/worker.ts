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
import { createLogger, errorMessage } from "../common/log.js";
import { parseListenAddress, startMetricsServer } from "../common/metrics.js";
import { workersConsumerName } from "../common/nats/names.js";
import type { WorkerInfo__Input } from "../common/proto/generated/latentfleet/v1/WorkerInfo.js";
import { type Device, formatDevice, parseDevice } from "../engine/device.js";
import { bringUp } from "./worker-bring-up.js";
import { DEFAULT_BATCH_SIZE, type RunningWorker, type WorkerOptions } from "./worker-options.js";
import { assembleParts } from "./worker-parts.js";

export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_LINGER_MS,
  type RunningWorker,
  type WorkerEngine,
  type WorkerOptions,
} from "./worker-options.js";

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

  const { modelName, engine, ownEngine, nats, queue, jobStates } = await bringUp(options, {
    workerId,
    device,
    log,
  });
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
            {
              info,
              drain,
              accepting: () => runner.state === "running",
              batcher,
              encodePng: (image) => sink.encodePng(image),
              model,
              log,
            },
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
