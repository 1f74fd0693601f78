/**
 * Folds LF_RESULTS in stream order: one ordered consumer over every job's results, from the first
 * sequence an unfinished job may need (see JobManager.resumeAll), handing each result to its job.
 */
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

export interface Loop {
  stop(): Promise<void>;
}

export async function startResultsLoop(
  js: JetStreamClient,
  fromSeq: number,
  handle: (result: TaskResult) => Promise<void>,
  log: Logger,
): Promise<Loop> {
  const consumer = await replayResults(js, { fromSeq });
  const messages: ConsumerMessages = await consumer.consume({ expires: PULL_EXPIRES_MS });
  const done = (async () => {
    for await (const m of messages) {
      let result: TaskResult;
      try {
        result = readTaskResult(m.data);
      } catch (err) {
        log.warn("skipping an undecodable result", { subject: m.subject, seq: m.seq, err });
        continue;
      }
      try {
        await handle(result);
      } catch (err) {
        log.error("cannot fold a result", { job: result.job_id, shard: result.shard, seq: m.seq, err });
      }
    }
  })();
  return {
    async stop() {
      messages.stop();
      await done.catch(() => undefined);
    },
  };
}
