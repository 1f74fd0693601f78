/**
 * The topology's default settings and message limits (topology.ts uses them), plain values with no NATS
 * code: the CLI's option definitions show them in help without loading the NATS client.
 */
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/**
 * Largest task message the stream accepts (payload + headers). nats-server's default max_payload is
 * 1 MiB, so a bigger stream limit would never be reached; the sharder keeps encoded tasks under
 * MAX_TASK_PAYLOAD_BYTES (K samples of a few hundred bytes each are far below it).
 */
export const MAX_TASK_MESSAGE_BYTES = 1024 * 1024;
/** Room left for the Nats-Msg-Id and other headers inside MAX_TASK_MESSAGE_BYTES. */
export const MAX_TASK_PAYLOAD_BYTES = MAX_TASK_MESSAGE_BYTES - 4096;

export const TOPOLOGY_DEFAULTS = {
  /**
   * A restarted coordinator republishes the shards after its last saved cursor; the window must cover
   * the restart, including a Kubernetes crash-loop back-off (up to 5 min). Duplicates outside the window
   * are still harmless (a shard rewrites identical files), only wasted work. Cost: one id per shard kept
   * in server memory for the window.
   */
  taskDuplicateWindowMs: 10 * MINUTE_MS,
  /** Results are kept this long so a coordinator that was down can replay what it has not folded. */
  resultsMaxAgeMs: 7 * DAY_MS,
  /** Unhandled dead-letter advisories wait this long for a coordinator. */
  deadLettersMaxAgeMs: 7 * DAY_MS,
  replicas: 1,
} as const;

export const WORKER_CONSUMER_DEFAULTS = {
  /** A worker that stops sending in-progress acks for this long is presumed dead and its task redelivered. */
  ackWaitMs: 60_000,
  /** Attempts before a task is dead-lettered: enough for a worker crash or two, bounded for poison tasks. */
  maxDeliver: 5,
  /** Cap on tasks delivered and not yet acked, over all workers of the model (the server's own default). */
  maxAckPending: 1000,
  /**
   * Pending pull requests the consumer keeps (one per idle worker). The server default (512) would
   * starve a fleet larger than that, and the server refuses to change it after creation.
   */
  maxWaiting: 4096,
} as const;
