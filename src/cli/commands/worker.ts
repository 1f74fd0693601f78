/**
 * `latent-fleet worker`: one worker process per GPU. Pulls tasks of its model from NATS until SIGTERM or
 * SIGINT, then drains (finishes the batch in hand, hands the other tasks back at once) and exits 0. A second
 * signal exits at once (the tasks in hand come back after ack_wait). Logs are JSON lines on stderr.
 */
import type { Command } from "commander";
import { createLogger } from "../../common/log.js";
import { DEFAULT_BATCH_SIZE, type RunningWorker, startWorker } from "../../worker/index.js";
import { addNatsAuthOptions, type NatsCliOptions, natsAuthFromCli } from "../nats-options.js";
import { integerOption, numberOption } from "../options.js";
import { addS3Options, applyS3Options, type S3CliOptions } from "../storage-options.js";
import {
  addGrpcServerTlsOptions,
  type GrpcServerTlsCliOptions,
  grpcServerTlsFromCli,
} from "../tls-options.js";

interface WorkerCommandOptions extends NatsCliOptions, GrpcServerTlsCliOptions, S3CliOptions {
  nats: string;
  model: string;
  device: string;
  batchSize: number;
  grpc?: string;
  metrics?: string;
  threads?: number;
  workerId?: string;
  ackWait?: number;
  maxDeliver?: number;
  replicas?: number;
}

export function registerWorker(program: Command): void {
  const cmd = program
    .command("worker")
    .description("run a worker: generate the images of queued tasks on one device (one worker per GPU)")
    .requiredOption("--nats <url>", "NATS server URL (nats://host:4222; several, comma-separated)")
    .requiredOption("--model <dir>", "model folder (diffusers ONNX layout); its folder name routes tasks")
    .option(
      "--device <device>",
      "cpu, cuda:N or tensorrt:N; N is the GPU ordinal (in a Kubernetes pod with one GPU: cuda:0)",
      "cpu",
    )
    .option(
      "--batch-size <n>",
      "largest engine batch; halved automatically when the device runs out of memory",
      integerOption("--batch-size", 1, 1024),
      DEFAULT_BATCH_SIZE,
    )
    .option("--grpc <host:port>", "serve the Worker gRPC service (Info, Drain, Generate, health) here")
    .option(
      "--metrics <host:port>",
      "serve Prometheus metrics at http://HOST:PORT/metrics (port 0: a free one)",
    )
    .option(
      "--threads <n>",
      "CPU threads per operator for inference (default: all cores on cpu, 1 on a GPU)",
      integerOption("--threads", 1, 1024),
    )
    .option("--worker-id <id>", "name in results and logs (default: <hostname>-<pid>)")
    .option(
      "--ack-wait <seconds>",
      "set the model's shared consumer: a task whose worker goes silent this long is redelivered (default 60)",
      numberOption("--ack-wait", 1, 86_400),
    )
    .option(
      "--max-deliver <n>",
      "set the model's shared consumer: deliveries before a task is dead-lettered (default 5)",
      integerOption("--max-deliver", 1, 1000),
    )
    .option(
      "--replicas <n>",
      "replicas of the NATS streams and bucket, if this worker is the first to create them (as the coordinator's)",
      integerOption("--replicas", 1, 5),
    )
    .action(async (opts: WorkerCommandOptions) => {
      applyS3Options(opts);
      await runWorker(opts);
    });
  // Last, so that they are listed after the command's own options.
  addNatsAuthOptions(cmd);
  addS3Options(cmd);
  addGrpcServerTlsOptions(cmd);
}

async function runWorker(opts: WorkerCommandOptions): Promise<void> {
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
    worker = await startWorker({
      natsUrl: opts.nats,
      natsAuth: natsAuthFromCli(opts),
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
