/**
 * Dead-lettered tasks: for each stored max-deliveries advisory, read the dead task, publish a TaskResult
 * with dead_lettered set and every sample failed ("task dead-lettered after N deliveries") on the job's
 * result subject, delete the task, ack the advisory. Going through LF_RESULTS makes a dead letter fold
 * like any result: in order, idempotently, and again on a results replay after a restart. Each step
 * tolerates repetition (msg id `<job>.<shard>.dead`; takeDeadTask skips a task already gone).
 */
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Task } from "../common/contract/task.js";
import type { Logger } from "../common/log.js";
import {
  deadLetterAdvisories,
  encodeTaskResult,
  parseMaxDeliveriesAdvisory,
  RESULTS_STREAM,
  readTask,
  resultSubject,
  TASKS_STREAM,
  takeDeadTask,
} from "../common/nats/index.js";
import { type Loop, PULL_EXPIRES_MS } from "./results-loop.js";

const RETRY_DELAY_MS = 5_000;

export async function publishDeadLetterResult(
  js: JetStreamClient,
  task: Task,
  deliveries: number,
): Promise<void> {
  const reason = `task dead-lettered after ${deliveries} deliveries`;
  const data = encodeTaskResult({
    job_id: task.job_id,
    shard: task.shard,
    worker_id: "coordinator",
    delivery: deliveries,
    dead_lettered: true,
    samples: task.samples.map((s) => ({
      sample_id: s.sample_id,
      index: s.index,
      ok: false,
      error: reason,
      error_code: "DEAD_LETTERED",
    })),
  });
  await js.publish(resultSubject(task.job_id), data, {
    msgID: `${task.job_id}.${task.shard}.dead`,
    expect: { streamName: RESULTS_STREAM },
  });
}

export async function startDeadLetterLoop(
  js: JetStreamClient,
  jsm: JetStreamManager,
  log: Logger,
  onDeadLettered?: (task: Task) => void,
): Promise<Loop> {
  const consumer = await deadLetterAdvisories(js);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 16, expires: PULL_EXPIRES_MS });
  const handle = async (m: JsMsg) => {
    let advisory: ReturnType<typeof parseMaxDeliveriesAdvisory>;
    try {
      advisory = parseMaxDeliveriesAdvisory(m.data);
    } catch (err) {
      log.warn("dropping an unreadable dead-letter advisory", { err });
      m.term();
      return;
    }
    if (advisory.stream !== TASKS_STREAM) {
      m.ack();
      return;
    }
    await takeDeadTask(jsm, advisory.stream_seq, async (stored) => {
      let task: Task;
      try {
        task = readTask(stored.data);
      } catch (err) {
        log.error("a dead-lettered task cannot be decoded; removing it", { seq: advisory.stream_seq, err });
        return;
      }
      log.warn("task dead-lettered", {
        job: task.job_id,
        shard: task.shard,
        deliveries: advisory.deliveries,
        consumer: advisory.consumer,
      });
      await publishDeadLetterResult(js, task, advisory.deliveries);
      onDeadLettered?.(task);
    });
    await m.ackAck();
  };
  const done = (async () => {
    for await (const m of messages) {
      try {
        await handle(m);
      } catch (err) {
        log.error("cannot handle a dead-letter advisory; retrying later", { err });
        m.nak(RETRY_DELAY_MS);
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
