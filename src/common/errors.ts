/** Error codes shared by every part of Latent Fleet; each names one kind of failure a user can act on. */
export type ErrorCode =
  | "MODEL_NOT_FOUND"
  | "MODEL_INVALID"
  | "TOKENIZER_INVALID"
  | "SCHEDULER_UNKNOWN"
  | "SCHEDULER_CONFIG_INVALID"
  | "INVALID_ARGUMENT"
  | "DEVICE_INVALID"
  | "ENGINE_FAILED"
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
