/**
 * What a worker needs on NATS before it pulls: LF_TASKS and its model's shared consumer (created if nobody
 * has yet, a worker may start before any coordinator), the consumer's terms, and the job bucket it
 * watches for cancelled jobs.
 */
import { type ConsumerInfo, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { isLatentFleetError, LatentFleetError } from "../errors.js";
import { errorMessage } from "../log.js";
import type { JetStreamContext } from "./connect.js";
import { JOBS_BUCKET, TASKS_STREAM, workersConsumerName } from "./names.js";
import { ensureTopology, ensureWorkerConsumer, WORKER_CONSUMER_DEFAULTS } from "./topology.js";

export interface WorkerSetupOptions {
  /** Settings of the shared consumer, applied when given (they change it for every worker of the model). */
  ackWaitMs?: number;
  maxDeliver?: number;
  /** Replicas of the streams and the job bucket, should this worker be the first to create them. */
  replicas?: number;
}

/**
 * Makes sure LF_TASKS and the model's consumer exist. The streams are created (with the defaults) only when
 * nobody has yet, so a worker never overrides the settings a coordinator chose; the consumer's ack_wait and
 * max_deliver are changed only when this worker was given them.
 */
export async function ensureWorkerSetup(
  nats: JetStreamContext,
  model: string,
  options: WorkerSetupOptions = {},
): Promise<ConsumerInfo> {
  const { js, jsm } = nats;
  if (!(await exists(() => jsm.streams.info(TASKS_STREAM)))) {
    await ensureTopology(js, jsm, options.replicas === undefined ? {} : { replicas: options.replicas });
  }
  const have = await exists(() => jsm.consumers.info(TASKS_STREAM, workersConsumerName(model)));
  if (have && options.ackWaitMs === undefined && options.maxDeliver === undefined) return have;
  return ensureWorkerConsumer(jsm, model, {
    ackWaitMs: options.ackWaitMs ?? nanosToMs(have?.config.ack_wait),
    maxDeliver: options.maxDeliver ?? have?.config.max_deliver,
    maxAckPending: have?.config.max_ack_pending,
  });
}

/** The consumer's ack_wait (its default when unset) and max_deliver (-1: unlimited). */
export function workerConsumerTerms(info: ConsumerInfo): { ackWaitMs: number; maxDeliver: number } {
  return {
    ackWaitMs: nanosToMs(info.config.ack_wait) ?? WORKER_CONSUMER_DEFAULTS.ackWaitMs,
    maxDeliver: info.config.max_deliver ?? -1,
  };
}

/** The LF_JOBS bucket (job records, watched for cancellations). */
export function openJobsBucket(nats: JetStreamContext): Promise<KV> {
  return new Kvm(nats.js).open(JOBS_BUCKET);
}

function nanosToMs(ns: number | undefined): number | undefined {
  return ns === undefined ? undefined : Math.round(ns / 1_000_000);
}

async function exists<T>(lookup: () => Promise<T>): Promise<T | undefined> {
  try {
    return await lookup();
  } catch (err) {
    if (
      err instanceof JetStreamApiError &&
      (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound)
    ) {
      return undefined;
    }
    if (isLatentFleetError(err)) throw err;
    throw new LatentFleetError("NATS_SETUP_FAILED", `cannot read the NATS setup: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}
