/**
 * The task queue port (src/common/task-queue/port.ts) over JetStream: a model's shared durable pull
 * consumer `workers-<model>` on LF_TASKS, results on LF_RESULTS. Pulls use `fetch` (not `consume`, which
 * would keep a buffer of delivered tasks that nobody works on); each delivery is held on a DeliveryLease
 * (tasks.ts), and its payload is decoded once, here, into the task contract's plain values.
 */
import { performance } from "node:perf_hooks";
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Task, TaskResult } from "../contract/task.js";
import type { DeliveryHandle, Pulled, PullRequest, TaskQueue } from "../task-queue/port.js";
import { readTask } from "./codec.js";
import type { JetStreamContext } from "./connect.js";
import { publishResult } from "./results.js";
import { NATS_WRITE_RETRY, type NatsRetryOptions, retryNatsWrite } from "./retry.js";
import { DeliveryLease, workerTasks } from "./tasks.js";
import { ensureWorkerSetup, type WorkerSetupOptions, workerConsumerTerms } from "./worker-setup.js";

/** Longest wait for the server to confirm an ack. */
const ACK_CONFIRM_TIMEOUT_MS = 5_000;

export interface NatsTaskQueueOptions {
  js: JetStreamClient;
  /** The connection under `js` (confirmed in-progress acks, see DeliveryLease). */
  nc: NatsConnection;
  /** The model's shared durable pull consumer (workerTasks). */
  consumer: Consumer;
  /** The consumer's ack_wait. */
  ackWaitMs: number;
  /** The consumer's max_deliver (-1 or 0: unlimited). */
  maxDeliver: number;
}

export class NatsTaskQueue implements TaskQueue {
  readonly ackWaitMs: number;
  readonly maxDeliver: number;

  constructor(private readonly opts: NatsTaskQueueOptions) {
    this.ackWaitMs = opts.ackWaitMs;
    this.maxDeliver = opts.maxDeliver;
  }

  async *pull(request: PullRequest): AsyncIterable<Pulled> {
    const { signal } = request;
    if (signal?.aborted) return;
    const requestedAt = performance.now();
    const messages = await this.opts.consumer.fetch({
      max_messages: request.max,
      expires: request.expiresMs,
    });
    const cancel = () => cancelFetch(messages);
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      if (signal?.aborted) cancel();
      for await (const msg of messages) yield this.delivery(msg, requestedAt);
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }

  /**
   * Rides out an election of LF_RESULTS' leader for up to ack_wait (the delivery is lost after that
   * anyway); the result's msg id makes a retry after a timed-out publish a duplicate the stream drops.
   */
  async publishResult(result: TaskResult): Promise<void> {
    const policy = { ...NATS_WRITE_RETRY, budgetMs: Math.min(NATS_WRITE_RETRY.budgetMs, this.ackWaitMs) };
    await retryNatsWrite(() => publishResult(this.opts.js, result), { policy });
  }

  private delivery(msg: JsMsg, requestedAt: number): Pulled {
    const lease = new DeliveryLease(msg, { nc: this.opts.nc, ackWaitMs: this.ackWaitMs, requestedAt });
    const handle: DeliveryHandle = {
      seq: msg.seq,
      deliveryCount: msg.info.deliveryCount,
      get held() {
        return lease.held;
      },
      progress: () => lease.confirm(),
      ack: async () => {
        await msg.ackAck({ timeout: ACK_CONFIRM_TIMEOUT_MS });
      },
      nak: (delayMs) => msg.nak(delayMs),
      // Without the reason: nats-server 2.9 ignores `+TERM <reason>`.
      term: () => msg.term(),
    };
    let task: Task;
    try {
      task = readTask(msg.data);
    } catch (error) {
      return Object.assign(handle, { task: undefined, error, bytes: msg.data.length });
    }
    return Object.assign(handle, { task });
  }
}

/**
 * Ends a fetch before it expired without losing a delivery on its way. nats-server keeps a pull request
 * until it expires (there is no cancel), but hands deliveries only to a request whose inbox has interest.
 * So the fetch's subscription is drained: UNSUB, then a round trip during which what the server sent
 * before it took note still arrives and is yielded; the iterator ends after that. (close() would
 * unsubscribe at once: a delivery in flight would be dropped by the client and stay leased to nobody
 * until ack_wait.) The subscription is PullConsumerMessagesImpl's `sub` in @nats-io/jetstream 3; where it
 * does not show, close() it is.
 */
function cancelFetch(messages: ConsumerMessages): void {
  const sub = fetchSubscription(messages);
  if (sub && !sub.isClosed()) {
    // Rejects when the connection or the subscription closed meanwhile: the iterator then ends anyway.
    sub.drain().catch(() => messages.stop());
  } else {
    messages.stop();
  }
}

function fetchSubscription(messages: ConsumerMessages): Subscription | undefined {
  const sub: unknown = (messages as { sub?: unknown }).sub;
  if (typeof sub !== "object" || sub === null) return undefined;
  const s = sub as Partial<Subscription>;
  return typeof s.drain === "function" && typeof s.isClosed === "function"
    ? (sub as Subscription)
    : undefined;
}

/**
 * The task queue of a model's workers on this connection: LF_TASKS and the model's consumer set up as
 * ensureWorkerSetup does, its ack_wait and max_deliver read back from the server. A JetStream that does not
 * answer for a while (a cluster electing its leaders while its coordinator and workers start beside it)
 * does not end the worker's start: the setup, which only reads and creates or updates, is tried again
 * (`retry`, NATS_WRITE_RETRY by default; `onRetry` is told each time).
 */
export async function openWorkerTaskQueue(
  nats: JetStreamContext,
  model: string,
  options: WorkerSetupOptions = {},
  retry: NatsRetryOptions = {},
): Promise<NatsTaskQueue> {
  const info = await retryNatsWrite(() => ensureWorkerSetup(nats, model, options), retry);
  return new NatsTaskQueue({
    js: nats.js,
    nc: nats.nc,
    consumer: await workerTasks(nats.js, model),
    ...workerConsumerTerms(info),
  });
}
