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
  | "ROW_INVALID";

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
