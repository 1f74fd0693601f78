/** FairQueue against a fake consumer: jobs take turns, the queue stays short, a cancelled job leaves the line. */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";
import { describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/common/log.js";
import { FairQueue, TASKS_PER_TURN } from "../../src/coordinator/fair-queue.js";

/** A consumer whose queue holds what was published and not yet taken by the (simulated) workers. */
function fakeQueue() {
  const q = { published: 0, taken: 0 };
  const jsm = {
    consumers: {
      info: async () => ({ num_pending: q.published - q.taken, delivered: { consumer_seq: q.taken } }),
    },
    streams: { info: async () => ({ state: { subjects: {} } }) },
  } as unknown as JetStreamManager;
  return { q, jsm };
}

/** A job that publishes `n` tasks, each after its turn; records the order of turns. */
async function job(fair: FairQueue, id: string, n: number, order: string[], q: { published: number }) {
  const signal = new AbortController().signal;
  for (let i = 0; i < n; i++) {
    await fair.turn("m", id, signal);
    order.push(id);
    q.published++;
  }
}

describe("fair queue", () => {
  it("lets waiting jobs take turns, one task each, and keeps the model's queue short", async () => {
    const { q, jsm } = fakeQueue();
    const fair = new FairQueue({ jsm, log: silentLogger, minQueued: 4, maxQueued: 4, pollMs: 5 });
    const order: string[] = [];
    let maxQueued = 0;
    // Workers take one task every 2 ms.
    const workers = setInterval(() => {
      maxQueued = Math.max(maxQueued, q.published - q.taken);
      if (q.published > q.taken) q.taken++;
    }, 2);
    try {
      await Promise.all([
        job(fair, "big", 30, order, q),
        job(fair, "a", 3, order, q),
        job(fair, "b", 3, order, q),
      ]);
    } finally {
      clearInterval(workers);
      fair.stop();
    }
    expect(order).toHaveLength(36);
    // The small jobs are done within the first rounds, not after the big one's 30 tasks.
    const lastSmall = Math.max(order.lastIndexOf("a"), order.lastIndexOf("b"));
    expect(lastSmall).toBeLessThan(12);
    expect(order.slice(0, 9)).toEqual(["big", "a", "b", "big", "a", "b", "big", "a", "b"]);
    // At most the target, plus what was granted since the last read of the queue.
    expect(maxQueued).toBeLessThanOrEqual(8);
  });

  it("grants up to TASKS_PER_TURN tasks a turn, within the queue's room, jobs taking turns", async () => {
    const { q, jsm } = fakeQueue();
    const target = 2 * TASKS_PER_TURN + 3;
    const fair = new FairQueue({
      jsm,
      log: silentLogger,
      minQueued: target,
      maxQueued: target,
      pollMs: 60_000,
    });
    const grants: [string, number][] = [];
    const signal = new AbortController().signal;
    const asks = async (id: string, want: number) => {
      const granted = await fair.turn("m", id, signal, want);
      grants.push([id, granted]);
      q.published += granted;
    };
    try {
      // Nothing taken by workers: the queue fills to its target, then no turn is granted.
      const pending = [asks("a", 100), asks("b", 5), asks("a", 100), asks("b", 100), asks("a", 100)];
      for (const deadline = Date.now() + 5_000; grants.length < 3 && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 30));
      expect(grants).toEqual([
        ["a", TASKS_PER_TURN],
        ["b", 5],
        // The room left: the target less those granted.
        ["a", target - TASKS_PER_TURN - 5],
      ]);
      expect(q.published).toBe(target);
      expect(fair.waitingJobs).toBe(2);
      void Promise.allSettled(pending);
    } finally {
      fair.stop();
    }
  });

  it("drops a waiting job whose signal aborts", async () => {
    const { jsm } = fakeQueue();
    const fair = new FairQueue({ jsm, log: silentLogger, minQueued: 0, maxQueued: 0, pollMs: 5 });
    const ctl = new AbortController();
    const waiting = fair.turn("m", "cancelled", ctl.signal);
    await new Promise((r) => setTimeout(r, 20));
    expect(fair.waitingJobs).toBe(1);
    ctl.abort(new Error("cancelled"));
    await expect(waiting).rejects.toThrow("cancelled");
    expect(fair.waitingJobs).toBe(0);
    fair.stop();
  });

  it("adds one abort listener to a job's signal for all of its turns", async () => {
    const { q, jsm } = fakeQueue();
    const fair = new FairQueue({
      jsm,
      log: silentLogger,
      minQueued: 1_000,
      maxQueued: 1_000,
      pollMs: 60_000,
    });
    const ctl = new AbortController();
    const listen = vi.spyOn(ctl.signal, "addEventListener");
    try {
      for (let i = 0; i < 256; i++) {
        await fair.turn("m", "one", ctl.signal);
        q.published++;
      }
    } finally {
      fair.stop();
    }
    expect(listen).toHaveBeenCalledTimes(1);
  });

  it("reads the stream's count only for a model without a consumer; a read left unanswered keeps the count", async () => {
    const reads = { consumer: 0, stream: 0 };
    let failure: Error = new errors.TimeoutError();
    const jsm = {
      consumers: {
        info: async () => {
          reads.consumer++;
          throw failure;
        },
      },
      streams: {
        info: async () => {
          reads.stream++;
          return { state: { subjects: {} } };
        },
      },
    } as unknown as JetStreamManager;
    const fair = new FairQueue({ jsm, log: silentLogger, minQueued: 4, maxQueued: 4, pollMs: 5 });
    const ctl = new AbortController();
    try {
      // No answer (a leader election): the count kept (none yet) lets turns go up to the target.
      for (let i = 0; i < 4; i++) await fair.turn("m", "j", ctl.signal);
      let granted = false;
      const fifth = fair.turn("m", "j", ctl.signal).then(() => {
        granted = true;
      });
      for (const deadline = Date.now() + 5_000; reads.consumer < 3 && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(reads.consumer).toBeGreaterThanOrEqual(3);
      expect(reads.stream).toBe(0);
      expect(granted, "the kept count (4) is at the target").toBe(false);
      // No consumer yet: the stream's count stands in for it.
      failure = new JetStreamApiError({
        code: 404,
        err_code: JetStreamApiCodes.ConsumerNotFound,
        description: "consumer not found",
      });
      for (const deadline = Date.now() + 5_000; reads.stream === 0 && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(reads.stream).toBeGreaterThan(0);
      await fifth; // the stream holds none of the model's tasks: the turn is granted
      expect(granted).toBe(true);
    } finally {
      fair.stop();
    }
  });
});
