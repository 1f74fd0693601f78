/**
 * A worker cut off from NATS for longer than ack_wait, while another worker has taken its task over: when
 * its link comes back, its late result and ack must not end the other worker's delivery. (nats-server
 * applies an ack to whichever delivery is pending now; see DeliveryLease in src/common/nats/tasks.ts.)
 * The cut is a TCP proxy that stops forwarding, so nothing the client could notice happens meanwhile.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeModel, FixedLatencyEngine } from "../../../bench/dispatch/stand-in-engine.js";
import { shardMetadataFile } from "../../../src/common/contract/job.js";
import { createLogger } from "../../../src/common/log.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import { TASKS_STREAM, workersConsumerName } from "../../../src/common/nats/names.js";
import { publishTask } from "../../../src/common/nats/tasks.js";
import { ensureTopology, ensureWorkerConsumer } from "../../../src/common/nats/topology.js";
import { type RunningWorker, startWorker } from "../../../src/worker/worker.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { TINY_SHAPES } from "../../helpers/paths.js";
import { startTcpProxy, type TcpProxy } from "../../helpers/tcp-proxy.js";
import { collectResults, makeTask, TINY_MODEL_NAME, waitFor } from "../../helpers/worker-fixtures.js";

const ACK_WAIT_MS = 2_000;

describe("a worker cut off for longer than ack_wait", () => {
  let server: TestNatsServer;
  let proxy: TcpProxy;
  let ctx: JetStreamContext;
  let out: string;
  const workers: RunningWorker[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    proxy = await startTcpProxy(server.host, server.port);
    ctx = await connectJetStream(server.url, "lapse-test");
    await ensureTopology(ctx.js, ctx.jsm);
    await ensureWorkerConsumer(ctx.jsm, TINY_MODEL_NAME, { ackWaitMs: ACK_WAIT_MS, maxDeliver: 5 });
    out = await mkdtemp(join(tmpdir(), "lf-lapse-"));
  });
  afterAll(async () => {
    proxy?.restore();
    // Bounded, so that the folders below are removed even if a worker cannot stop.
    const bounded = (p: Promise<void>) => Promise.race([p, new Promise((r) => setTimeout(r, 15_000))]);
    for (const w of workers) await bounded(w.stop().catch(() => undefined));
    await ctx?.nc.close();
    await proxy?.close();
    await server?.cleanup();
    if (out) await rm(out, { recursive: true, force: true });
  });

  const consumer = () => ctx.jsm.consumers.info(TASKS_STREAM, workersConsumerName(TINY_MODEL_NAME));
  const queued = async () => (await ctx.jsm.streams.info(TASKS_STREAM)).state.messages;

  it("neither acks nor naks the delivery another worker holds by then", async () => {
    const model = await describeModel(TINY_SHAPES);
    const logA: string[] = [];
    const start = async (id: string, engine: FixedLatencyEngine, natsUrl: string, log?: string[]) => {
      const w = await startWorker({
        natsUrl,
        modelDir: TINY_SHAPES,
        engine,
        batchSize: 4,
        workerId: id,
        pullExpiresMs: 1000,
        durable: false,
        log: createLogger({ worker: id }, { level: "debug", write: (l) => void log?.push(l) }),
      });
      workers.push(w);
      return w;
    };
    const dir = join(out, "job");
    await publishTask(ctx.js, makeTask("lapse", 0, dir, 2));
    // Worker A (through the proxy) takes the task; its engine needs 3 s for it. The link is cut once the
    // engine has it (delivered by the server is not enough: it could still be on its way through the proxy).
    const engineA = new FixedLatencyEngine(model, 3_000);
    await start("a", engineA, proxy.url, logA);
    expect(await waitFor(() => engineA.samples > 0, 10_000)).toBe(true);
    proxy.cutLink();

    // Worker B gets the second delivery once A has been silent for ack_wait; its engine needs 5 s.
    await start("b", new FixedLatencyEngine(model, 5_000), server.url);
    expect(await waitFor(async () => (await consumer()).delivered.consumer_seq === 2, 10_000)).toBe(true);
    // A finishes meanwhile: its images and the shard's metadata file are written (B's engine is still at
    // work), then its result and ack wait in the cut link.
    expect(await waitFor(() => existsSync(join(dir, shardMetadataFile(0))), 15_000)).toBe(true);
    proxy.restore();

    // A's result goes through (the fold keeps one per shard); the ack it would send next must not end
    // B's delivery: the task stays queued, in B's hands.
    const fromA = await collectResults(ctx.js, "lapse", 1, 10_000);
    expect(fromA.map((r) => r.worker_id)).toEqual(["a"]);
    // Once A has asked whether the delivery is still its own and heard no, it is done with the task; had it
    // acked instead, the checks below see it (the wait is bounded either way).
    const leftAlone = () => logA.some((l) => l.includes('"msg":"task left to its redelivery'));
    await waitFor(leftAlone, 10_000);
    expect(await queued()).toBe(1);
    expect((await consumer()).num_ack_pending).toBe(1);
    expect(leftAlone()).toBe(true);

    // B finishes and acks: the task leaves the queue after exactly two deliveries.
    expect(await waitFor(async () => (await queued()) === 0, 15_000)).toBe(true);
    expect((await consumer()).delivered.consumer_seq).toBe(2);
    const results = await collectResults(ctx.js, "lapse", 2, 10_000);
    expect(results.map((r) => [r.worker_id, r.delivery]).sort()).toEqual([
      ["a", 1],
      ["b", 2],
    ]);
    expect(results.every((r) => r.samples.every((s) => s.ok))).toBe(true);
    const images = await readdir(join(dir, "images", "000000"));
    expect(images.sort()).toEqual(["s0.png", "s1.png"]);
  });
});
