/**
 * Create-or-update of one stream or consumer, safe to run from several processes at once: missing
 * objects are created, drifted settings that the server lets us change are updated, and settings it
 * cannot change are reported instead of silently kept.
 */
import {
  type ConsumerConfig,
  type ConsumerInfo,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { LatentFleetError } from "../errors.js";

export async function ensureStream(jsm: JetStreamManager, want: StreamConfig): Promise<void> {
  await setupStep(`stream ${want.name}`, async () => {
    const have = await streamConfigOrNull(jsm, want.name);
    if (!have) {
      try {
        await jsm.streams.add(want);
        return;
      } catch (err) {
        // Lost a creation race with another process: fall through to the update path.
        if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NAME_IN_USE) throw err;
      }
    }
    const current = have ?? (await jsm.streams.info(want.name)).config;
    if (differs(current, want)) await jsm.streams.update(want.name, want);
  });
}

// Fields the server keeps as set at creation (2.9): a mismatch means the object is someone else's.
const FIXED_CONSUMER_FIELDS = ["filter_subject", "ack_policy", "deliver_policy", "max_waiting"] as const;
const EDITABLE_CONSUMER_FIELDS = ["ack_wait", "max_deliver", "max_ack_pending"] as const;

export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  want: ConsumerConfig,
): Promise<ConsumerInfo> {
  const name = want.durable_name ?? "";
  return setupStep(`consumer ${stream}/${name}`, async () => {
    const have = await consumerInfoOrNull(jsm, stream, name);
    if (!have) return jsm.consumers.add(stream, want);
    const fixed = FIXED_CONSUMER_FIELDS.filter((k) => want[k] !== undefined && have.config[k] !== want[k]);
    if (fixed.length > 0) {
      throw new LatentFleetError(
        "NATS_SETUP_FAILED",
        `consumer ${stream}/${name} exists with other ${fixed.join(", ")} (${fixed
          .map((k) => `${String(have.config[k])}, want ${String(want[k])}`)
          .join("; ")}); delete it (nats consumer rm ${stream} ${name}) so it can be recreated`,
      );
    }
    const edits = EDITABLE_CONSUMER_FIELDS.filter((k) => have.config[k] !== want[k]);
    if (edits.length === 0) return have;
    return jsm.consumers.update(stream, name, Object.fromEntries(edits.map((k) => [k, want[k]])));
  });
}

// JSStreamNameExistErr: not among the client's JetStreamApiCodes.
const STREAM_NAME_IN_USE = 10058;

async function streamConfigOrNull(jsm: JetStreamManager, name: string): Promise<StreamConfig | null> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return null;
    throw err;
  }
}

async function consumerInfoOrNull(
  jsm: JetStreamManager,
  stream: string,
  name: string,
): Promise<ConsumerInfo | null> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return null;
    throw err;
  }
}

/** True when a field we set has another value on the server (fields we leave unset are not compared). */
function differs(have: StreamConfig, want: StreamConfig): boolean {
  return (Object.keys(want) as (keyof StreamConfig)[]).some(
    (k) => JSON.stringify(have[k]) !== JSON.stringify(want[k]),
  );
}

export async function setupStep<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof LatentFleetError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new LatentFleetError("NATS_SETUP_FAILED", `cannot set up NATS ${what}: ${reason}`, { cause: err });
  }
}
