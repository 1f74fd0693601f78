/**
 * Publishing and consuming tasks on LF_TASKS.
 *
 * Worker protocol (NatsTaskQueue, task-queue.ts, follows it for a worker): pull from
 * `workerTasks(js, model)`, send in-progress acks while the task runs, publish the TaskResult once
 * outputs are durable, then `ack()`. A task the worker can never run
 * (undecodable, wrong model) is reported in a TaskResult with dead_lettered set and then `term()`ed
 * WITHOUT a reason: nats-server 2.9 ignores `+TERM <reason>` (the task comes back after ack_wait), and
 * a terminated task is removed from the work queue.
 */
import { performance } from "node:perf_hooks";
import type { Consumer, JetStreamClient, JsMsg, PubAck } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { LatentFleetError } from "../errors.js";
import type { Task__Input } from "../proto/generated/latentfleet/v1/Task.js";
import { encodeTask } from "./codec.js";
import { TASKS_STREAM, taskMsgId, taskSubject, workersConsumerName } from "./names.js";
import type { PublishPipe } from "./publish-pipe.js";
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
  const data = taskPayload(task);
  return js.publish(taskSubject(task.model as string), data, {
    msgID: taskMsgId(task.job_id as string, String(task.shard)),
    expect: { streamName: TASKS_STREAM },
    timeout: opts.timeoutMs,
  });
}

/** publishTask through a PublishPipe: the same message and checks, the ack not awaited in turn. */
export async function pipeTask(pipe: PublishPipe, task: Task__Input): Promise<PubAck> {
  const data = taskPayload(task);
  return pipe.publish(taskSubject(task.model as string), data, {
    msgId: taskMsgId(task.job_id as string, String(task.shard)),
    expectStream: TASKS_STREAM,
  });
}

/** The task's encoded bytes; INVALID_ARGUMENT without job, shard or model, or when too big. */
function taskPayload(task: Task__Input): Uint8Array {
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
  return data;
}

/** The shared durable consumer of a model's tasks (created by ensureWorkerConsumer). */
export function workerTasks(js: JetStreamClient, model: string): Promise<Consumer> {
  return js.consumers.get(TASKS_STREAM, workersConsumerName(model));
}

/** Longest wait for the server's answer to one confirmed in-progress ack. */
const CONFIRM_TIMEOUT_MS = 5_000;
const WPI = "+WPI";

export interface DeliveryLeaseOptions {
  /** The connection the message came on (its ack subject is answered through it). */
  nc: NatsConnection;
  /** The consumer's ack_wait. */
  ackWaitMs: number;
  /**
   * performance.now() when the pull request that brought the message was sent: the server started the
   * delivery's ack_wait after it.
   */
  requestedAt: number;
}

/**
 * A worker's hold on one delivery of a task, kept with in-progress acks that the server confirms.
 *
 * Why: nats-server applies an ack, nak or term to whichever delivery of the message is pending *now*
 * (checked with 2.9: the ack subject's delivery count is not compared). A worker cut off from NATS for
 * longer than ack_wait has lost its delivery to another worker; when it comes back, its late ack would
 * end the other worker's delivery (the task is gone if that worker then dies), its nak would hand the task
 * out a third time while it runs (counting towards max_deliver), its term would take it away.
 *
 * So the lease knows a moment until which the server certainly still counts this delivery as pending:
 * ack_wait (less a margin) after the pull request was sent, then after each in-progress ack the server
 * confirmed before that moment, ack_wait after that ack was sent. The worker confirms while it works and
 * again right before it ends the delivery; when the answer does not come in time the delivery is treated
 * as lost (`held` false): the worker sends nothing more for it and leaves the task to its redelivery. What
 * is left is the round trip between a confirmation and the ack that follows it, if the connection breaks
 * exactly there. (NatsTaskQueue's deliveries are held on one; task-queue.ts.)
 */
export class DeliveryLease {
  private until: number;
  private lapsed = false;
  private readonly margin: number;

  constructor(
    private readonly msg: JsMsg,
    private readonly opts: DeliveryLeaseOptions,
  ) {
    // Timers and clocks of server and worker may drift a little apart over one ack_wait.
    this.margin = Math.min(1_000, opts.ackWaitMs / 10);
    this.until = opts.requestedAt + opts.ackWaitMs - this.margin;
  }

  /** False once the delivery may have passed to another worker. */
  get held(): boolean {
    if (!this.lapsed && performance.now() >= this.until) this.lapsed = true;
    return !this.lapsed;
  }

  /**
   * Sends an in-progress ack and waits for the server's answer; true when it came while the delivery was
   * certainly still this worker's (the lease then runs ack_wait from when the ack was sent).
   */
  async confirm(): Promise<boolean> {
    if (!this.held) return false;
    const subject = ackSubject(this.msg);
    if (subject === undefined) {
      // Not a pulled JetStream message (nothing to ask): a plain in-progress ack, and the clock alone.
      this.msg.working();
      return this.held;
    }
    const sent = performance.now();
    try {
      await this.opts.nc.request(subject, WPI, {
        timeout: Math.max(1, Math.min(CONFIRM_TIMEOUT_MS, Math.floor(this.until - sent))),
      });
    } catch {
      // No answer in time (connection down, server restarting): `held` says whether there is time left.
      return false;
    }
    if (!this.held) return false;
    this.until = Math.max(this.until, sent + this.opts.ackWaitMs - this.margin);
    return true;
  }
}

/** The message's ack subject: JsMsg has it at run time (`reply`) but not in its type. */
function ackSubject(msg: JsMsg): string | undefined {
  const reply = (msg as JsMsg & { readonly reply?: unknown }).reply;
  return typeof reply === "string" && reply.startsWith("$JS.ACK.") ? reply : undefined;
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
