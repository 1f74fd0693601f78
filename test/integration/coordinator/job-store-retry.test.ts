/**
 * The job store's writes and reads ride out a bucket without a leader, on a real nats-server: no responders (the
 * answer while a stream's Raft group elects a leader, here the server's own answer to a request nobody
 * listens to), a server that is gone and comes back on the same store within the retry window, and a
 * write that timed out after it was applied (its retry must not apply it a second time).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KV } from "@nats-io/kv";
import { errors } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/common/log.js";
import {
  connectJetStream,
  ensureTopology,
  isNatsUnreachable,
  type JetStreamContext,
  type NatsRetryPolicy,
  retryNatsWrite,
} from "../../../src/common/nats/index.js";
import { JobStore } from "../../../src/coordinator/job-store.js";
import { LiveJob } from "../../../src/coordinator/live-job.js";
import { runningJobRecord } from "../../helpers/job-records.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

let server: TestNatsServer;
let ctx: JetStreamContext;
let kv: KV;

const FAST: NatsRetryPolicy = { attempts: 40, minDelayMs: 50, maxDelayMs: 500, budgetMs: 30_000 };

beforeAll(async () => {
  server = await startNatsServer();
  ctx = await connectJetStream(server.url, "job-store-retry-test", { reconnectTimeWait: 100 });
  kv = (await ensureTopology(ctx.js, ctx.jsm)).jobs;
});

afterAll(async () => {
  await ctx?.nc.close();
  await server?.cleanup();
});

/** The server's own "no responders" answer: a request to a subject nobody serves. */
async function noResponders(): Promise<Error> {
  const err = await ctx.nc.request(`lf.test.nobody.${Date.now()}`, "", { timeout: 2_000 }).catch((e) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

/** `kv` whose `method` goes through `around` (call number, the real call): it may throw before or after it. */
function intercept(
  method: "update" | "create" | "get" | "keys",
  around: (call: number, real: () => Promise<unknown>) => Promise<unknown>,
): KV {
  let calls = 0;
  return new Proxy(kv, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (prop === method && typeof v === "function") {
        return (...args: unknown[]) => around(++calls, () => v.apply(target, args));
      }
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

describe("retryNatsWrite", () => {
  it("retries no responders and timeouts, not other errors, within its attempts", async () => {
    const nobody = await noResponders();
    expect(isNatsUnreachable(nobody)).toBe(true);
    let calls = 0;
    const value = await retryNatsWrite(
      async () => {
        if (++calls < 3) throw calls === 1 ? nobody : new errors.TimeoutError();
        return "written";
      },
      { policy: FAST },
    );
    expect({ value, calls }).toEqual({ value: "written", calls: 3 });

    calls = 0;
    const refused = new Error("stream not found");
    await expect(
      retryNatsWrite(
        async () => {
          calls++;
          throw refused;
        },
        { policy: FAST },
      ),
    ).rejects.toBe(refused);
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      retryNatsWrite(
        async () => {
          calls++;
          throw nobody;
        },
        { policy: { ...FAST, attempts: 4 } },
      ),
    ).rejects.toBe(nobody);
    expect(calls).toBe(4);
  });

  it("does not retry on a connection closed for good: a stopping coordinator's late write fails at once", async () => {
    // A connection of its own, closed as a coordinator closes its connection when it stops.
    const closing = await connectJetStream(server.url, "job-store-retry-closed", { reconnectTimeWait: 100 });
    const closedKv = (await ensureTopology(closing.js, closing.jsm)).jobs;
    await closing.nc.close();
    const store = new JobStore(closedKv, { retry: { ...FAST, budgetMs: 20_000 }, log: silentLogger });
    let calls = 0;
    const started = Date.now();
    const err = await retryNatsWrite(
      async () => {
        calls++;
        return closedKv.put("lf-test-closed", "x");
      },
      { policy: { ...FAST, budgetMs: 20_000 } },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.ClosedConnectionError);
    expect(calls).toBe(1);
    await expect(
      store.putCursor("closed", { next_shard: 1, samples_emitted: 8, done: false }, null),
    ).rejects.toBeInstanceOf(errors.ClosedConnectionError);
    // Without the rule, these retried for the whole 20 s budget.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("the job store while the bucket has no leader", () => {
  it("retries an update and a cursor write the server answered with no responders", async () => {
    const nobody = await noResponders();
    const store = new JobStore(kv, { retry: FAST, log: silentLogger });
    await store.create(runningJobRecord("nr"));
    const flaky = new JobStore(
      intercept("update", async (call, real) => {
        if (call <= 2) throw nobody;
        return real();
      }),
      { retry: FAST },
    );
    const before = (await store.get("nr"))?.revision ?? 0;
    const stored = await flaky.update("nr", (r) => ({ ...r, state: "SUCCEEDED" }));
    expect(stored?.state).toBe("SUCCEEDED");
    expect(await store.get("nr")).toMatchObject({ value: { state: "SUCCEEDED" }, revision: before + 1 });

    const cursors = new JobStore(
      intercept("create", async (call, real) => {
        if (call === 1) throw nobody;
        return real();
      }),
      { retry: FAST },
    );
    const revision = await cursors.putCursor("nr", { next_shard: 1, samples_emitted: 8, done: false }, null);
    expect(await store.getCursor("nr")).toEqual({
      value: { next_shard: 1, samples_emitted: 8, done: false },
      revision,
    });
  });

  it("retries reads the server answered with no responders: a record, a cursor, the job list", async () => {
    const nobody = await noResponders();
    const store = new JobStore(kv, { retry: FAST });
    await store.create(runningJobRecord("rd"));
    const revision = await store.putCursor("rd", { next_shard: 3, samples_emitted: 24, done: false }, null);
    let injected = 0;
    const failingFirst = (method: "get" | "keys", failures: number) => {
      return new JobStore(
        intercept(method, async (call, real) => {
          if (call <= failures) {
            injected++;
            throw nobody;
          }
          return real();
        }),
        { retry: FAST },
      );
    };
    const expected = await store.get("rd");
    expect(expected?.value.job_id).toBe("rd");
    expect(await failingFirst("get", 2).get("rd")).toEqual(expected);
    expect(await failingFirst("get", 2).getCursor("rd")).toEqual({
      value: { next_shard: 3, samples_emitted: 24, done: false },
      revision,
    });
    const all = await store.list();
    expect(all.map((r) => r.job_id)).toContain("rd");
    // The key listing fails, then a record's read part way through: the list is read again, whole.
    expect(await failingFirst("keys", 2).list()).toEqual(all);
    expect(await failingFirst("get", 1).list()).toEqual(all);
    // Every fault was met (2 + 2 + 2 + 1), and each read still answered.
    expect(injected).toBe(7);
    // Other errors are not waited out.
    const refused = new Error("bucket not found");
    let calls = 0;
    const broken = new JobStore(
      intercept("get", async () => {
        calls++;
        throw refused;
      }),
      { retry: FAST },
    );
    await expect(broken.get("rd")).rejects.toBe(refused);
    expect(calls).toBe(1);
  });

  it("applies a write that timed out after landing once, for an update and for a cursor", async () => {
    const store = new JobStore(kv, { retry: FAST });
    await store.create(runningJobRecord("amb"));
    const before = (await store.get("amb"))?.revision ?? 0;
    // The first update reaches the stream, but its answer is lost: the client sees a timeout.
    const lossy = (method: "update" | "create") =>
      intercept(method, async (call, real) => {
        const ack = await real();
        if (call === 1) throw new errors.TimeoutError();
        return ack;
      });
    let applied = 0;
    const stored = await new JobStore(lossy("update"), { retry: FAST }).update("amb", (r) => {
      applied++;
      return { ...r, samples_done: (r.samples_done ?? 0) + 8 };
    });
    expect(applied).toBe(1);
    expect(stored?.samples_done).toBe(8);
    expect(await store.get("amb")).toMatchObject({ value: { samples_done: 8 }, revision: before + 1 });

    const cursor = { next_shard: 2, samples_emitted: 16, done: false };
    const revision = await new JobStore(lossy("create"), { retry: FAST }).putCursor("amb", cursor, null);
    expect(await store.getCursor("amb")).toEqual({ value: cursor, revision });
  });

  it("writes a final state that failed past the store's retries later, and then ends the job", async () => {
    const nobody = await noResponders();
    const out = await mkdtemp(join(tmpdir(), "lf-final-state-"));
    try {
      const store = new JobStore(kv, { retry: FAST });
      await store.create({ ...runningJobRecord("late"), output: out });
      // The bucket does not answer the first two final-state writes, each within the store's one attempt.
      const failing = new JobStore(
        intercept("update", async (call, real) => {
          if (call <= 2) throw nobody;
          return real();
        }),
        { retry: { ...FAST, attempts: 1 } },
      );
      const job = new LiveJob(
        { ...runningJobRecord("late"), output: out },
        { js: ctx.js, store: failing, log: silentLogger, windowSize: 4, cursorIntervalMs: 1_000 },
      );
      let ended = false;
      job.onEnd = () => {
        ended = true;
      };
      await job.cancel();
      // Not written yet: the job is neither ended here nor in the bucket, and a retry is pending.
      expect(ended).toBe(false);
      expect((await store.get("late"))?.value.state).toBe("RUNNING");
      for (const deadline = Date.now() + 15_000; !ended && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(ended).toBe(true);
      expect(job.state).toBe("CANCELLED");
      expect((await store.get("late"))?.value).toMatchObject({ state: "CANCELLED", error: "cancelled" });
      await job.stop();
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  // Last: it stops the server.
  it("rides out a server that is gone and back on the same store within the retry window", async () => {
    const store = new JobStore(kv, { retry: FAST, readRetry: FAST });
    await store.create(runningJobRecord("gone"));
    const before = (await store.get("gone"))?.revision ?? 0;
    await server.stop();
    const writing = store.update("gone", (r) => ({ ...r, state: "SUCCEEDED", finished_at_ms: 2 }));
    // A status call and a coordinator's resumeAll, made while the server is gone.
    const reading = store.get("gone");
    const listing = store.list();
    let settled = 0;
    for (const p of [writing, reading, listing]) {
      void p.then(
        () => settled++,
        () => settled++,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
    // The fault hit: the write and the reads were waiting while the server was down.
    expect(settled).toBe(0);
    await server.restart();
    expect((await reading)?.value.job_id).toBe("gone");
    expect((await listing).map((r) => r.job_id)).toContain("gone");
    const stored = await writing;
    expect(stored?.state).toBe("SUCCEEDED");
    const read = await new JobStore(kv, { retry: FAST }).update("gone", () => null);
    expect(read?.state).toBe("SUCCEEDED");
    expect((await store.get("gone"))?.revision).toBe(before + 1);
  });
});
