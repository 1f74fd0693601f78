/**
 * Publishing and consuming tasks on LF_TASKS.
 *
 * Worker protocol: pull from `workerTasks(js, model)`, call `keepInProgress` while the task runs,
 * publish the TaskResult once outputs are durable, then `ack()`. A task the worker can never run
 * (undecodable, wrong model) is reported in a TaskResult with dead_lettered set and then `term()`ed
 * WITHOUT a reason: nats-server 2.9 ignores `+TERM <reason>` (the task comes back after ack_wait), and
 * a terminated task is removed from the work queue.
 */
import type { Consumer, JetStreamClient, JsMsg, PubAck } from "@nats-io/jetstream";
import { LatentFleetError } from "../errors.js";
import type { Task__Input } from "../proto/generated/latentfleet/v1/Task.js";
import { encodeTask } from "./codec.js";
import { TASKS_STREAM, taskMsgId, taskSubject, workersConsumerName } from "./names.js";
import { MAX_TASK_PAYLOAD_BYTES, WORKER_CONSUMER_DEFAULTS } from "./topology.js";

/** Every 15 s (a quarter of the default ack_wait): two in-progress acks may be lost before redelivery. */
export const IN_PROGRESS_INTERVAL_MS = WORKER_CONSUMER_DEFAULTS.ackWaitMs / 4;

/**
 * Publishes a task on `lf.tasks.<model>` with Nats-Msg-Id `<job>.<shard>`: `ack.duplicate` is true when
 * the stream already had it (a resumed coordinator republishing). Throws INVALID_ARGUMENT for a task
 * without job, shard or model, or too big for one message (make shards smaller).
 */
export async function publishTask(
  js: JetStreamClient,
  task: Task__Input,
  opts: { timeoutMs?: number } = {},
): Promise<PubAck> {
  if (!task.job_id || !task.model || task.shard === undefined) {
    throw new LatentFleetError("INVALID_ARGUMENT", "a task needs job_id, shard and model");
  }
  const data = encodeTask(task);
  if (data.length > MAX_TASK_PAYLOAD_BYTES) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `task ${task.job_id}/${String(task.shard)} encodes to ${data.length} bytes, over the ${MAX_TASK_PAYLOAD_BYTES} limit; use fewer samples per shard`,
    );
  }
  return js.publish(taskSubject(task.model), data, {
    msgID: taskMsgId(task.job_id, String(task.shard)),
    expect: { streamName: TASKS_STREAM },
    timeout: opts.timeoutMs,
  });
}

/** The shared durable consumer of a model's tasks (created by ensureWorkerConsumer). */
export function workerTasks(js: JetStreamClient, model: string): Promise<Consumer> {
  return js.consumers.get(TASKS_STREAM, workersConsumerName(model));
}

/**
 * Sends in-progress acks (`+WPI`, which reset ack_wait) every `everyMs` until the returned function is
 * called. Must be stopped before the final ack. Failures (connection down) are ignored: the next tick
 * retries, and a task whose acks never arrive is redelivered, which is safe.
 */
export function keepInProgress(msg: JsMsg, everyMs: number = IN_PROGRESS_INTERVAL_MS): () => void {
  const timer = setInterval(() => {
    try {
      msg.working();
    } catch {
      // connection closed or reconnecting; see above
    }
  }, everyMs);
  return () => clearInterval(timer);
}
