import type { status } from "@grpc/grpc-js";

/**
 * Error codes shared by every part of Latent Fleet; each names one kind of failure a user can act on.
 * What each one means to a gRPC client, to the shell and to the task queue is ERROR_POLICIES below.
 */
export type ErrorCode =
  | "MODEL_NOT_FOUND"
  | "MODEL_INVALID"
  | "TOKENIZER_INVALID"
  | "SCHEDULER_UNKNOWN"
  | "SCHEDULER_CONFIG_INVALID"
  | "INVALID_ARGUMENT"
  | "DEVICE_INVALID"
  /** The device is valid but this machine cannot run it (e.g. ONNX Runtime's CUDA provider is not installed). */
  | "DEVICE_UNAVAILABLE"
  /** A batch failed in the engine (the model's own error); the engine still runs. */
  | "ENGINE_FAILED"
  /** The engine thread crashed, exited or failed to start: nothing more can run on this engine. */
  | "ENGINE_DEAD"
  /** The engine was closed (the worker is stopping). */
  | "ENGINE_CLOSED"
  | "OUT_OF_MEMORY"
  | "NATS_UNAVAILABLE"
  | "NATS_SERVER_MISSING"
  | "NATS_SETUP_FAILED"
  | "PAYLOAD_INVALID"
  | "SPEC_INVALID"
  | "ROW_INVALID"
  /** The worker is draining: the task goes back to the queue, or the call is refused. */
  | "WORKER_DRAINING"
  /** An output file or the shard metadata could not be written. */
  | "OUTPUT_FAILED"
  /** Before a job starts: its output folder cannot be written, or its bucket cannot be reached. */
  | "OUTPUT_UNAVAILABLE"
  /** The sample's job was cancelled before it ran. */
  | "CANCELLED"
  /** A task for another model reached this worker. */
  | "MODEL_MISMATCH"
  /** No job with that id (coordinator). */
  | "JOB_NOT_FOUND"
  /** A job ended FAILED or CANCELLED (`watch`, `submit --watch`). */
  | "JOB_FAILED"
  /** The task was dead-lettered after its last delivery (errors.jsonl). */
  | "DEAD_LETTERED"
  /** No coordinator answers at the given address, or it did not answer in time. */
  | "COORDINATOR_UNAVAILABLE"
  /** The coordinator answered with an internal error. */
  | "COORDINATOR_ERROR"
  /** A process that `run` started exited before the job ended. */
  | "PROCESS_FAILED"
  /** A submission named a path outside the folders the coordinator may read or write (--allow-path). */
  | "PATH_NOT_ALLOWED";

/** The one error type Latent Fleet throws on purpose: a code for programs, a message for people. */
export class LatentFleetError extends Error {
  override readonly name = "LatentFleetError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isLatentFleetError(err: unknown): err is LatentFleetError {
  return err instanceof LatentFleetError;
}

/** A gRPC status by name (the names of @grpc/grpc-js's `status`; a type import keeps grpc-js out of threads). */
export type GrpcStatusName = keyof typeof status;

/**
 * What the worker does with a task that fails with a code: `nak` gives it back to be delivered again
 * after a pause (until the consumer's max_deliver), `term` gives up on it now.
 */
export type TaskDisposition = "nak" | "term";

/** The documented exit codes of the `latent-fleet` command (README: "Exit codes"). */
export const EXIT_CODES = {
  ok: 0,
  /** The job ran and ended FAILED or CANCELLED, or the command's work failed after it started. */
  failed: 1,
  /** A usage, spec, model, device or output problem found before anything started. */
  badArguments: 2,
  /** Ctrl-C. */
  interrupted: 130,
} as const;

export interface ErrorPolicy {
  /** Trying the same thing again later (or on another worker) can succeed. */
  retryable: boolean;
  /** The status a gRPC service answers with. */
  grpc: GrpcStatusName;
  /** The exit code of a command that ends with it. */
  exit: (typeof EXIT_CODES)["failed" | "badArguments"];
  /** A task that fails with it. */
  task: TaskDisposition;
}

