import type { JsMsg } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeTask } from "../../../src/common/nats/codec.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import {
  deadLetterAdvisories,
  fetchDeadTask,
  parseMaxDeliveriesAdvisory,
  takeDeadTask,
} from "../../../src/common/nats/dead-letters.js";
import {
  maxDeliveriesAdvisorySubject,
  TASKS_STREAM,
  workersConsumerName,
} from "../../../src/common/nats/names.js";
import { keepInProgress, publishTask, workerTasks } from "../../../src/common/nats/tasks.js";
import { ensureTopology, ensureWorkerConsumer } from "../../../src/common/nats/topology.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

describe("tasks on JetStream", () => {
  let server: TestNatsServer;
  let coordinator: JetStreamContext;
  let workerA: JetStreamContext;
  let workerB: JetStreamContext;

  beforeAll(async () => {
    server = await startNatsServer();
    coordinator = await connectJetStream(server.url, "coordinator");
    workerA = await connectJetStream(server.url, "worker-a");
    workerB = await connectJetStream(server.url, "worker-b");
    await ensureTopology(coordinator.js, coordinator.jsm);
  });
  afterAll(async () => {
    for (const c of [coordinator, workerA, workerB]) await c?.nc.close();
    await server?.cleanup();
  });

  // One job per model: msg ids (`<job>.<shard>`) are de-duplicated stream-wide, across subjects.
  function task(model: string, shard: number) {
    return {
      job_id: `job-${model}`,
      shard,
      model,
      samples: [{ sample_id: `s${shard}`, prompt: "a blue square" }],
    };
  }

  async function pending(model: string): Promise<{ pending: number; ackPending: number }> {
    const info = await coordinator.jsm.consumers.info(TASKS_STREAM, workersConsumerName(model));
    return { pending: info.num_pending, ackPending: info.num_ack_pending };
  }

  it("stores a task published twice with the same msg id once", async () => {
    await ensureWorkerConsumer(coordinator.jsm, "dedup");
    const first = await publishTask(coordinator.js, task("dedup", 0));
    const again = await publishTask(coordinator.js, task("dedup", 0));
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
    expect(await pending("dedup")).toEqual({ pending: 1, ackPending: 0 });
  });

  it("refuses a task too big for one message", async () => {
    const big = { ...task("dedup", 1), samples: [{ prompt: "x".repeat(1024 * 1024) }] };
    await expect(publishTask(coordinator.js, big)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("shares a durable consumer between two workers without duplicates", async () => {
    const model = "shared";
    await ensureWorkerConsumer(coordinator.jsm, model);
    const n = 40;
    for (let s = 0; s < n; s++) await publishTask(coordinator.js, task(model, s));
    const seen: number[] = [];
    const deadline = Date.now() + 20_000;
    async function work(ctx: JetStreamContext): Promise<number> {
      const consumer = await workerTasks(ctx.js, model);
      let mine = 0;
      while (seen.length < n && Date.now() < deadline) {
        const msg = await consumer.next({ expires: 1000 });
        if (!msg) continue;
        seen.push(Number(decodeTask(msg.data).shard));
        mine++;
        await new Promise((r) => setTimeout(r, 5)); // "work", so both workers get a share
        await msg.ackAck();
      }
      return mine;
    }
    const [a, b] = await Promise.all([work(workerA), work(workerB)]);
    expect(seen.length).toBe(n);
    expect(new Set(seen).size).toBe(n);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    expect(await pending(model)).toEqual({ pending: 0, ackPending: 0 });
  });

  it("bounds in-flight tasks with max_ack_pending", async () => {
    const model = "bounded";
    await ensureWorkerConsumer(coordinator.jsm, model, { maxAckPending: 2 });
    for (let s = 0; s < 5; s++) await publishTask(coordinator.js, task(model, s));
    const consumer = await workerTasks(workerA.js, model);
    const got: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: 5, expires: 1500 })) got.push(m);
    expect(got.length).toBe(2);
    for (const m of got) await m.ackAck();
  });

  it("redelivers an un-acked task after ack_wait", async () => {
    const model = "redeliver";
    await ensureWorkerConsumer(coordinator.jsm, model, { ackWaitMs: 1000 });
    await publishTask(coordinator.js, task(model, 0));
    const first = await (await workerTasks(workerA.js, model)).next({ expires: 2000 });
    expect(first?.info.deliveryCount).toBe(1);
    const t0 = Date.now();
    // Worker A "dies": it never acks. Worker B gets the task once ack_wait has passed.
    const second = await (await workerTasks(workerB.js, model)).next({ expires: 5000 });
    expect(second).not.toBeNull();
    expect(Date.now() - t0).toBeGreaterThan(700);
    expect(second?.seq).toBe(first?.seq);
    expect(second?.info.deliveryCount).toBe(2);
    expect(second?.redelivered).toBe(true);
    await second?.ackAck();
    expect(await pending(model)).toEqual({ pending: 0, ackPending: 0 });
  });

  it("does not redeliver a task whose worker sends in-progress acks", async () => {
    const model = "wip";
    await ensureWorkerConsumer(coordinator.jsm, model, { ackWaitMs: 1500 });
    await publishTask(coordinator.js, task(model, 0));
    const msg = await (await workerTasks(workerA.js, model)).next({ expires: 2000 });
    expect(msg).not.toBeNull();
    const stop = keepInProgress(msg as JsMsg, 400);
    const other = await workerTasks(workerB.js, model);
    try {
      // Over twice ack_wait: without the in-progress acks worker B would get the task.
      expect(await other.next({ expires: 4000 })).toBeNull();
    } finally {
      stop();
    }
    expect(await msg?.ackAck()).toBe(true);
    expect(await other.next({ expires: 2000 })).toBeNull();
    expect(await pending(model)).toEqual({ pending: 0, ackPending: 0 });
  });

  it("dead-letters a task after max_deliver attempts; the coordinator reads it and removes it", async () => {
    const model = "poison";
    const consumerName = workersConsumerName(model);
    await ensureWorkerConsumer(coordinator.jsm, model, { ackWaitMs: 1000, maxDeliver: 2 });
    const advisories = coordinator.nc.subscribe(maxDeliveriesAdvisorySubject(consumerName), { max: 1 });
    const ack = await publishTask(coordinator.js, task(model, 3));

    const consumer = await workerTasks(workerA.js, model);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const msg = await consumer.next({ expires: 3000 });
      expect(msg?.info.deliveryCount).toBe(attempt);
      msg?.nak(); // the worker failed; the last failure makes it dead
    }
    expect(await consumer.next({ expires: 1500 })).toBeNull();

    // Live advisory (core NATS)...
    const live = await withTimeout(
      (async () => {
        for await (const m of advisories) return parseMaxDeliveriesAdvisory(m.data);
      })(),
      5000,
    );
    expect(live).toMatchObject({
      stream: TASKS_STREAM,
      consumer: consumerName,
      stream_seq: ack.seq,
      deliveries: 2,
    });

    // ...and its durable copy, which a coordinator that was down still finds.
    const stored = await (await deadLetterAdvisories(coordinator.js)).next({ expires: 3000 });
    expect(stored).not.toBeNull();
    const advisory = parseMaxDeliveriesAdvisory(stored?.data ?? new Uint8Array());
    expect(advisory.stream_seq).toBe(ack.seq);

    // The dead task is still in the work queue until it is taken.
    expect(await pending(model)).toEqual({ pending: 0, ackPending: 0 });
    const reported: string[] = [];
    const taken = await takeDeadTask(coordinator.jsm, advisory.stream_seq, async (m) => {
      reported.push(decodeTask(m.data).shard);
    });
    expect(taken?.subject).toBe("lf.tasks.poison");
    expect(reported).toEqual(["3"]);
    expect(await fetchDeadTask(coordinator.jsm, advisory.stream_seq)).toBeNull();
    // Handling the same advisory again (coordinator crashed before acking it) is a no-op.
    expect(
      await takeDeadTask(coordinator.jsm, advisory.stream_seq, async () => {
        reported.push("again");
      }),
    ).toBeNull();
    expect(reported).toEqual(["3"]);
    await stored?.ackAck();
  });
});

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)),
  ]);
}
