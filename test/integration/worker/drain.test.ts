/**
 * Draining: the tasks a worker holds but has not started go back to the queue at once (another worker
 * gets them long before ack_wait), the started ones finish; SIGTERM does the same and the process exits 0.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "../../../src/common/log.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import { TASKS_STREAM, workersConsumerName } from "../../../src/common/nats/names.js";
import { publishTask } from "../../../src/common/nats/tasks.js";
import { ensureTopology } from "../../../src/common/nats/topology.js";
import type { DrainResponse } from "../../../src/common/proto/generated/latentfleet/v1/DrainResponse.js";
import type { WorkerInfo } from "../../../src/common/proto/generated/latentfleet/v1/WorkerInfo.js";
import { type RunningWorker, startWorker } from "../../../src/worker/worker.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { ROOT, TINY_SHAPES } from "../../helpers/paths.js";
import {
  collectResults,
  healthStatus,
  makeTask,
  TINY_MODEL_NAME,
  waitFor,
  workerClient,
} from "../../helpers/worker-fixtures.js";

/** Enough steps that a batch takes a while, so a drain finds tasks not started yet. */
const SLOW_STEPS = 12;
const ACK_WAIT_MS = 30_000;

describe("draining a worker", () => {
  let server: TestNatsServer;
  let ctx: JetStreamContext;
  let out: string;
  const running: RunningWorker[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    ctx = await connectJetStream(server.url, "drain-test");
    await ensureTopology(ctx.js, ctx.jsm);
    out = await mkdtemp(join(tmpdir(), "lf-drain-"));
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    for (const w of running) await w.stop().catch(() => undefined);
    await ctx?.nc.close();
    await server?.cleanup();
    if (out) await rm(out, { recursive: true, force: true });
  });

  async function worker(workerId: string, over: Partial<Parameters<typeof startWorker>[0]> = {}) {
    const w = await startWorker({
      natsUrl: server.url,
      modelDir: TINY_SHAPES,
      batchSize: 2,
      intraOpThreads: 1,
      pullExpiresMs: 1000,
      workerId,
      log: process.env.LF_TEST_LOG ? createLogger({ worker: workerId }, { level: "debug" }) : silentLogger,
      ...over,
    });
    running.push(w);
    return w;
  }

  async function consumer() {
    return ctx.jsm.consumers.info(TASKS_STREAM, workersConsumerName(TINY_MODEL_NAME));
  }

  function noTmpFiles(dir: string): boolean {
    return readdirSync(dir, { recursive: true, encoding: "utf8" }).every((f) => !f.includes(".tmp-"));
  }

  it("Drain (gRPC) hands back the tasks not started; a second worker gets them at once", async () => {
    const dir = join(out, "jd");
    for (let shard = 0; shard < 8; shard++) {
      await publishTask(ctx.js, makeTask("jd", shard, dir, 2, shard * 10, { steps: SLOW_STEPS }));
    }
    // Worker A keeps 12 samples (6 tasks) in hand, with room for 2 batches of 2 in the engine.
    const a = await worker("a", { samplesInHand: 12, grpcAddress: "127.0.0.1:0", ackWaitMs: ACK_WAIT_MS });
    expect(await waitFor(async () => (await consumer()).num_ack_pending >= 4)).toBe(true);

    const client = workerClient(a.grpcPort!);
    let released: number;
    try {
      const drain = new Promise<number>((resolve, reject) =>
        client.Drain({}, { deadline: Date.now() + 30_000 }, (err, res?: DrainResponse) =>
          err || !res ? reject(err) : resolve(res.tasks_released),
        ),
      );
      // Health turns NOT_SERVING as soon as the drain begins (Kubernetes stops routing Generate calls).
      expect(await waitFor(async () => (await healthStatus(a.grpcPort!)) === "NOT_SERVING", 5000)).toBe(true);
      // Liveness stays SERVING: a draining worker is not stuck, and must not be restarted into pulling.
      expect(await healthStatus(a.grpcPort!, "liveness")).toBe("SERVING");
      released = await drain;
      const info = await new Promise<WorkerInfo>((resolve, reject) =>
        client.Info({}, (err, res) => (err || !res ? reject(err) : resolve(res))),
      );
      expect(info.state).toBe("stopped");
    } finally {
      client.close();
    }
    expect(released).toBeGreaterThanOrEqual(1);
    // The released tasks are redelivered at once (nak), not after ack_wait: worker B has them all in far
    // less time than that.
    const t0 = Date.now();
    await worker("b", { batchSize: 4 });
    const results = await collectResults(ctx.js, "jd", 8, 20_000);
    expect(Date.now() - t0).toBeLessThan(ACK_WAIT_MS / 2);
    expect(results.map((r) => r.shard)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7"]);
    expect(results.every((r) => r.samples.every((s) => s.ok))).toBe(true);
    const redelivered = results.filter((r) => r.worker_id === "b" && r.delivery === 2);
    expect(redelivered.length).toBe(released);
    expect(results.filter((r) => r.worker_id === "a").length).toBeGreaterThanOrEqual(1);
    expect(noTmpFiles(dir)).toBe(true);
    await a.stop();
    await expect(a.done).resolves.toBeUndefined();
  });

  it("SIGTERM drains the worker process, which exits 0; its tasks are finished or handed back", async () => {
    for (const w of running) await w.stop();
    const dir = join(out, "js");
    for (let shard = 0; shard < 6; shard++) {
      await publishTask(ctx.js, makeTask("js", shard, dir, 2, shard * 10, { steps: SLOW_STEPS }));
    }
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(ROOT, "test", "helpers", "worker-cli.ts"),
        "--nats",
        server.url,
        "--model",
        TINY_SHAPES,
        "--batch-size",
        "2",
        "--threads",
        "1",
        "--worker-id",
        "cli",
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(child);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Started, and holding tasks (its first batch is running).
    const busy = await waitFor(
      async () => stderr.includes('"worker started"') && (await consumer()).num_ack_pending >= 2,
      30_000,
    );
    expect(busy, stderr).toBe(true);
    child.kill("SIGTERM");
    const code = await Promise.race([
      exited,
      new Promise<string>((r) => setTimeout(() => r("timeout"), 20_000)),
    ]);
    expect(code, stderr).toBe(0);
    const lines = stderr
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as { msg: string; level: string });
    expect(lines.map((l) => l.msg)).toContain("worker started");
    const drained = lines.find((l) => l.msg === "drained") as { released?: number } | undefined;
    expect(drained?.released, stderr).toBeGreaterThanOrEqual(0);
    expect(lines.filter((l) => l.level === "error")).toEqual([]);

    // What the process did not finish is in the queue again; another worker completes the job.
    await worker("after", { batchSize: 4 });
    const t0 = Date.now();
    const results = await collectResults(ctx.js, "js", 6, 20_000);
    expect(Date.now() - t0).toBeLessThan(ACK_WAIT_MS / 2);
    expect(results.map((r) => r.shard)).toEqual(["0", "1", "2", "3", "4", "5"]);
    const byCli = results.filter((r) => r.worker_id === "cli");
    expect(byCli.length).toBeGreaterThanOrEqual(1);
    // What the process handed back was redelivered at once to the next worker.
    expect(results.filter((r) => r.worker_id === "after" && r.delivery === 2).length).toBe(drained?.released);
    expect(results.every((r) => r.samples.every((s) => s.ok))).toBe(true);
    expect(existsSync(join(dir, ".shards", "000005.jsonl"))).toBe(true);
    expect(noTmpFiles(dir)).toBe(true);
  });
});
