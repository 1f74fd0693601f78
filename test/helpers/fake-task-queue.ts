/**
 * An in-memory task queue (the port of src/common/task-queue/port.ts) with the work-queue semantics the
 * worker relies on in JetStream: a delivery without confirmed progress for ack_wait is handed out again;
 * a nak hands it out again after its delay, a term or an ack takes it off; after max_deliver deliveries a
 * task is given up (dead). An ack, nak or term sent for a delivery that has been handed out again lands
 * on the delivery pending now, as nats-server does; such ends are recorded as stale, and a worker that
 * keeps the lease semantics sends none. The link to the queue can be cut: progress goes unconfirmed, acks
 * and results fail, naks and terms are lost, pulls bring nothing.
 */
import { performance } from "node:perf_hooks";
import type { Task, TaskResult } from "../../src/common/contract/task.js";
import { LatentFleetError } from "../../src/common/errors.js";
import type { DeliveryHandle, Pulled, PullRequest, TaskQueue } from "../../src/common/task-queue/port.js";

type MessageState = "ready" | "pending" | "acked" | "terminated" | "dead";

interface Message {
  seq: number;
  /** undefined: a payload that is no task. */
  task: Task | undefined;
  deliveries: number;
  state: MessageState;
  readyAt: number;
  /** The delivery pending now. */
  current: FakeDelivery | undefined;
}

/** An ack, nak or term as the queue received it. */
export interface DeliveryEnd {
  seq: number;
  /** The delivery it was sent for. */
  deliveryCount: number;
  op: "ack" | "nak" | "term";
  delayMs?: number;
  reason?: string;
  /** Sent for a delivery that had been handed out again: it ended the one pending now instead. */
  stale: boolean;
  /** A pull request of this queue was open when it came. */
  duringPull: boolean;
}

class FakeDelivery implements DeliveryHandle {
  private until: number;
  private lapsed = false;
  progressConfirmed = 0;

  constructor(
    private readonly queue: FakeTaskQueue,
    private readonly message: Message,
    readonly deliveryCount: number,
    requestedAt: number,
  ) {
    this.until = requestedAt + queue.ackWaitMs;
  }

  get seq(): number {
    return this.message.seq;
  }

  /** The moment the queue hands the task out again unless progress comes first. */
  get expiresAt(): number {
    return this.until;
  }

  get held(): boolean {
    if (!this.lapsed && performance.now() >= this.until) this.lapsed = true;
    return !this.lapsed;
  }

  async progress(): Promise<boolean> {
    await new Promise((r) => setImmediate(r));
    if (this.queue.linkDown || !this.held) return false;
    this.until = performance.now() + this.queue.ackWaitMs;
    this.progressConfirmed++;
    return true;
  }

  async ack(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.queue.linkDown) throw new Error("no answer: the link to the queue is down");
    this.queue.end(this.message, this, { op: "ack" });
  }

  nak(delayMs?: number): void {
    if (!this.queue.linkDown) this.queue.end(this.message, this, { op: "nak", delayMs });
  }

  term(reason: string): void {
    if (!this.queue.linkDown) this.queue.end(this.message, this, { op: "term", reason });
  }
}

export class FakeTaskQueue implements TaskQueue {
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  /** Every pull request (max and expiry), in order. */
  readonly pulls: PullRequest[] = [];
  readonly ends: DeliveryEnd[] = [];
  readonly results: TaskResult[] = [];
  /** Every delivery made, in order. */
  readonly delivered: FakeDelivery[] = [];
  linkDown = false;
  /** Told of each end as it arrives (to look at the outputs at that moment). */
  onEnd: ((end: DeliveryEnd) => void) | undefined;
  private readonly messages: Message[] = [];
  private openPulls = 0;
  private readonly waiters = new Set<() => void>();

  constructor(terms: { ackWaitMs: number; maxDeliver: number }) {
    this.ackWaitMs = terms.ackWaitMs;
    this.maxDeliver = terms.maxDeliver;
  }

  /** Queues a task; returns its sequence number. */
  add(task: Task | undefined): number {
    const seq = this.messages.length + 1;
    this.messages.push({ seq, task, deliveries: 0, state: "ready", readyAt: 0, current: undefined });
    this.wake();
    return seq;
  }

