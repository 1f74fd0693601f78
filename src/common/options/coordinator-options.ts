/**
 * The coordinator's options: the `coordinator` command is built from them, `run` forwards some of them,
 * and startCoordinator and its modules take their defaults and limits from them.
 */
import type { OptionDefinitions } from "./option-definition.js";
import {
  METRICS_OPTION,
  NATS_CONNECT_WAIT_OPTION,
  NATS_URL_OPTION,
  REPLICAS_OPTION,
} from "./shared-options.js";

export const COORDINATOR_OPTIONS = {
  nats: NATS_URL_OPTION,
  natsConnectWait: NATS_CONNECT_WAIT_OPTION,
  grpc: {
    type: "text",
    flag: "--grpc",
    value: "<host:port>",
    default: "0.0.0.0:7070",
    help: "where to serve the gRPC API",
  },
  metrics: METRICS_OPTION,
  ui: {
    type: "text",
    flag: "--ui",
    value: "<host:port>",
    help:
      "serve the live job page at http://HOST:PORT/ (port 0: a free one); read-only, and a host beyond " +
      "loopback (0.0.0.0) makes it reachable from other machines",
  },
  uiToken: {
    type: "text",
    flag: "--ui-token",
    value: "<token>",
    env: "LATENT_FLEET_UI_TOKEN",
    help: "lets the page cancel jobs when given this token (sent as a bearer token); better set by its variable",
  },
  uiTls: {
    type: "switch",
    flag: "--ui-tls",
    help:
      "serve the page over HTTPS with --grpc-tls-cert and --grpc-tls-key; with --grpc-tls-client-ca, as gRPC, " +
      "only clients with a certificate from that CA are answered, and they may cancel jobs",
  },
  shardSize: {
    type: "integer",
    flag: "--shard-size",
    value: "<n>",
    min: 1,
    max: 4096,
    default: 32,
    help: "most samples per task",
  },
  maxInFlight: {
    type: "integer",
    flag: "--max-in-flight",
    value: "<n>",
    min: 1,
    max: 65_536,
    default: 256,
    help: "most task publishes awaiting the stream's ack, per job",
  },
  replicas: REPLICAS_OPTION,
  queueAhead: {
    type: "integer",
    flag: "--queue-ahead",
    value: "<n>",
    min: 0,
    max: 1_000_000,
    default: 32,
    help:
      "tasks per model kept queued ahead of the workers while jobs take turns publishing; 0: no turns, " +
      "each job publishes all of its tasks at once and jobs run in submission order",
  },
  allowPath: {
    type: "list",
    flag: "--allow-path",
    value: "<dir...>",
    unset: "the working folder",
    help: "folders submissions may read prompt files from and write outputs into",
  },
} as const satisfies OptionDefinitions;
