/**
 * The task queue as a worker sees it: tasks pulled in bounded requests, each delivery held on a lease that
 * the worker keeps with confirmed progress and ends with ack, nak or term; and the way its results go back.
 * The NATS adapter (src/common/nats/task-queue.ts) implements it over JetStream.
 *
 * A lease, as JetStream keeps it: a delivery that sees no progress for ack_wait is handed out again, maybe
 * to another worker, and an ack, nak or term sent after that may end the *other* delivery. So the queue
 * tells the worker how long it certainly still holds a delivery (`held`), `progress()` renews that only
 * when the queue confirmed it in time, and the worker ends a delivery only after a confirmed progress; one
 * it no longer holds it leaves to its redelivery.
 */
import type { Task, TaskResult } from "../contract/task.js";

export interface PullRequest {
  /** Deliveries to ask for at most. */
  max: number;
  /** How long the request waits for them. */
  expiresMs: number;
  /**
   * Cancels the request: the pull then ends as soon as the queue took note, without waiting for `expiresMs`.
   * What the queue delivered before that is still yielded (the caller gives it back); it hands nothing to
   * the request after, so no task is held by a request nobody reads.
   */
  signal?: AbortSignal;
}

/** The queue's terms for every delivery. */
export interface LeaseTerms {
  /** A delivery without confirmed progress for this long is handed out again. */
  readonly ackWaitMs: number;
  /** Deliveries after which the queue gives a task up (dead letter); 0 or less: unlimited. */
  readonly maxDeliver: number;
}

export interface TaskQueue extends LeaseTerms {
  /**
   * One pull request: yields each delivery as it arrives, and ends once `max` came or the request expired.
   * A delivery's lease runs from when the request was sent. Throws when the queue cannot be reached.
   */
  pull(request: PullRequest): AsyncIterable<Pulled>;
  /** Publishes a task's result for its job; resolves once the queue stored it. */
  publishResult(result: TaskResult): Promise<void>;
}

/** One delivery of a task to this worker, until it is acked, given back or terminated. */
export interface DeliveryHandle {
  /** Names the delivery in logs (the stream sequence on NATS). */
  readonly seq: number;
  /** 1 on the task's first delivery. */
  readonly deliveryCount: number;
  /** False once the delivery may have passed to another worker; it stays false. */
  readonly held: boolean;
  /**
   * Reports progress (an in-progress ack) and waits for the queue to confirm it: true when it did while the
   * delivery was certainly still held (the lease then runs ack_wait from when it was sent), false otherwise.
   */
  progress(): Promise<boolean>;
  /** Ends the delivery, done; resolves once the queue confirmed the ack, rejects when it did not. */
  ack(): Promise<void>;
  /** Gives the task back, to be delivered again after `delayMs` (at once when omitted). */
  nak(delayMs?: number): void;
  /**
   * Takes the task off the queue for good. The reason is for the record: nats-server 2.9 ignores a term
   * that carries one (the task comes back after ack_wait), so the NATS adapter leaves it off.
   */
  term(reason: string): void;
}

/** A delivery whose payload is a task. */
export interface Delivery extends DeliveryHandle {
  readonly task: Task;
}

/** A delivery whose payload is no task: nobody can ever run it. */
export interface UnreadableDelivery extends DeliveryHandle {
  readonly task: undefined;
  /** Why it is not a task (PAYLOAD_INVALID). */
  readonly error: unknown;
  /** The payload's size. */
  readonly bytes: number;
}

export type Pulled = Delivery | UnreadableDelivery;
