/**
 * Task results on LF_RESULTS. The stream keeps them for days, so a coordinator folds them from the
 * sequence after the last one it saved, whether it was running when they were published or not.
 */
import { type Consumer, DeliverPolicy, type JetStreamClient, type PubAck } from "@nats-io/jetstream";
import { LatentFleetError } from "../errors.js";
import type { TaskResult__Input } from "../proto/generated/latentfleet/v1/TaskResult.js";
import { encodeTaskResult } from "./codec.js";
import { RESULTS_STREAM, RESULTS_SUBJECT_PREFIX, resultSubject } from "./names.js";

/**
 * Publishes a result on `lf.results.<job>`. The msg id `<job>.<shard>.<delivery>` drops the copies a
 * publish retry (e.g. across a reconnect) may make; results of different deliveries are all kept and
 * folding must be idempotent per shard.
 */
export function publishResult(
  js: JetStreamClient,
  result: TaskResult__Input,
  opts: { timeoutMs?: number } = {},
): Promise<PubAck> {
  if (!result.job_id || result.shard === undefined) {
    throw new LatentFleetError("INVALID_ARGUMENT", "a task result needs job_id and shard");
  }
  return js.publish(resultSubject(result.job_id), encodeTaskResult(result), {
    msgID: `${result.job_id}.${String(result.shard)}.${result.delivery ?? 0}`,
    expect: { streamName: RESULTS_STREAM },
    timeout: opts.timeoutMs,
  });
}

export interface ReplayOptions {
  /** First stream sequence to deliver (the one after the last folded); from the start when omitted. */
  fromSeq?: number;
  /** Only this job's results; all jobs when omitted. */
  jobId?: string;
}

/**
 * An ordered (ephemeral, self-healing) consumer over LF_RESULTS; each message's `seq` is what to save
 * as "folded up to". Read it with `consume()` or `fetch()`; it keeps delivering new results as they come.
 */
export function replayResults(js: JetStreamClient, opts: ReplayOptions = {}): Promise<Consumer> {
  const from = opts.fromSeq !== undefined && opts.fromSeq > 1 ? opts.fromSeq : undefined;
  return js.consumers.get(RESULTS_STREAM, {
    // A single filter as a string: lists of filters need nats-server 2.10.
    filter_subjects: opts.jobId === undefined ? `${RESULTS_SUBJECT_PREFIX}.>` : resultSubject(opts.jobId),
    ...(from === undefined
      ? { deliver_policy: DeliverPolicy.All }
      : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }),
  });
}