  state(seq: number): MessageState {
    this.expireLeases();
    return this.message(seq).state;
  }

  deliveries(seq: number): number {
    return this.message(seq).deliveries;
  }

  get pullOpen(): boolean {
    return this.openPulls > 0;
  }

  async *pull(request: PullRequest): AsyncIterable<Pulled> {
    this.pulls.push({ max: request.max, expiresMs: request.expiresMs });
    const { signal } = request;
    if (signal?.aborted) return;
    const requestedAt = performance.now();
    const deadline = requestedAt + request.expiresMs;
    // A cancelled request ends at once: the queue takes note as the abort happens (NATS: one round trip).
    const cancel = () => this.wake();
    signal?.addEventListener("abort", cancel, { once: true });
    this.openPulls++;
    try {
      let given = 0;
      while (given < request.max && !signal?.aborted) {
        const next = this.linkDown ? undefined : this.nextReady();
        if (next) {
          given++;
          yield this.deliver(next, requestedAt);
          continue;
        }
        const now = performance.now();
        if (now >= deadline) return;
        await this.sleep(Math.min(deadline, this.linkDown ? deadline : this.nextChange()) - now);
      }
    } finally {
      this.openPulls--;
      signal?.removeEventListener("abort", cancel);
    }
  }

  async publishResult(result: TaskResult): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.linkDown) throw new LatentFleetError("NATS_UNAVAILABLE", "the link to the queue is down");
    this.results.push(structuredClone(result));
  }

  /** Applies an end to the delivery pending now (which may not be the one it was sent for). */
  end(message: Message, from: FakeDelivery, what: Pick<DeliveryEnd, "op" | "delayMs" | "reason">): void {
    this.expireLeases();
    const stale = message.current !== from;
    const end: DeliveryEnd = {
      seq: message.seq,
      deliveryCount: from.deliveryCount,
      ...what,
      stale,
      duringPull: this.pullOpen,
    };
    this.ends.push(end);
    this.onEnd?.(end);
    if (message.state !== "pending") return;
    message.current = undefined;
    if (what.op === "ack") message.state = "acked";
    else if (what.op === "term") message.state = "terminated";
    else this.giveBack(message, performance.now() + (what.delayMs ?? 0));
  }

  private message(seq: number): Message {
    const m = this.messages[seq - 1];
    if (!m) throw new Error(`no message ${seq}`);
    return m;
  }

  private deliver(message: Message, requestedAt: number): Pulled {
    message.deliveries++;
    message.state = "pending";
    const delivery = new FakeDelivery(this, message, message.deliveries, requestedAt);
    message.current = delivery;
    this.delivered.push(delivery);
    const { task } = message;
    if (task === undefined) {
      return Object.assign(delivery, {
        task: undefined,
        error: new LatentFleetError("PAYLOAD_INVALID", "not a task"),
        bytes: 3,
      });
    }
    return Object.assign(delivery, { task: structuredClone(task) });
  }

  private nextReady(): Message | undefined {
    this.expireLeases();
    const now = performance.now();
    return this.messages.find((m) => m.state === "ready" && m.readyAt <= now);
  }

  /** Deliveries whose lease ran out go back to the queue (or are given up after the last one). */
  private expireLeases(): void {
    const now = performance.now();
    for (const m of this.messages) {
      if (m.state === "pending" && m.current && now >= m.current.expiresAt) this.giveBack(m, now);
    }
  }

  private giveBack(message: Message, readyAt: number): void {
    message.current = undefined;
    if (this.maxDeliver > 0 && message.deliveries >= this.maxDeliver) {
      message.state = "dead";
      return;
    }
    message.state = "ready";
    message.readyAt = readyAt;
    this.wake();
  }

  /** When something may become deliverable without a call: a delay or a lease running out. */
  private nextChange(): number {
    let at = Number.POSITIVE_INFINITY;
    for (const m of this.messages) {
      if (m.state === "ready") at = Math.min(at, m.readyAt);
      if (m.state === "pending" && m.current) at = Math.min(at, m.current.expiresAt);
    }
    return at;
  }

  /** Waits `ms`, or less when a task is added or given back. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, Math.ceil(ms)));
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
