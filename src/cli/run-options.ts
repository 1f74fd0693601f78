/**
 * The options of `run`. Those it hands on to the processes it starts are the children's own definitions,
 * so `run` accepts, refuses and defaults them exactly as `coordinator` and `worker` do.
 */
import {
  COORDINATOR_OPTIONS,
  MAX_FAILED_OPTION,
  type OptionDefinitions,
  WORKER_OPTIONS,
} from "../common/options/index.js";

/** What `run` passes on to each child command, by the child's option key. */
export const RUN_FORWARDED = {
  coordinator: {
    shardSize: COORDINATOR_OPTIONS.shardSize,
    queueAhead: COORDINATOR_OPTIONS.queueAhead,
  },
  worker: {
    batchSize: { ...WORKER_OPTIONS.batchSize, help: "largest engine batch per worker" },
    // Unset with several workers, `run` shares the cores out between them instead of letting each claim them all.
    threads: {
      ...WORKER_OPTIONS.threads,
      help: "CPU threads per worker",
      unset: "ONNX Runtime's choice with one worker, else cores / workers",
    },
    // Unset, `run` gives the consumer of its own embedded server a short one (RUN_ACK_WAIT_S).
    ackWait: {
      ...WORKER_OPTIONS.ackWait,
      help: "a task whose worker goes silent this long (crashed) is redelivered",
      unset: "10 with the embedded server; the consumer's as it is with --nats",
    },
  },
} as const satisfies Record<"coordinator" | "worker", OptionDefinitions>;

/**
 * The ack_wait `run` sets on its embedded server's consumer: a crashed worker's tasks come back after this
 * long instead of the default minute. Busy workers renew their tasks four times per ack_wait.
 */
export const RUN_ACK_WAIT_S = 10;

export const RUN_OPTIONS = {
  out: { type: "text", flag: "--out", value: "<dir>", help: "output folder (overrides the spec's)" },
  workers: {
    type: "integer",
    flag: "--workers",
    value: "<n>",
    min: 1,
    max: 256,
    default: 1,
    help: "worker processes",
  },
  batchSize: RUN_FORWARDED.worker.batchSize,
  nats: {
    type: "text",
    flag: "--nats",
    value: "<url>",
    help: "use this NATS server (JetStream) instead of starting one",
  },
  natsServerBin: {
    type: "text",
    flag: "--nats-server-bin",
    value: "<path>",
    unset: "found on PATH",
    help: "nats-server binary to start",
  },
  device: {
    type: "text",
    flag: "--device",
    value: "<device>",
    default: "cpu",
    help: "cpu, cuda or tensorrt; with cuda/tensorrt, worker i gets GPU i",
  },
  threads: RUN_FORWARDED.worker.threads,
  ackWait: RUN_FORWARDED.worker.ackWait,
  shardSize: RUN_FORWARDED.coordinator.shardSize,
  dryRun: {
    type: "switch",
    flag: "--dry-run",
    help: "check the spec, model and output and print what the job would be, as `validate` does; start nothing",
  },
  queueAhead: RUN_FORWARDED.coordinator.queueAhead,
  maxFailed: MAX_FAILED_OPTION,
  keepLogs: {
    type: "switch",
    flag: "--keep-logs",
    help: "keep the processes' logs even when the job succeeds",
  },
  overwrite: {
    type: "switch",
    flag: "--overwrite",
    unset: "keep its complete shards",
    help: "remove an earlier run's outputs first",
  },
  metrics: {
    type: "switch",
    flag: "--no-metrics",
    unset: "each process on a free loopback port",
    help: "serve no Prometheus metrics",
  },
  metricsPort: {
    type: "integer",
    flag: "--metrics-port",
    value: "<port>",
    min: 1,
    max: 65_535,
    help: "metrics on consecutive loopback ports from this one: the coordinator, then worker 0, 1, ...",
  },
  ui: {
    type: "switch",
    flag: "--no-ui",
    unset: "the coordinator serves it on a free loopback port",
    help: "serve no live job page",
  },
  uiPort: {
    type: "integer",
    flag: "--ui-port",
    value: "<port>",
    min: 1,
    max: 65_535,
    help: "serve the live job page on this loopback port (the same one after a coordinator restart)",
  },
} as const satisfies OptionDefinitions;
