/**
 * Dead-lettered tasks. After max_deliver attempts nats-server stops delivering a task but, in a work
 * queue, keeps the message (checked against 2.9.10), and publishes a max-deliveries advisory naming its
 * stream sequence. LF_DEAD_LETTERS keeps those advisories; the coordinator reads the dead task by sequence,
 * reports its samples failed, deletes it, then acks the advisory. Every step tolerates being repeated, so
 * a coordinator that crashes half-way simply handles the same advisory again.
 */
import {
  type Consumer,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type StoredMsg,
} from "@nats-io/jetstream";
import { LatentFleetError } from "../errors.js";
import { DEAD_LETTERS_CONSUMER, DEAD_LETTERS_STREAM, TASKS_STREAM } from "./names.js";

/** Payload of `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`. */
export interface MaxDeliveriesAdvisory {
  type: string;
  id: string;
  timestamp: string;
  stream: string;
  consumer: string;
  /** Sequence of the dead message in its stream. */
  stream_seq: number;
  /** How many times it was delivered. */
  deliveries: number;
}

const MAX_DELIVER_TYPE = "io.nats.jetstream.advisory.v1.max_deliver";

export function parseMaxDeliveriesAdvisory(data: Uint8Array | string): MaxDeliveriesAdvisory {
  const text = typeof data === "string" ? data : new TextDecoder().decode(data);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new LatentFleetError(
      "PAYLOAD_INVALID",
      `max-deliveries advisory is not JSON: ${text.slice(0, 200)}`,
      {
        cause: err,
      },
    );
  }
  const v = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const ok =
    v.type === MAX_DELIVER_TYPE &&
    typeof v.stream === "string" &&
    typeof v.consumer === "string" &&
    Number.isSafeInteger(v.stream_seq) &&
    Number.isSafeInteger(v.deliveries);
  if (!ok) {
    throw new LatentFleetError(
      "PAYLOAD_INVALID",
      `not a max-deliveries advisory (want type ${MAX_DELIVER_TYPE} with stream, consumer, stream_seq, deliveries): ${text.slice(0, 200)}`,
    );
  }
  return {
    type: MAX_DELIVER_TYPE,
    id: typeof v.id === "string" ? v.id : "",
    timestamp: typeof v.timestamp === "string" ? v.timestamp : "",
    stream: v.stream as string,
    consumer: v.consumer as string,
    stream_seq: v.stream_seq as number,
    deliveries: v.deliveries as number,
  };
}

/** The coordinator's durable consumer of stored max-deliveries advisories (see ensureTopology). */
export function deadLetterAdvisories(js: JetStreamClient): Promise<Consumer> {
  return js.consumers.get(DEAD_LETTERS_STREAM, DEAD_LETTERS_CONSUMER);
}

/** The dead task at `streamSeq` in LF_TASKS, or null when it is already gone (handled before). */
export function fetchDeadTask(jsm: JetStreamManager, streamSeq: number): Promise<StoredMsg | null> {
  return jsm.streams.getMessage(TASKS_STREAM, { seq: streamSeq });
}

/** Removes the dead task from the work queue; false when it was already gone. */
export async function deleteDeadTask(jsm: JetStreamManager, streamSeq: number): Promise<boolean> {
  try {
    // no_erase: the payload need not be overwritten on disk, only dropped.
    return await jsm.streams.deleteMessage(TASKS_STREAM, streamSeq, false);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === MESSAGE_NOT_FOUND) return false;
    throw err;
  }
}

// JSStreamMsgDeleteFailedF ("no message found") as returned for a deleted sequence.
const MESSAGE_NOT_FOUND = 10057;

/**
 * Fetches the dead task, awaits `report` (record its samples as failed), then deletes it. Returns the
 * message, or null when it was already handled. Delete comes last so a crash never loses a report.
 */
export async function takeDeadTask(
  jsm: JetStreamManager,
  streamSeq: number,
  report: (msg: StoredMsg) => Promise<void>,
): Promise<StoredMsg | null> {
  const msg = await fetchDeadTask(jsm, streamSeq);
  if (!msg) return null;
  await report(msg);
  await deleteDeadTask(jsm, streamSeq);
  return msg;
}
