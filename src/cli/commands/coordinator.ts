/** `latent-fleet coordinator`: runs the coordinator until SIGINT or SIGTERM. */
import type { Command } from "commander";
import { LatentFleetError } from "../../common/errors.js";
import { createLogger } from "../../common/log.js";
import { COORDINATOR_OPTIONS } from "../../common/options/index.js";
import { startCoordinator } from "../../coordinator/index.js";
import { composeContactSheet } from "../../eval/contact-sheet.js";
import { addNatsAuthOptions, NATS_AUTH_OPTIONS, natsAuthFromCli } from "../nats-options.js";
import { addDefinedOptions, commandOptions } from "../options.js";
import { addS3Options, applyS3Options, S3_OPTIONS } from "../storage-options.js";
import { addGrpcServerTlsOptions, GRPC_SERVER_TLS_OPTIONS, grpcServerTlsFromCli } from "../tls-options.js";

/** Every option of `coordinator`, in help order. */
const COORDINATOR_COMMAND_OPTIONS = {
  ...COORDINATOR_OPTIONS,
  ...NATS_AUTH_OPTIONS,
  ...S3_OPTIONS,
  ...GRPC_SERVER_TLS_OPTIONS,
} as const;

export function registerCoordinator(program: Command): void {
  const cmd = program
    .command("coordinator")
    .description("run the coordinator: accepts jobs over gRPC, publishes their tasks, folds the results")
    .action(async (_: unknown, cmd: Command) => {
      const opts = commandOptions(cmd, COORDINATOR_COMMAND_OPTIONS);
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
      if (opts.uiTls && (opts.ui === undefined || !opts.grpcTlsCert || !opts.grpcTlsKey)) {
        throw new LatentFleetError(
          "INVALID_ARGUMENT",
          "--ui-tls serves --ui with the gRPC TLS certificate: it needs --ui, --grpc-tls-cert and --grpc-tls-key",
        );
      }
      const grpcTls = grpcServerTlsFromCli(opts, opts.grpc, createLogger({ component: "coordinator" }));
      const coordinator = await startCoordinator({
        natsUrl: opts.nats,
        natsAuth: natsAuthFromCli(opts),
        natsConnectWaitMs: Math.round(opts.natsConnectWait * 1000),
        grpcAddress: opts.grpc,
        grpcTls,
        metricsAddress: opts.metrics,
        ...(opts.ui === undefined
          ? {}
          : {
              ui: {
                address: opts.ui,
                ...(opts.uiToken ? { token: opts.uiToken } : {}),
                ...(opts.uiTls && grpcTls ? { tls: grpcTls } : {}),
                composeSheet: (tiles) => composeContactSheet(tiles, { columns: 4, scale: 1 }),
              },
            }),
        shardSize: opts.shardSize,
        maxInFlight: opts.maxInFlight,
        allowedPaths: opts.allowPath ? [...opts.allowPath] : [process.cwd()],
        fairShare: opts.queueAhead === 0 ? false : { minQueued: opts.queueAhead },
        ...(opts.replicas === undefined ? {} : { topology: { replicas: opts.replicas } }),
      });
      await stopped;
      await coordinator.stop();
    });
  addDefinedOptions(cmd, COORDINATOR_OPTIONS);
  // Last, so that they are listed after the command's own options.
  addNatsAuthOptions(cmd);
  addS3Options(cmd);
  addGrpcServerTlsOptions(cmd);
}
