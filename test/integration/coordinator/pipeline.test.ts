/**
 * A job through a real nats-server with a fake worker: metadata.jsonl in manifest order, errors.jsonl
 * for rejected rows, failed samples and dead-lettered tasks, and the final states.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ErrorRow,
  type JobStatsFile,
  type MetadataRow,
  STATS_FILE,
} from "../../../src/common/contract/job.js";
import { silentLogger } from "../../../src/common/log.js";
import { connectJetStream, type JetStreamContext, TASKS_STREAM } from "../../../src/common/nats/index.js";
import { type RunningCoordinator, startCoordinator } from "../../../src/coordinator/index.js";
import { expandSpec, loadSpec, type ManifestSample } from "../../../src/manifest/index.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { FakeWorker, readJsonl, waitFor } from "./fake-worker.js";

let server: TestNatsServer;
let coordinator: RunningCoordinator;
let ctx: JetStreamContext;
const workers: FakeWorker[] = [];
const dir = mkdtempSync(join(tmpdir(), "lf-coord-pipeline-"));

beforeAll(async () => {
  server = await startNatsServer();
  ctx = await connectJetStream(server.url, "pipeline-test");
  coordinator = await startCoordinator({ natsUrl: server.url, shardSize: 3, log: silentLogger });
});

afterAll(async () => {
  await coordinator?.stop();
  for (const w of workers) await w.stop();
  await ctx?.nc.close();
  await server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function expectedSamples(specPath: string): Promise<ManifestSample[]> {
  const samples: ManifestSample[] = [];
  for await (const ev of expandSpec(await loadSpec(specPath)))
    if (ev.type === "sample") samples.push(ev.sample);
  return samples;
}

async function expectedIds(specPath: string): Promise<string[]> {
  return (await expectedSamples(specPath)).map((s) => s.sampleId);
}

describe("coordinator pipeline", () => {
  it("writes metadata.jsonl in manifest order and errors.jsonl for bad rows and failed samples", async () => {
    const jobDir = join(dir, "mixed");
    mkdirSync(jobDir, { recursive: true });
    writeFileSync(
      join(jobDir, "job.yaml"),
      [
        "model: models/tiny-shapes",
        "output: out/mixed",
        "seed: 42",
        "images_per_prompt: 2",
        "defaults: { steps: 4, width: 64, height: 64 }",
        "prompts:",
        '  - "a red circle on a white background"',
        "  - file: prompts.jsonl",
        "  - file: prompts.csv",
        '  - template: "a {color} {shape}"',
        "    vars: { color: [red, blue], shape: [circle, square, triangle] }",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(jobDir, "prompts.jsonl"),
      [
        '{"prompt": "a blue square", "id": "bs"}',
        '{"prompt": "a green triangle", "steps": "many"}',
        '{"prompt": "a yellow star", "seed": 5}',
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(jobDir, "prompts.csv"),
      'prompt,negative_prompt\na black circle,blurry\n"a white, round moon",\n',
    );
    const worker = await FakeWorker.start({
      natsUrl: server.url,
      model: "tiny-shapes",
      writeImages: true,
      failSample: (s) =>
        s.prompt === "a yellow star" && s.sample_id.endsWith("-1") ? "engine exploded" : null,
    });
    workers.push(worker);

    const specPath = join(jobDir, "job.yaml");
    const jobId = await coordinator.submit({ spec: specPath });
    const job = await coordinator.waitForJob(jobId, { timeoutMs: 30_000 });
    const samples = await expectedSamples(specPath);
    const ids = samples.map((s) => s.sampleId);
    expect(ids).toHaveLength(22);
    const failedId = samples.find((s) => s.prompt === "a yellow star" && s.sampleId.endsWith("-1"))?.sampleId;
    expect(failedId).toBeDefined();

    expect(job).toMatchObject({
      state: "FAILED",
      samplesTotal: 22,
      samplesDone: 21,
      samplesFailed: 1,
      rowsRejected: 1,
      shardsTotal: 8,
      shardsDone: 8,
      model: "tiny-shapes",
      output: join(jobDir, "out", "mixed"),
    });
    expect(job.error).toMatch(/1 of 22 samples failed; 1 manifest row was rejected; see .*errors\.jsonl/);

    const out = join(jobDir, "out", "mixed");
    const meta = await readJsonl<MetadataRow>(join(out, "metadata.jsonl"));
    expect(meta.map((r) => r.id)).toEqual(ids.filter((id) => id !== failedId));
    expect(meta[0]).toMatchObject({
      file_name: `images/000000/${ids[0]}.png`,
      prompt: "a red circle on a white background",
      model: "tiny-shapes",
    });
    for (const r of meta) expect(existsSync(join(out, r.file_name))).toBe(true);

    const errors = await readJsonl<ErrorRow>(join(out, "errors.jsonl"));
    expect(errors).toHaveLength(2);
    expect(errors).toContainEqual(
      expect.objectContaining({
        where: `${join(jobDir, "prompts.jsonl")}:2`,
        field: "steps",
        code: "ROW_INVALID",
      }),
    );
    expect(errors).toContainEqual({
      where: `${join(jobDir, "prompts.jsonl")}:3`,
      id: failedId,
      code: "ENGINE_FAILED",
      error: "engine exploded",
    });
    // Every shard ran once; the job's saved input is gone.
    expect([...worker.deliveries.values()].every((n) => n === 1)).toBe(true);
    expect(worker.deliveries.size).toBe(8);
    expect(existsSync(join(out, ".job"))).toBe(false);
  });

  it("ends SUCCEEDED without errors.jsonl when everything works", async () => {
    const jobDir = join(dir, "clean");
    mkdirSync(jobDir, { recursive: true });
    const specPath = join(jobDir, "job.json");
    writeFileSync(
      specPath,
      JSON.stringify({
        model: "models/tiny-shapes",
        prompts: ["one", { template: "{a} {b}", vars: { a: ["x", "y"], b: ["1", "2", "3"] } }],
      }),
    );
    const jobId = await coordinator.submit({ spec: specPath, output: join(jobDir, "elsewhere") });
    const job = await coordinator.waitForJob(jobId, { timeoutMs: 30_000 });
    expect(job).toMatchObject({
      state: "SUCCEEDED",
      samplesTotal: 7,
      samplesDone: 7,
      samplesFailed: 0,
      error: "",
    });
    const out = join(jobDir, "elsewhere");
    expect((await readJsonl<MetadataRow>(join(out, "metadata.jsonl"))).map((r) => r.id)).toEqual(
      await expectedIds(specPath),
    );
    expect(existsSync(join(out, "errors.jsonl"))).toBe(false);
    const listed = await coordinator.listJobs();
    expect(listed.map((j) => j.jobId)).toContain(jobId);
    expect(listed.find((j) => j.jobId === jobId)).toMatchObject({ state: "SUCCEEDED", samplesDone: 7 });
  });

  it("takes the spec's max_failed as the job's tolerance; a submission's own tolerance overrides it", async () => {
    const jobDir = join(dir, "tolerant");
    mkdirSync(jobDir, { recursive: true });
    const specPath = join(jobDir, "job.yaml");
    writeFileSync(
      specPath,
      ["model: models/tolerant-model", "max_failed: 1", "prompts: [p0, p1, p2, p3]", ""].join("\n"),
    );
    const worker = await FakeWorker.start({
      natsUrl: server.url,
      model: "tolerant-model",
      failSample: (s) => (s.prompt === "p2" ? "engine exploded" : null),
    });
    workers.push(worker);
    const ids = await expectedIds(specPath);
    const failedId = ids[2];

    // The spec's key alone: 1 failed sample of 4 is within it.
    const lenientOut = join(jobDir, "lenient");
    const lenient = await coordinator.waitForJob(
      await coordinator.submit({ spec: specPath, output: lenientOut }),
      { timeoutMs: 30_000 },
    );
    expect(lenient).toMatchObject({ state: "SUCCEEDED", samplesDone: 3, samplesFailed: 1, maxFailed: "1" });
    const meta = await readJsonl<MetadataRow>(join(lenientOut, "metadata.jsonl"));
    expect(meta.map((r) => r.id)).toEqual(ids.filter((id) => id !== failedId));
    const stats = JSON.parse(readFileSync(join(lenientOut, STATS_FILE), "utf8")) as JobStatsFile;
    expect(stats.state).toBe("SUCCEEDED");
    expect(stats.failure_budget).toEqual({ max_failed: "1", allowed: 1, failures: 1 });

    // The submission's tolerance (what --max-failed sends) wins over the spec's.
    const strictOut = join(jobDir, "strict");
    const strict = await coordinator.waitForJob(
      await coordinator.submit({ spec: specPath, output: strictOut, maxFailed: { count: 0 } }),
      { timeoutMs: 30_000 },
    );
    expect(strict).toMatchObject({ state: "FAILED", samplesDone: 3, samplesFailed: 1, maxFailed: "0" });
    expect(strict.error).toMatch(/1 of 4 samples failed/);
    const strictStats = JSON.parse(readFileSync(join(strictOut, STATS_FILE), "utf8")) as JobStatsFile;
    expect(strictStats.failure_budget).toEqual({ max_failed: "0", allowed: 0, failures: 1 });
  });

  it("reports the samples of a dead-lettered task as failed, and keeps the other shards", async () => {
    const jobDir = join(dir, "poison");
    mkdirSync(jobDir, { recursive: true });
    const specPath = join(jobDir, "job.yaml");
    writeFileSync(
      specPath,
      [
        "model: models/poison-model",
        "images_per_prompt: 2",
        "prompts:",
        "  - p0",
        "  - p1",
        "  - p2",
        "  - p3",
        "",
      ].join("\n"),
    );
    const worker = await FakeWorker.start({
      natsUrl: server.url,
      model: "poison-model",
      ackWaitMs: 1000,
      maxDeliver: 2,
      hang: (task) => Number(task.shard) === 1,
    });
    workers.push(worker);
    const jobId = await coordinator.submit({ spec: specPath });
    const job = await coordinator.waitForJob(jobId, { timeoutMs: 30_000 });
    const ids = await expectedIds(specPath);
    expect(job).toMatchObject({
      state: "FAILED",
      samplesTotal: 8,
      samplesDone: 5,
      samplesFailed: 3,
      shardsDone: 3,
    });
    expect(worker.deliveries.get(`${jobId}.1`)).toBe(2);

    const out = join(jobDir, "out", "job");
    const meta = await readJsonl<MetadataRow>(join(out, "metadata.jsonl"));
    expect(meta.map((r) => r.id)).toEqual([...ids.slice(0, 3), ...ids.slice(6)]);
    const errors = await readJsonl<ErrorRow>(join(out, "errors.jsonl"));
    expect(errors.map((e) => e.id)).toEqual(ids.slice(3, 6));
    for (const e of errors) {
      expect(e).toMatchObject({ code: "DEAD_LETTERED", error: "task dead-lettered after 2 deliveries" });
      expect(e.where).toMatch(new RegExp(`^${specPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+$`));
    }
    // The dead task is taken out of the work queue.
    await waitFor(
      "the dead task to be removed",
      async () => (await ctx.jsm.streams.info(TASKS_STREAM)).state.messages === 0,
    );
  });

  it("refuses a bad spec before creating anything", async () => {
    const before = (await coordinator.listJobs()).length;
    await expect(
      coordinator.submit({ spec: { name: join(dir, "bad", "job.yaml"), content: "prompts: [a]\n" } }),
    ).rejects.toMatchObject({ code: "SPEC_INVALID", message: expect.stringMatching(/model is missing/) });
    expect((await coordinator.listJobs()).length).toBe(before);
    expect(existsSync(join(dir, "bad"))).toBe(false);
  });
});
