/**
 * Writes to JetStream and KV that ride out a leader election. While a stream or bucket has no leader (a
 * node died, a Raft election is on, a partition heals), its API answers nobody ("no responders", which the
 * client reports as "jetstream is not enabled"), answers 503, or a request times out. All of these pass
 * within seconds on a healthy cluster, so such a write is tried again with back-off, within a bounded
 * number of attempts and time. Other errors (a wrong last sequence, a missing stream) are thrown at once.
 *
 * A timed-out write may have been applied: the caller must make its retry idempotent (a message id for a
 * publish, the expected revision for a KV update, see JobStore), and is told which attempt it is making.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log.js";
import { isConnectionClosed, isNatsUnreachable } from "./errors.js";

export interface NatsRetryPolicy {
  /** Most attempts in all (the first included). */
  attempts: number;
  /** Wait before the second attempt; doubles on each retry up to maxDelayMs. */
  minDelayMs: number;
  maxDelayMs: number;
  /** No retry starts later than this after the first attempt began. */
  budgetMs: number;
}

/**
 * Enough for a Raft election and a node restart (nats-server elects a new leader within a few seconds,
 * a lost route is noticed within its ping interval), short enough that a lasting outage is reported.
 */
export const NATS_WRITE_RETRY: NatsRetryPolicy = {
  attempts: 40,
  minDelayMs: 100,
  maxDelayMs: 2_000,
  budgetMs: 60_000,
};

/**
 * A read someone waits on (a status call, within the client's 30 s deadline): it rides out an election,
 * which takes seconds, and reports a lasting outage well before the caller gives up on the answer.
 */
export const NATS_READ_RETRY: NatsRetryPolicy = {
  attempts: 20,
  minDelayMs: 100,
  maxDelayMs: 1_000,
  budgetMs: 10_000,
};

export interface NatsRetryOptions {
  policy?: NatsRetryPolicy;
  signal?: AbortSignal;
  /** Told before each retry: the attempt that failed (1 for the first), its error, the wait. */
  onRetry?: (attempt: number, err: unknown, delayMs: number) => void;
}

/** An onRetry that logs each retry as a warning: `message`, the attempt, its error and the wait. */
export function warnOnRetry(log: Logger | undefined, message: string): NatsRetryOptions["onRetry"] {
  return (attempt, err, delayMs) => log?.warn(message, { attempt, delay_ms: delayMs, err });
}

/** The wait after failed attempt `attempt` (1-based): exponential from minDelayMs, capped. */
export function retryDelayMs(policy: NatsRetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.min(Math.max(0, attempt - 1), 20));
}

/**
 * Runs `write(attempt)` (attempt 1, 2, ...) until it succeeds; retries while NATS does not answer
 * (isNatsUnreachable) on a connection that is not closed for good, within the policy's attempts and
 * budget, and throws the last error after that.
 */
export async function retryNatsWrite<T>(
  write: (attempt: number) => Promise<T>,
  opts: NatsRetryOptions = {},
): Promise<T> {
  const policy = opts.policy ?? NATS_WRITE_RETRY;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await write(attempt);
    } catch (err) {
      const delay = retryDelayMs(policy, attempt);
      const outOfBudget = Date.now() + delay - started > policy.budgetMs;
      // A closed connection does not come back: a write retried on it would only wait out the budget
      // (a coordinator stopping right after a job's end held its exit for 10 s that way).
      const hopeless = !isNatsUnreachable(err) || isConnectionClosed(err);
      if (hopeless || attempt >= policy.attempts || outOfBudget || opts.signal?.aborted) {
        throw err;
      }
      opts.onRetry?.(attempt, err, delay);
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}
