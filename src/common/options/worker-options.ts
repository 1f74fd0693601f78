/**
 * The worker's options: the `worker` command is built from them, `run` forwards some of them, and
 * startWorker takes its defaults from them.
 */
import { WORKER_CONSUMER_DEFAULTS } from "../nats/topology-defaults.js";
import type { OptionDefinitions } from "./option-definition.js";
import {
  METRICS_OPTION,
  NATS_CONNECT_WAIT_OPTION,
  NATS_URL_OPTION,
  REPLICAS_OPTION,
} from "./shared-options.js";

export const WORKER_OPTIONS = {
  nats: NATS_URL_OPTION,
  natsConnectWait: NATS_CONNECT_WAIT_OPTION,
  model: {
    type: "text",
    flag: "--model",
    value: "<dir>",
    required: true,
    help: "model folder (diffusers ONNX layout); its folder name routes tasks",
  },
  device: {
    type: "text",
    flag: "--device",
    value: "<device>",
    default: "cpu",
    help: "cpu, cuda:N or tensorrt:N; N is the GPU ordinal, 0 in a Kubernetes pod with one GPU",
  },
  batchSize: {
    type: "integer",
    flag: "--batch-size",
    value: "<n>",
    min: 1,
    max: 1024,
    default: 4,
    help: "largest engine batch; halved automatically when the device runs out of memory",
  },
  grpc: {
    type: "text",
    flag: "--grpc",
    value: "<host:port>",
    help: "serve the Worker gRPC service (Info, Drain, Generate, health) here",
  },
  metrics: METRICS_OPTION,
  threads: {
    type: "integer",
    flag: "--threads",
    value: "<n>",
    min: 1,
    max: 1024,
    unset: "ONNX Runtime's choice (physical cores) on cpu, 1 on a GPU",
    help: "CPU threads per operator for inference",
  },
  workerId: {
    type: "text",
    flag: "--worker-id",
    value: "<id>",
    unset: "<hostname>-<pid>",
    help: "name in results and logs",
  },
  ackWait: {
    type: "number",
    flag: "--ack-wait",
    value: "<seconds>",
    min: 1,
    max: 86_400,
    unset: `the consumer's as it is; ${WORKER_CONSUMER_DEFAULTS.ackWaitMs / 1000} when it is created`,
    help: "set the model's shared consumer: a task whose worker goes silent this long is redelivered",
  },
  maxDeliver: {
    type: "integer",
    flag: "--max-deliver",
    value: "<n>",
    min: 1,
    max: 1000,
    unset: `the consumer's as it is; ${WORKER_CONSUMER_DEFAULTS.maxDeliver} when it is created`,
    help: "set the model's shared consumer: deliveries before a task is dead-lettered",
  },
  replicas: REPLICAS_OPTION,
} as const satisfies OptionDefinitions;
