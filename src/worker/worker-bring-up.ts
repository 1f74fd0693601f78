/**
 * A worker's start: the model loads on the engine's thread while this one connects to NATS and opens the
 * model's task queue and the job states; neither waits for the other. A failure of either closes what the
 * other opened; a model problem is said first.
 */
import type { Logger } from "../common/log.js";
import { connectJetStream, type JetStreamContext } from "../common/nats/connect.js";
import { warnOnRetry } from "../common/nats/retry.js";
import { type NatsTaskQueue, openWorkerTaskQueue } from "../common/nats/task-queue.js";
import { openJobsBucket } from "../common/nats/worker-setup.js";
import type { Device } from "../engine/device.js";
import { EngineHost } from "../engine/engine-host.js";
import { modelNameOf } from "../engine/model-folder.js";
import { type WatchedJobStates, watchJobStates } from "./job-states.js";
import type { WorkerEngine, WorkerOptions } from "./worker-options.js";

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
    const queue = await openWorkerTaskQueue(nats, modelName, options, {
      onRetry: warnOnRetry(log, "NATS did not answer the worker's setup; retrying"),
    });
    const jobStates = await watchJobStates(() => openJobsBucket(nats), log);
    return { nats, queue, jobStates };
  } catch (err) {
    await nats.nc.close().catch(() => undefined);
    throw err;
  }
}

export interface BroughtUp {
  /** The queue's model name: the model folder's (or the given engine's). */
  modelName: string;
  engine: WorkerEngine;
  /** The engine started here, which the worker closes; a given one stays the caller's. */
  ownEngine: EngineHost | undefined;
  nats: JetStreamContext;
  queue: NatsTaskQueue;
  jobStates: WatchedJobStates;
}

export async function bringUp(
  options: WorkerOptions,
  identity: { workerId: string; device: Device; log: Logger },
): Promise<BroughtUp> {
  const { workerId, device, log } = identity;
  // The queue is the model's by its folder's name.
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
  const started: WorkerEngine = engineStart.value;
  const { nats, queue, jobStates } = natsStart.value;
  // Only an engine started here is closed here; a given one stays the caller's.
  const ownEngine = started !== options.engine && started instanceof EngineHost ? started : undefined;
  const engine = ownEngine ? floatOutput(ownEngine) : started;
  return { modelName, engine, ownEngine, nats, queue, jobStates };
}

/**
 * The engine thread's images as the VAE's floats: the sink's PNG threads make the RGB bytes, so the engine
 * thread starts the next batch without converting this one's (tens of ms per megapixel image).
 */
function floatOutput(host: EngineHost): WorkerEngine {
  return { model: host.model, generate: (requests) => host.generate(requests, "float") };
}
