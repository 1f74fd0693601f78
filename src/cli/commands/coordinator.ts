/** `latent-fleet coordinator`: runs the coordinator until SIGINT or SIGTERM. */
import type { Command } from "commander";
import { createLogger } from "../../common/log.js";
import { DEFAULT_GRPC_ADDRESS, MAX_SHARD_SIZE, startCoordinator } from "../../coordinator/index.js";
import { addNatsAuthOptions, type NatsCliOptions, natsAuthFromCli } from "../nats-options.js";
import { integerOption } from "../options.js";
import { addS3Options, applyS3Options, type S3CliOptions } from "../storage-options.js";
import {
  addGrpcServerTlsOptions,
  type GrpcServerTlsCliOptions,
  grpcServerTlsFromCli,
} from "../tls-options.js";

interface CoordinatorCliOptions extends NatsCliOptions, GrpcServerTlsCliOptions, S3CliOptions {
  nats: string;
  grpc: string;
  metrics?: string;
  shardSize?: number;
  maxInFlight?: number;
  replicas?: number;
  allowPath?: string[];
  queueAhead?: number;
}

export function registerCoordinator(program: Command): void {
  const cmd = program
    .command("coordinator")
    .description("run the coordinator: accepts jobs over gRPC, publishes their tasks, folds the results")
    .requiredOption("--nats <url>", "NATS server(s) with JetStream, e.g. nats://127.0.0.1:4222")
    .option("--grpc <host:port>", "where to serve the gRPC API", DEFAULT_GRPC_ADDRESS)
    .option(
      "--metrics <host:port>",
      "serve Prometheus metrics at http://HOST:PORT/metrics (port 0: a free one)",
    )
    .option(
      "--shard-size <n>",
      "most samples per task (default 32)",
      integerOption("--shard-size", 1, MAX_SHARD_SIZE),
    )
    .option(
      "--max-in-flight <n>",
      "most task publishes awaiting the stream's ack, per job (default 256)",
      integerOption("--max-in-flight", 1, 65_536),
    )
    .option(
      "--replicas <n>",
      "replicas of the NATS streams and bucket (3 for a NATS cluster)",
      integerOption("--replicas", 1, 5),
    )
    .option(
      "--queue-ahead <n>",
      "tasks per model kept queued ahead of the workers while jobs take turns publishing (default 32; " +
        "0: no turns, each job publishes all of its tasks at once and jobs run in submission order)",
      integerOption("--queue-ahead", 0, 1_000_000),
    )
    .option(
      "--allow-path <dir...>",
      "folders submissions may read prompt files from and write outputs into (default: the working folder)",
    )
    .action(async (opts: CoordinatorCliOptions) => {
      applyS3Options(opts);
      // Listen before starting: a SIGTERM during start-up (or right after "coordinator started") must
      // stop it cleanly, not kill it with the default action.
      const stopped = new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          resolve();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      const coordinator = await startCoordinator({
        natsUrl: opts.nats,
        natsAuth: natsAuthFromCli(opts),
        grpcAddress: opts.grpc,
        grpcTls: grpcServerTlsFromCli(opts, opts.grpc, createLogger({ component: "coordinator" })),
        metricsAddress: opts.metrics,
        shardSize: opts.shardSize,
        maxInFlight: opts.maxInFlight,
        allowedPaths: opts.allowPath ?? [process.cwd()],
        ...(opts.queueAhead === undefined
          ? {}
          : { fairShare: opts.queueAhead === 0 ? false : { minQueued: opts.queueAhead } }),
        ...(opts.replicas === undefined ? {} : { topology: { replicas: opts.replicas } }),
      });
      await stopped;
      await coordinator.stop();
    });
  // Last, so that they are listed after the command's own options.
  addNatsAuthOptions(cmd);
  addS3Options(cmd);
  addGrpcServerTlsOptions(cmd);
}
