/**
 * Folds LF_RESULTS in stream order: one ordered consumer over every job's results, from the first
 * sequence an unfinished job may need (see JobManager.resumeAll), handing each result to its job.
 *
 * The consumer is watched: on a cluster it is an ephemeral of one replica on one node, and when that node
 * dies the client's consume() can go silent for good (seen with nats.js 3 against nats-server 2.9: no
 * message, no heartbeat, no "heartbeats missed" after a SIGKILLed node). A healthy consumer shows a sign
 * of life (a message, a heartbeat, a server status) every half pull; when the client reports heartbeats
 * missed, or after SILENCE_MS without a sign, it is stopped and a new one created from the sequence after
 * the last result handed on.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";
import type { TaskResult } from "../common/contract/task.js";
import type { Logger } from "../common/log.js";
import { readTaskResult, replayResults } from "../common/nats/index.js";

/**
 * How long each pull request of the loops lasts; the server sends heartbeats every half of it. After a
 * nats-server restart the consumer is only recreated once two heartbeats were missed, so with the client's
 * default (30 s) results would stop being folded for about a minute after a few seconds of NATS outage.
 */
export const PULL_EXPIRES_MS = 5_000;
/** Four heartbeats missed: the consumer is gone, whatever the client says. */
const SILENCE_MS = 2 * PULL_EXPIRES_MS;
/** Wait before creating the consumer again after it failed or went silent. */
const RECREATE_DELAY_MS = 1_000;
/** Status events of a working consumer, not worth a log line. */
const ROUTINE = new Set(["next", "heartbeat", "discard", "debug"]);

/** Where a result sits in LF_RESULTS, and when it was stored there. */
export interface ResultOrigin {
  seq: number;
  storedAtMs: number;
}

export interface Loop {
  stop(): Promise<void>;
}

export async function startResultsLoop(
  js: JetStreamClient,
  fromSeq: number,
  handle: (result: TaskResult, origin: ResultOrigin) => Promise<void>,
  log: Logger,
): Promise<Loop> {
  let next = fromSeq;
  let stopped = false;
  let current: ConsumerMessages | null = await open(js, next);

  /** Hands on what `messages` delivers until it ends (stopped, or silent for too long). */
  const drain = async (messages: ConsumerMessages) => {
    let lastSign = Date.now();
    void (async () => {
      for await (const s of messages.status()) {
        if (!ROUTINE.has(s.type)) log.info("results consumer", { status: s });
        if (s.type === "heartbeats_missed") {
          // The client counted heartbeats that did not come: its own reset waits on the consumer's node,
          // which a dead node never answers, so a new consumer is made now (from the next result).
          log.warn("the results consumer missed its heartbeats; creating it again", { from_seq: next });
          messages.stop();
        } else if (s.type !== "next") {
          // A status the server sent (heartbeat, 408/409) proves the consumer is there; "next" is our own pull.
          lastSign = Date.now();
        }
      }
    })().catch(() => undefined);
    const watchdog = setInterval(() => {
      if (Date.now() - lastSign < SILENCE_MS) return;
      log.warn("the results consumer went silent; creating it again", {
        from_seq: next,
        silent_ms: SILENCE_MS,
      });
      messages.stop();
    }, 1_000);
    try {
      for await (const m of messages) {
        lastSign = Date.now();
        next = m.seq + 1;
        let result: TaskResult;
        try {
          result = readTaskResult(m.data);
        } catch (err) {
          log.warn("skipping an undecodable result", { subject: m.subject, seq: m.seq, err });
          continue;
        }
        try {
          await handle(result, { seq: m.seq, storedAtMs: m.time.getTime() });
        } catch (err) {
          log.error("cannot fold a result", { job: result.job_id, shard: result.shard, seq: m.seq, err });
        }
        // A long fold is not the consumer's silence.
        lastSign = Date.now();
      }
    } finally {
      clearInterval(watchdog);
    }
  };

  const done = (async () => {
    while (!stopped) {
      try {
        current ??= await open(js, next);
        // stop() may have come while the consumer was being created.
        if (stopped) current.stop();
        await drain(current);
      } catch (err) {
        if (!stopped) log.warn("the results consumer failed; creating it again", { from_seq: next, err });
      }
      current = null;
      if (!stopped) await sleep(RECREATE_DELAY_MS);
    }
  })();
  return {
    async stop() {
      stopped = true;
      current?.stop();
      await done.catch(() => undefined);
    },
  };
}

function open(js: JetStreamClient, fromSeq: number): Promise<ConsumerMessages> {
  return replayResults(js, { fromSeq }).then((c) => c.consume({ expires: PULL_EXPIRES_MS }));
}