const permanent = (grpc: GrpcStatusName, exit: ErrorPolicy["exit"] = EXIT_CODES.failed): ErrorPolicy => ({
  retryable: false,
  grpc,
  exit,
  task: "term",
});
const transient = (grpc: GrpcStatusName): ErrorPolicy => ({
  retryable: true,
  grpc,
  exit: EXIT_CODES.failed,
  task: "nak",
});
const { badArguments } = EXIT_CODES;

/**
 * Every code's meaning outside the process, in one place: the coordinator's and the worker's gRPC
 * statuses, the CLI's exit codes and the worker's nak/term of a failed task all read it. A problem a command
 * finds before it starts anything (bad arguments, spec, model folder, device, refused path) exits 2; a failure
 * of the work itself exits 1 (the README's table). A model error that a worker meets at its start is also
 * found before that process's work starts; inside a job it only fails samples, and the job exits 1.
 */
export const ERROR_POLICIES: Readonly<Record<ErrorCode, ErrorPolicy>> = {
  MODEL_NOT_FOUND: permanent("INTERNAL", badArguments),
  MODEL_INVALID: permanent("INTERNAL", badArguments),
  TOKENIZER_INVALID: permanent("INTERNAL", badArguments),
  SCHEDULER_UNKNOWN: permanent("INVALID_ARGUMENT", badArguments),
  SCHEDULER_CONFIG_INVALID: permanent("INTERNAL", badArguments),
  INVALID_ARGUMENT: permanent("INVALID_ARGUMENT", badArguments),
  DEVICE_INVALID: permanent("INTERNAL", badArguments),
  DEVICE_UNAVAILABLE: permanent("INTERNAL", badArguments),
  ENGINE_FAILED: transient("INTERNAL"),
  ENGINE_DEAD: transient("INTERNAL"),
  ENGINE_CLOSED: transient("FAILED_PRECONDITION"),
  OUT_OF_MEMORY: transient("RESOURCE_EXHAUSTED"),
  NATS_UNAVAILABLE: transient("UNAVAILABLE"),
  NATS_SERVER_MISSING: permanent("INTERNAL"),
  NATS_SETUP_FAILED: permanent("INTERNAL"),
  PAYLOAD_INVALID: permanent("INTERNAL"),
  SPEC_INVALID: permanent("INVALID_ARGUMENT", badArguments),
  ROW_INVALID: permanent("INVALID_ARGUMENT", badArguments),
  WORKER_DRAINING: transient("FAILED_PRECONDITION"),
  OUTPUT_FAILED: transient("INTERNAL"),
  OUTPUT_UNAVAILABLE: permanent("INTERNAL", badArguments),
  CANCELLED: permanent("INTERNAL"),
  MODEL_MISMATCH: permanent("INTERNAL"),
  JOB_NOT_FOUND: permanent("NOT_FOUND"),
  JOB_FAILED: permanent("INTERNAL"),
  DEAD_LETTERED: permanent("INTERNAL"),
  COORDINATOR_UNAVAILABLE: transient("UNAVAILABLE"),
  COORDINATOR_ERROR: permanent("INTERNAL"),
  PROCESS_FAILED: permanent("INTERNAL"),
  PATH_NOT_ALLOWED: permanent("PERMISSION_DENIED", badArguments),
};

/** The code of a LatentFleetError; any other error has none (a bug, or a library's own failure). */
function codeOf(err: unknown): ErrorCode | undefined {
  return isLatentFleetError(err) ? err.code : undefined;
}

export function isRetryable(code: ErrorCode): boolean {
  return ERROR_POLICIES[code].retryable;
}

/** The gRPC status name for an error: INTERNAL for one without a code. */
export function grpcStatusName(err: unknown): GrpcStatusName {
  const code = codeOf(err);
  return code === undefined ? "INTERNAL" : ERROR_POLICIES[code].grpc;
}

/** The exit code of a command that ends with this error: 1 for one without a code. */
export function exitCodeFor(err: unknown): number {
  const code = codeOf(err);
  return code === undefined ? EXIT_CODES.failed : ERROR_POLICIES[code].exit;
}

/**
 * nak or term for a task that failed with this error. One without a code (a storage or NATS client
 * failure that was not wrapped) is given the benefit of the doubt: nak, and term on its last delivery.
 */
export function taskDisposition(err: unknown): TaskDisposition {
  const code = codeOf(err);
  return code === undefined ? "nak" : ERROR_POLICIES[code].task;
}
