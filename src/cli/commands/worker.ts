/**
 * `latent-fleet worker`: one worker process per GPU. Pulls tasks of its model from NATS until SIGTERM or
 * SIGINT, then drains (finishes the batch in hand, hands the other tasks back at once) and exits 0. A second
 * signal exits at once (the tasks in hand come back after ack_wait). Logs are JSON lines on stderr.
 */
import type { Command } from "commander";
import { createLogger } from "../../common/log.js";
import { type OptionValues, WORKER_OPTIONS } from "../../common/options/index.js";
import { parseDevice } from "../../engine/device.js";
import { EngineHost } from "../../engine/engine-host.js";
import type { RunningWorker } from "../../worker/index.js";
import { checkModel } from "../model-check.js";
import { addNatsAuthOptions, NATS_AUTH_OPTIONS, natsAuthFromCli } from "../nats-options.js";
import { addDefinedOptions, commandOptions } from "../options.js";
import { addS3Options, applyS3Options, S3_OPTIONS } from "../storage-options.js";
import { addGrpcServerTlsOptions, GRPC_SERVER_TLS_OPTIONS, grpcServerTlsFromCli } from "../tls-options.js";

/** Every option of `worker`, in help order. */
const WORKER_COMMAND_OPTIONS = {
  ...WORKER_OPTIONS,
  ...NATS_AUTH_OPTIONS,
  ...S3_OPTIONS,
  ...GRPC_SERVER_TLS_OPTIONS,
} as const;

type WorkerCommandOptions = OptionValues<typeof WORKER_COMMAND_OPTIONS>;

export function registerWorker(program: Command): void {
  const cmd = program
    .command("worker")
    .description("run a worker: generate the images of queued tasks on one device (one worker per GPU)")
    .action(async (_: unknown, cmd: Command) => {
      const opts = commandOptions(cmd, WORKER_COMMAND_OPTIONS);
      applyS3Options(opts);
      await runWorker(opts);
    });
  addDefinedOptions(cmd, WORKER_OPTIONS);
  // Last, so that they are listed after the command's own options.
  addNatsAuthOptions(cmd);
  addS3Options(cmd);
  addGrpcServerTlsOptions(cmd);
}

async function runWorker(opts: WorkerCommandOptions): Promise<void> {
  // A worker has no spec: its model and device are what can be wrong before it connects to anything.
  await checkModel(opts.model, opts.device);
  const grpcTls = grpcServerTlsFromCli(opts, opts.grpc, createLogger({ component: "worker" }));
  // Listen before starting: a SIGTERM while the model loads stops the worker once it is up (nothing pulled
  // yet), instead of killing it with the default action.
  let worker: RunningWorker | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: "warn", msg: `second ${signal}: exiting without draining` })}\n`,
      );
      process.exit(1);
    }
    void worker?.stop();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    // The model loads on its thread while this one loads the worker's code (NATS, outputs, metrics) and
    // connects: the worker is ready that much sooner. Its failure is reported by startWorker.
    const engineStarting = EngineHost.start({
      modelDir: opts.model,
      device: parseDevice(opts.device),
      intraOpThreads: opts.threads,
    });
    engineStarting.catch(() => undefined);
    const { startWorker } = await import("../../worker/index.js").catch(async (err: unknown) => {
      await engineStarting.then((e) => e.close()).catch(() => undefined);
      throw err;
    });
    worker = await startWorker({
      engineStarting,
      natsUrl: opts.nats,
      natsAuth: natsAuthFromCli(opts),
      natsConnectWaitMs: Math.round(opts.natsConnectWait * 1000),
      modelDir: opts.model,
      device: opts.device,
      batchSize: opts.batchSize,
      grpcAddress: opts.grpc,
      grpcTls,
      metricsAddress: opts.metrics,
      intraOpThreads: opts.threads,
      workerId: opts.workerId,
      ackWaitMs: opts.ackWait === undefined ? undefined : Math.round(opts.ackWait * 1000),
      maxDeliver: opts.maxDeliver,
      replicas: opts.replicas,
    });
    if (signals > 0) void worker.stop();
    await worker.done;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}
