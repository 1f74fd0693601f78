/**
 * A worker in-process against a real nats-server and the bundled model: tasks in, images, shard metadata
 * and results out; a bad sample fails alone; the same bytes at batch size 1 and 8; the gRPC service.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServiceError } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { KV } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageFileName } from "../../../src/common/contract/job.js";
import { createLogger, silentLogger } from "../../../src/common/log.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import {
  jobStateKey,
  TASKS_STREAM,
  taskSubject,
  workersConsumerName,
} from "../../../src/common/nats/names.js";
import { publishTask } from "../../../src/common/nats/tasks.js";
import { ensureTopology } from "../../../src/common/nats/topology.js";
import type { GeneratedImage } from "../../../src/common/proto/generated/latentfleet/v1/GeneratedImage.js";
import type { GenerateRequest__Input } from "../../../src/common/proto/generated/latentfleet/v1/GenerateRequest.js";
import type { WorkerInfo } from "../../../src/common/proto/generated/latentfleet/v1/WorkerInfo.js";
import { decodePng } from "../../../src/engine/png.js";
import { type RunningWorker, startWorker } from "../../../src/worker/worker.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { TINY_SHAPES } from "../../helpers/paths.js";
import {
  collectResults,
  healthStatus,
  makeTask,
  readShardRows,
  TINY_MODEL_NAME,
  waitFor,
  workerClient,
} from "../../helpers/worker-fixtures.js";

describe("a worker on a real nats-server", () => {
  let server: TestNatsServer;
  let ctx: JetStreamContext;
  let jobs: KV;
  let out: string;
  const running: RunningWorker[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    ctx = await connectJetStream(server.url, "worker-test");
    ({ jobs } = await ensureTopology(ctx.js, ctx.jsm));
    out = await mkdtemp(join(tmpdir(), "lf-worker-"));
  });
  afterAll(async () => {
    for (const w of running) await w.stop().catch(() => undefined);
    await ctx?.nc.close();
    await server?.cleanup();
    if (out) await rm(out, { recursive: true, force: true });
  });

  async function worker(batchSize: number, over: Partial<Parameters<typeof startWorker>[0]> = {}) {
    const w = await startWorker({
      natsUrl: server.url,
      modelDir: TINY_SHAPES,
      batchSize,
      intraOpThreads: 1,
      pullExpiresMs: 1000,
      log: silentLogger,
      ...over,
    });
    running.push(w);
    return w;
  }

  async function queueIsEmpty(): Promise<boolean> {
    const info = await ctx.jsm.consumers.info(TASKS_STREAM, workersConsumerName(TINY_MODEL_NAME));
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }

  function listFiles(dir: string): string[] {
    return existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: "utf8" }).sort() : [];
  }

  it("runs tasks: images, shard metadata in sample order, one result per task; a bad sample fails alone", async () => {
    const dir = join(out, "job1");
    await publishTask(ctx.js, makeTask("job1", 0, dir, 3, 0));
    const bad = makeTask("job1", 1, dir, 3, 100);
    bad.samples![1].width = 60; // not a multiple of the VAE's 8
    await publishTask(ctx.js, bad);
    // The model's default scheduler, and a guidance scale that float32 cannot hold exactly.
    await publishTask(ctx.js, makeTask("job1", 2, dir, 2, 200, { scheduler: "", guidance_scale: 7.3 }));

    const w = await worker(4, { grpcAddress: "127.0.0.1:0", workerId: "w-one" });
    const results = await collectResults(ctx.js, "job1", 3);
    expect(results.map((r) => r.shard)).toEqual(["0", "1", "2"]);
    for (const r of results) {
      expect(r).toMatchObject({ job_id: "job1", worker_id: "w-one", delivery: 1, dead_lettered: false });
      expect(r.seconds).toBeGreaterThan(0);
    }
    expect(results[1].samples.map((s) => [s.sample_id, s.ok, s.error_code])).toEqual([
      ["s100", true, ""],
      ["s101", false, "INVALID_ARGUMENT"],
      ["s102", true, ""],
    ]);
    expect(results[1].samples[1].error).toMatch(/width must be a multiple of 8/);
    expect(results[1].samples[1].file_name).toBe("");
    expect(results[0].samples.map((s) => s.file_name)).toEqual(
      [0, 1, 2].map((k) => imageFileName(0, `s${k}`)),
    );

    // Every successful sample is a valid 64x64 PNG; nothing else is there (no temporary files).
    expect(listFiles(join(dir, "images"))).toEqual(
      ["000000", "000001", "000002", ...["s0", "s1", "s2"].map((s) => `000000/${s}.png`)]
        .concat(["000001/s100.png", "000001/s102.png", "000002/s200.png", "000002/s201.png"])
        .sort(),
    );
    for (const r of results) {
      for (const s of r.samples.filter((x) => x.ok)) {
        const png = decodePng(readFileSync(join(dir, s.file_name)));
        expect([png.width, png.height]).toEqual([64, 64]);
      }
    }
    expect(listFiles(join(dir, ".shards"))).toEqual(["000000.jsonl", "000001.jsonl", "000002.jsonl"]);
    expect(readShardRows(dir, 1)).toEqual([
      {
        file_name: "images/000001/s100.png",
        id: "s100",
        prompt: "a red circle on a white background",
        text: "a red circle on a white background",
        negative_prompt: "",
        seed: 100,
        steps: 4,
        guidance_scale: 4,
        scheduler: "euler",
        width: 64,
        height: 64,
        model: TINY_MODEL_NAME,
      },
      expect.objectContaining({ id: "s102", seed: 102, file_name: "images/000001/s102.png" }),
    ]);
    expect(readShardRows(dir, 2).map((r) => [r.scheduler, r.guidance_scale])).toEqual([
      [w.model.defaultScheduler, 7.3],
      [w.model.defaultScheduler, 7.3],
    ]);
    expect(await waitFor(queueIsEmpty, 5000)).toBe(true);

    // gRPC: Info, health, Generate through the same engine (same sample, same bytes).
    const port = w.grpcPort!;
    const client = workerClient(port);
    try {
      const info = await new Promise<WorkerInfo>((resolve, reject) =>
        client.Info({}, (err, res) => (err || !res ? reject(err) : resolve(res))),
      );
      expect(info).toMatchObject({
        worker_id: "w-one",
        model: TINY_MODEL_NAME,
        device: "cpu",
        batch_size: 4,
        images_generated: "7",
        images_failed: "1",
        state: "running",
      });
      expect(info.images_per_second).toBeGreaterThan(0);
      expect(info.uptime_seconds).toBeGreaterThan(0);
      expect(await healthStatus(port)).toBe("SERVING");
      expect(await healthStatus(port, "latentfleet.v1.Worker")).toBe("SERVING");

      const generate = (req: GenerateRequest__Input) =>
        new Promise<GeneratedImage[]>((resolve, reject) => {
          const images: GeneratedImage[] = [];
          const call = client.Generate(req, { deadline: Date.now() + 30_000 });
          call.on("data", (img: GeneratedImage) => images.push(img));
          call.on("error", reject);
          call.on("end", () => resolve(images));
        });
      const base = {
        prompt: "a red circle on a white background",
        steps: 4,
        guidance_scale: 4,
        scheduler: "euler",
        width: 64,
        height: 64,
      };
      const images = await generate({ ...base, seed: 1, count: 2 });
      expect(images.map((i) => i.seed)).toEqual(["1", "2"]);
      expect(Buffer.compare(images[0].png, readFileSync(join(dir, imageFileName(0, "s1"))))).toBe(0);
      expect(Buffer.compare(images[1].png, readFileSync(join(dir, imageFileName(0, "s2"))))).toBe(0);
      await expect(generate({ ...base, count: 17 })).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
      } satisfies Partial<ServiceError>);
      await expect(generate({ ...base, width: 60 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
      await expect(generate({ ...base, scheduler: "nope" })).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
      });
    } finally {
      client.close();
    }
    await w.stop();
    await expect(w.done).resolves.toBeUndefined();
    expect(w.state).toBe("stopped");
  });

  it("makes the same PNG bytes for a sample at batch size 1 and at batch size 8", async () => {
    const prompts = ["a blue square on a black background", "a green triangle on a white background"];
    const publishJob = async (jobId: string) => {
      for (const shard of [0, 1]) {
        const task = makeTask(jobId, shard, join(out, jobId), 4, 40 + shard * 4);
        task.samples!.forEach((s, k) => {
          s.prompt = prompts[k % 2];
        });
        await publishTask(ctx.js, task);
      }
    };
    const ids = [...Array(8).keys()].map((k) => imageFileName(k < 4 ? 0 : 1, `s${40 + k}`));

    await publishJob("b1");
    const one = await worker(1);
    expect((await collectResults(ctx.js, "b1", 2)).flatMap((r) => r.samples.map((s) => s.ok))).toEqual(
      Array(8).fill(true),
    );
    await one.stop();

    await publishJob("b8");
    const lines: string[] = [];
    const eight = await worker(8, { log: createLogger({}, { level: "debug", write: (l) => lines.push(l) }) });
    expect((await collectResults(ctx.js, "b8", 2)).flatMap((r) => r.samples.map((s) => s.ok))).toEqual(
      Array(8).fill(true),
    );
    await eight.stop();
    // Both tasks (4 samples each) went through the engine as one batch of 8.
    const batches = lines
      .map((l) => JSON.parse(l) as { msg: string; size?: number })
      .filter((l) => l.msg === "batch done");
    expect(batches.map((b) => b.size)).toEqual([8]);

    for (const f of ids) {
      const a = readFileSync(join(out, "b1", f));
      const b = readFileSync(join(out, "b8", f));
      expect(Buffer.compare(a, b), f).toBe(0);
    }
    // Different seeds and prompts do give different images (the comparison above means something).
    expect(
      Buffer.compare(readFileSync(join(out, "b1", ids[0])), readFileSync(join(out, "b1", ids[1]))),
    ).not.toBe(0);
  });

  it("skips the tasks of a cancelled job, whether it was cancelled before or while the worker runs", async () => {
    const record = (jobId: string, state: string) =>
      JSON.stringify({
        job_id: jobId,
        state,
        model: TINY_MODEL_NAME,
        output: join(out, jobId),
        created_at_ms: 0,
      });
    await jobs.put(jobStateKey("cancelled-early"), record("cancelled-early", "CANCELLED"));
    await jobs.put(jobStateKey("live"), record("live", "RUNNING"));
    await jobs.put(jobStateKey("cancelled-late"), record("cancelled-late", "RUNNING"));
    await publishTask(ctx.js, makeTask("cancelled-early", 0, join(out, "cancelled-early"), 2));
    await publishTask(ctx.js, makeTask("cancelled-early", 1, join(out, "cancelled-early"), 2));
    await publishTask(ctx.js, makeTask("live", 0, join(out, "live"), 2));

    const w = await worker(2);
    const early = await collectResults(ctx.js, "cancelled-early", 2);
    expect(early.map((r) => r.dead_lettered)).toEqual([true, true]);
    expect(early.flatMap((r) => r.samples.map((s) => [s.ok, s.error_code]))).toEqual(
      Array(4).fill([false, "CANCELLED"]),
    );
    expect((await collectResults(ctx.js, "live", 1))[0].samples.every((s) => s.ok)).toBe(true);

    // Cancelled while the worker runs: the watch has seen it by the time the task comes.
    await jobs.put(jobStateKey("cancelled-late"), record("cancelled-late", "CANCELLED"));
    await publishTask(ctx.js, makeTask("cancelled-late", 0, join(out, "cancelled-late"), 2));
    const late = await collectResults(ctx.js, "cancelled-late", 1);
    expect(late[0].samples.map((s) => s.error_code)).toEqual(["CANCELLED", "CANCELLED"]);

    expect(existsSync(join(out, "cancelled-early"))).toBe(false);
    expect(existsSync(join(out, "cancelled-late"))).toBe(false);
    expect(listFiles(join(out, "live", "images"))).toEqual(["000000", "000000/s0.png", "000000/s1.png"]);
    expect(await waitFor(queueIsEmpty, 5000)).toBe(true);
    await w.stop();
  });
  it("retries a task whose outputs cannot be written, reports it failed on its last delivery; drops garbage", async () => {
    // The output folder is a file: nothing can be written under it.
    const blocked = join(out, "blocked");
    writeFileSync(blocked, "not a folder");
    await ctx.js.publish(taskSubject(TINY_MODEL_NAME), Uint8Array.of(0xff, 0xff, 0xff));
    await publishTask(ctx.js, makeTask("blocked", 0, blocked, 2));
    const lines: string[] = [];
    const w = await worker(2, {
      maxDeliver: 2,
      retryDelayMs: 100,
      log: createLogger({}, { write: (l) => lines.push(l) }),
    });
    const [result] = await collectResults(ctx.js, "blocked", 1);
    expect(result).toMatchObject({ delivery: 2, dead_lettered: true });
    expect(result.samples.map((s) => s.error_code)).toEqual(["OUTPUT_FAILED", "OUTPUT_FAILED"]);
    expect(result.samples[0].error).toMatch(/cannot write/);
    expect(await waitFor(queueIsEmpty, 5000)).toBe(true);
    const msgs = lines.map((l) => JSON.parse(l) as { msg: string; level: string });
    expect(msgs).toContainEqual(
      expect.objectContaining({ level: "error", msg: "undecodable task terminated" }),
    );
    expect(msgs).toContainEqual(
      expect.objectContaining({ level: "warn", msg: "task failed; it goes back to the queue" }),
    );
    await w.stop();
  });
});
