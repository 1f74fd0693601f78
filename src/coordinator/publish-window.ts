/**
 * Bounded in-flight publishing: up to `size` publishes awaiting their stream ack at once (one round trip
 * per shard would cap a job at a few thousand shards/s; unbounded would let a slow server pile up memory).
 * Items are pushed in order; `frontier` is the highest item such that it and every earlier one are acked,
 * which is what the publishing cursor may safely record. A failed publish is retried with the same msg id
 * (de-duplication makes that safe) until it succeeds, the signal aborts, or it fails for good.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { PubAck } from "@nats-io/jetstream";
import { isLatentFleetError } from "../common/errors.js";
import { isNatsUnreachable } from "../common/nats/errors.js";
import { COORDINATOR_OPTIONS } from "../common/options/index.js";

export interface PublishWindowOptions {
  /** Most publishes awaiting an ack (default: the --max-in-flight default). */
  size?: number;
  signal?: AbortSignal;
  /** Called before each retry of a failed publish. */
  onRetry?: (item: number, attempt: number, err: unknown) => void;
}

interface Slot {
  item: number;
  done: boolean;
  error: unknown;
  settled: Promise<void>;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;
/**
 * Longest wait between tries while NATS does not answer (no leader, no connection): a leader election
 * ends at an instant nobody is told of, and a publish that waited longer than this after it stalls
 * publishing past the election. A try then costs one message and a 503.
 */
const RETRY_UNREACHABLE_MAX_MS = 1_000;

export class PublishWindow {
  private readonly size: number;
  private readonly slots: Slot[] = [];
  private failure: unknown = null;
  private acked = -1;
  /** Publishes the stream reported as duplicates (a resumed job republishing). */
  duplicates = 0;

  constructor(private readonly opts: PublishWindowOptions = {}) {
    this.size = Math.max(1, opts.size ?? COORDINATOR_OPTIONS.maxInFlight.default);
  }

  /** Highest item acked together with all earlier ones (-1 before the first). */
  get frontier(): number {
    return this.acked;
  }

  /** Starts publishing `item` (items must increase); waits while the window is full. */
  async push(item: number, publish: () => Promise<PubAck>): Promise<void> {
    if (this.free <= 0) await this.room();
    this.start(item, publish);
  }

  /** Publishes that may start now without waiting. */
  get free(): number {
    return this.size - this.slots.length;
  }

  /** Waits until at least one publish may start (throws an earlier publish's failure). */
  async room(): Promise<void> {
    this.throwIfFailed();
    while (this.slots.length >= this.size) await this.settleOldest();
  }

  /**
   * Starts publishing `item` at once, in this call (items must increase; `free` must be above 0): several
   * started in one go leave in one socket write.
   */
  start(item: number, publish: () => Promise<PubAck>): void {
    this.throwIfFailed();
    if (this.slots.length >= this.size) throw new Error("publish window full");
    const slot: Slot = { item, done: false, error: null, settled: Promise.resolve() };
    slot.settled = this.publishWithRetry(item, publish).then(
      (ack) => {
        slot.done = true;
        if (ack.duplicate) this.duplicates++;
        this.advance();
      },
      (err: unknown) => {
        slot.error = err;
        this.failure ??= err;
      },
    );
    this.slots.push(slot);
    this.advance();
  }

  /** Waits for every publish pushed so far. */
  async drain(): Promise<void> {
    while (this.slots.length > 0) await this.settleOldest();
    this.throwIfFailed();
  }

  private async settleOldest(): Promise<void> {
    const head = this.slots[0];
    if (!head) return;
    await head.settled;
    this.advance();
    this.throwIfFailed();
  }

  /** Drops settled slots from the head, moving the frontier. */
  private advance(): void {
    while (this.slots.length > 0 && this.slots[0].done) {
      this.acked = (this.slots.shift() as Slot).item;
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  private async publishWithRetry(item: number, publish: () => Promise<PubAck>): Promise<PubAck> {
    const signal = this.opts.signal;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      try {
        return await publish();
      } catch (err) {
        // Our own errors (a task too big) will not get better by retrying.
        if (isLatentFleetError(err) || signal?.aborted) throw err;
        this.opts.onRetry?.(item, attempt, err);
        const max = isNatsUnreachable(err) ? RETRY_UNREACHABLE_MAX_MS : RETRY_MAX_MS;
        const delay = Math.min(max, RETRY_MIN_MS * 2 ** Math.min(attempt - 1, 10));
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
  }
}
