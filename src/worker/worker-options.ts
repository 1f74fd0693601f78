/** What a worker is given and what it gives back: its options, the engine it needs, the running worker. */
import type { GrpcServerTls } from "../common/grpc/tls.js";
import type { Logger } from "../common/log.js";
import type { NatsAuthOptions } from "../common/nats/security.js";
import { WORKER_OPTIONS } from "../common/options/index.js";
import type { WorkerInfo__Input } from "../common/proto/generated/latentfleet/v1/WorkerInfo.js";
import type { S3Settings } from "../common/storage/index.js";
import type { Device } from "../engine/device.js";
import type { EngineHost } from "../engine/engine-host.js";
import type { ModelDescription } from "../engine/pipeline.js";
import type { BatchEngine } from "./submission.js";
import type { RunnerState } from "./task-runner.js";

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
