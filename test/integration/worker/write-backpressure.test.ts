/**
 * A worker whose outputs are written more slowly than its engine makes images (here: one PNG encoder
 * thread on 512x512 images behind an engine that takes 2 ms a batch) must stop pulling tasks while the
 * images wait to be written, rather than take the whole queue and hold every image in memory.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeModel, FixedLatencyEngine } from "../../../bench/dispatch/stand-in-engine.js";
import { silentLogger } from "../../../src/common/log.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import { TASKS_STREAM, workersConsumerName } from "../../../src/common/nats/names.js";
import { publishTask } from "../../../src/common/nats/tasks.js";
import { ensureTopology } from "../../../src/common/nats/topology.js";
import { type RunningWorker, startWorker } from "../../../src/worker/worker.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { TINY_SHAPES } from "../../helpers/paths.js";
import { collectResults, makeTask, TINY_MODEL_NAME } from "../../helpers/worker-fixtures.js";

const TASKS = 40;
const PER_TASK = 4;
const BATCH = 4;

describe("a worker whose writes are slower than its engine", () => {
  let server: TestNatsServer;
  let ctx: JetStreamContext;
  let out: string;
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    server = await startNatsServer();
    ctx = await connectJetStream(server.url, "backpressure-test");
    await ensureTopology(ctx.js, ctx.jsm);
    out = await mkdtemp(join(tmpdir(), "lf-backpressure-"));
  });
  afterAll(async () => {
    await worker?.stop().catch(() => undefined);
    await ctx?.nc.close();
    await server?.cleanup();
    if (out) await rm(out, { recursive: true, force: true });
  });

  it("pulls no more tasks while the images in hand wait to be written; every image is written", async () => {
    const dir = join(out, "job");
    for (let shard = 0; shard < TASKS; shard++) {
      await publishTask(
        ctx.js,
        makeTask("bp", shard, dir, PER_TASK, shard * 100, { width: 512, height: 512 }),
      );
    }
    const engine = new FixedLatencyEngine(await describeModel(TINY_SHAPES), 2);
    worker = await startWorker({
      natsUrl: server.url,
      modelDir: TINY_SHAPES,
      engine,
      batchSize: BATCH,
      pngThreads: 1,
      pullExpiresMs: 1000,
      durable: false,
      log: silentLogger,
    });

    // Tasks delivered and not yet acked, sampled while the job runs.
    let maxInHand = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const info = await ctx.jsm.consumers.info(TASKS_STREAM, workersConsumerName(TINY_MODEL_NAME));
        maxInHand = Math.max(maxInHand, info.num_ack_pending);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const results = await collectResults(ctx.js, "bp", TASKS, 120_000);
    sampling = false;
    await sampler;

    expect(results).toHaveLength(TASKS);
    expect(results.every((r) => r.samples.every((s) => s.ok))).toBe(true);
    const images = await readdir(join(dir, "images"), { recursive: true });
    expect(images.filter((f) => f.endsWith(".png"))).toHaveLength(TASKS * PER_TASK);
    // Unbounded, the worker takes nearly the whole queue (36 of 40 seen). Held back: at most 4 batches
    // of images waiting to be written (16 samples = 4 tasks), the tasks the engine has in hand (8 samples
    // = 2), the last pull's worth (2), and a task or two between its last write and its ack.
    console.log(`tasks in hand at most ${maxInHand} of ${TASKS}`);
    expect(maxInHand).toBeLessThanOrEqual(12);
  }, 150_000);
});
