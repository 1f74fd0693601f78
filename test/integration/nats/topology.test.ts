import { AckPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LatentFleetError } from "../../../src/common/errors.js";
import { connectJetStream, connectNats, type JetStreamContext } from "../../../src/common/nats/connect.js";
import {
  DEAD_LETTERS_CONSUMER,
  DEAD_LETTERS_STREAM,
  JOBS_BUCKET,
  RESULTS_STREAM,
  TASKS_STREAM,
} from "../../../src/common/nats/names.js";
import {
  ensureTopology,
  ensureWorkerConsumer,
  MAX_TASK_MESSAGE_BYTES,
} from "../../../src/common/nats/topology.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

describe("NATS topology", () => {
  let server: TestNatsServer;
  let ctx: JetStreamContext;

  beforeAll(async () => {
    server = await startNatsServer();
    ctx = await connectJetStream(server.url, "topology-test");
  });
  afterAll(async () => {
    await ctx?.nc.close();
    await server?.cleanup();
  });

  it("creates streams, consumers and the KV bucket, and a second setup changes nothing", async () => {
    const first = await ensureTopology(ctx.js, ctx.jsm);
    const tasksBefore = await ctx.jsm.streams.info(TASKS_STREAM);
    const second = await ensureTopology(ctx.js, ctx.jsm);
    const tasksAfter = await ctx.jsm.streams.info(TASKS_STREAM);
    expect(tasksAfter.config).toEqual(tasksBefore.config);
    expect((await second.jobs.status()).bucket).toBe((await first.jobs.status()).bucket);

    const tasks = tasksAfter.config;
    expect(tasks.subjects).toEqual(["lf.tasks.>"]);
    expect(tasks.retention).toBe(RetentionPolicy.Workqueue);
    expect(tasks.storage).toBe(StorageType.File);
    expect(tasks.discard).toBe(DiscardPolicy.New);
    expect(tasks.duplicate_window).toBe(nanos(10 * 60_000));
    expect(tasks.max_msg_size).toBe(MAX_TASK_MESSAGE_BYTES);

    const results = (await ctx.jsm.streams.info(RESULTS_STREAM)).config;
    expect(results.subjects).toEqual(["lf.results.>"]);
    expect(results.retention).toBe(RetentionPolicy.Limits);
    expect(results.storage).toBe(StorageType.File);
    expect(results.max_age).toBe(nanos(7 * 24 * 3600_000));

    const dead = (await ctx.jsm.streams.info(DEAD_LETTERS_STREAM)).config;
    expect(dead.subjects).toEqual(["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.LF_TASKS.*"]);
    expect((await ctx.jsm.consumers.info(DEAD_LETTERS_STREAM, DEAD_LETTERS_CONSUMER)).config.ack_policy).toBe(
      AckPolicy.Explicit,
    );

    const kv = (await ctx.jsm.streams.info(`KV_${JOBS_BUCKET}`)).config;
    expect(kv.storage).toBe(StorageType.File);
    expect(kv.max_msgs_per_subject).toBe(1);
  });

  it("creates a worker consumer once, updates its editable limits, and refuses a foreign one", async () => {
    await ensureTopology(ctx.js, ctx.jsm);
    const a = await ensureWorkerConsumer(ctx.jsm, "tiny-shapes");
    const b = await ensureWorkerConsumer(ctx.jsm, "tiny-shapes");
    expect(b.created).toEqual(a.created);
    expect(a.name).toBe("workers-tiny-shapes");
    expect(a.config).toMatchObject({
      durable_name: "workers-tiny-shapes",
      filter_subject: "lf.tasks.tiny-shapes",
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(60_000),
      max_deliver: 5,
      max_ack_pending: 1000,
      max_waiting: 4096,
    });

    const c = await ensureWorkerConsumer(ctx.jsm, "tiny-shapes", { ackWaitMs: 30_000, maxAckPending: 8 });
    expect(c.config.ack_wait).toBe(nanos(30_000));
    expect(c.config.max_ack_pending).toBe(8);

    // Same durable name, other filter: made by someone else, must not be silently reused.
    await ctx.jsm.consumers.add(TASKS_STREAM, {
      durable_name: "workers-other",
      filter_subject: "lf.tasks.elsewhere",
      ack_policy: AckPolicy.Explicit,
    });
    await expect(ensureWorkerConsumer(ctx.jsm, "other")).rejects.toMatchObject({
      code: "NATS_SETUP_FAILED",
      message: expect.stringContaining("filter_subject"),
    });
  });

  it("two processes setting up at once both succeed", async () => {
    const other = await connectJetStream(server.url, "topology-test-2");
    try {
      await Promise.all([
        ensureTopology(ctx.js, ctx.jsm, { taskDuplicateWindowMs: 5 * 60_000 }),
        ensureTopology(other.js, other.jsm, { taskDuplicateWindowMs: 5 * 60_000 }),
        ensureWorkerConsumer(ctx.jsm, "racy"),
        ensureWorkerConsumer(other.jsm, "racy"),
      ]);
      // Settings that differ from the server's are updated in place.
      expect((await ctx.jsm.streams.info(TASKS_STREAM)).config.duplicate_window).toBe(nanos(5 * 60_000));
    } finally {
      await other.nc.close();
    }
  });

  it("fails the first connect with an error that names the URL", async () => {
    const url = "nats://127.0.0.1:1";
    const err = await connectNats(url, "nobody", { timeout: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatentFleetError);
    expect((err as LatentFleetError).code).toBe("NATS_UNAVAILABLE");
    expect((err as LatentFleetError).message).toContain(url);
  });
});
