/**
 * /metrics of a real coordinator and a real worker (the bundled model) on a real nats-server: the names,
 * types and labels, and values that move as a job is queued, then worked off.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/common/log.js";
import { parseListenAddress } from "../../src/common/metrics.js";
import { connectJetStream, type JetStreamContext } from "../../src/common/nats/connect.js";
import { publishTask } from "../../src/common/nats/tasks.js";
import { ensureWorkerConsumer } from "../../src/common/nats/topology.js";
import { type RunningCoordinator, startCoordinator } from "../../src/coordinator/index.js";
import { type RunningWorker, startWorker } from "../../src/worker/worker.js";
import { startNatsServer, type TestNatsServer } from "../helpers/nats-server.js";
import { TINY_SHAPES } from "../helpers/paths.js";
import { find, type Scrape, scrape, total } from "../helpers/prom-text.js";
import { makeTask, TINY_MODEL_NAME, waitFor } from "../helpers/worker-fixtures.js";

const WORKER_METRICS: Record<string, string> = {
  latent_fleet_images_generated_total: "counter",
  latent_fleet_images_failed_total: "counter",
  latent_fleet_batch_size: "histogram",
  latent_fleet_batch_duration_seconds: "histogram",
  latent_fleet_stage_duration_seconds: "histogram",
  latent_fleet_engine_busy_seconds_total: "counter",
  latent_fleet_worker_busy_ratio: "gauge",
  latent_fleet_tasks_in_flight: "gauge",
  latent_fleet_samples_queued: "gauge",
  latent_fleet_samples_unwritten: "gauge",
  latent_fleet_tasks_received_total: "counter",
  latent_fleet_task_redeliveries_total: "counter",
  latent_fleet_tasks_finished_total: "counter",
  latent_fleet_worker_info: "gauge",
  latent_fleet_process_cpu_seconds_total: "counter",
  latent_fleet_process_resident_memory_bytes: "gauge",
  latent_fleet_nodejs_eventloop_lag_p99_seconds: "gauge",
};

const COORDINATOR_METRICS: Record<string, string> = {
  latent_fleet_tasks_published_total: "counter",
  latent_fleet_tasks_dead_lettered_total: "counter",
  latent_fleet_jobs_finished_total: "counter",
  latent_fleet_jobs: "gauge",
  latent_fleet_job_samples: "gauge",
  latent_fleet_job_eta_seconds: "gauge",
  latent_fleet_queue_pending_tasks: "gauge",
  latent_fleet_queue_ack_pending_tasks: "gauge",
  latent_fleet_queue_redelivered_tasks: "gauge",
  latent_fleet_queue_waiting_pulls: "gauge",
  latent_fleet_process_cpu_seconds_total: "counter",
};

// 3 prompts x 2 colours x 2 images = 12 samples, in 3 shards of 4.
const PROMPT_WORDS = ["circle", "square", "triangle"];
const SAMPLES = 12;
const SHARDS = 3;

function expectTypes(s: Scrape, expected: Record<string, string>): void {
  for (const [name, type] of Object.entries(expected)) expect(s.types.get(name), name).toBe(type);
  for (const name of s.types.keys()) expect(name).toMatch(/^latent_fleet_[a-z0-9_]+$/);
}

/** No label value may be a prompt or a sample id (unbounded values). */
function expectBoundedLabels(s: Scrape): void {
  for (const sample of s.samples) {
    for (const value of Object.values(sample.labels)) {
      for (const word of PROMPT_WORDS) expect(value, sample.name).not.toContain(word);
      expect(value, sample.name).not.toMatch(/^s\d+$/);
    }
  }
}

describe("metrics of a coordinator and a worker", () => {
  let server: TestNatsServer;
  let ctx: JetStreamContext;
  let coordinator: RunningCoordinator;
  let worker: RunningWorker | undefined;
  let dir: string;
  let jobId: string;

  beforeAll(async () => {
    server = await startNatsServer();
    ctx = await connectJetStream(server.url, "metrics-test");
    dir = await mkdtemp(join(tmpdir(), "lf-metrics-"));
    coordinator = await startCoordinator({
      natsUrl: server.url,
      metricsAddress: "127.0.0.1:0",
      shardSize: 4,
      log: silentLogger,
    });
    // The workers' consumer exists before any worker, so the queued job shows as pending.
    await ensureWorkerConsumer(ctx.jsm, TINY_MODEL_NAME);
  });
  afterAll(async () => {
    await worker?.stop().catch(() => undefined);
    await coordinator?.stop().catch(() => undefined);
    await ctx?.nc.close();
    await server?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads HOST:PORT and refuses anything else", () => {
    expect(parseListenAddress("0.0.0.0:9464")).toEqual({ host: "0.0.0.0", port: 9464 });
    expect(parseListenAddress("[::1]:0")).toEqual({ host: "::1", port: 0 });
    for (const bad of ["9464", ":9464", "host:", "host:http", "host:70000"]) {
      expect(() => parseListenAddress(bad), bad).toThrow(/--metrics must be HOST:PORT/);
    }
  });

  it("serves the coordinator's metrics at /metrics only", async () => {
    const port = coordinator.metricsPort as number;
    expect(port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(404);
    await res.text();
    const s = await scrape(port);
    expectTypes(s, COORDINATOR_METRICS);
    for (const state of ["PENDING", "PUBLISHING", "RUNNING"]) {
      expect(find(s, "latent_fleet_jobs", { state })).toHaveLength(1);
    }
    for (const state of ["SUCCEEDED", "FAILED", "CANCELLED"]) {
      expect(total(s, "latent_fleet_jobs_finished_total", { state })).toBe(0);
    }
  });

  it("shows a queued job: its tasks pending in the queue, its samples pending", async () => {
    const spec = join(dir, "job.yaml");
    await writeFile(
      spec,
      [
        `model: ${TINY_SHAPES}`,
        `output: ${join(dir, "out")}`,
        "seed: 7",
        "images_per_prompt: 2",
        "defaults: { steps: 3, guidance_scale: 3.0, width: 64, height: 64 }",
        "prompts:",
        '  - template: "a {color} {shape} on a white background"',
        `    vars: { color: [red, blue], shape: [${PROMPT_WORDS.join(", ")}] }`,
      ].join("\n"),
    );
    jobId = await coordinator.submit({ spec });
    const port = coordinator.metricsPort as number;
    let s: Scrape | undefined;
    // The queue is read at most every 2 s: wait for a reading taken after the job was published.
    const seen = await waitFor(async () => {
      s = await scrape(port);
      return (
        total(s, "latent_fleet_queue_pending_tasks", { model: TINY_MODEL_NAME }) === SHARDS &&
        total(s, "latent_fleet_job_samples", { job_id: jobId, state: "pending" }) === SAMPLES
      );
    }, 15_000);
    expect(seen, JSON.stringify(s?.samples.filter((x) => !x.name.includes("process")))).toBe(true);
    const now = s as Scrape;
    expect(total(now, "latent_fleet_tasks_published_total", { model: TINY_MODEL_NAME })).toBe(SHARDS);
    expect(total(now, "latent_fleet_tasks_dead_lettered_total", { model: TINY_MODEL_NAME })).toBe(0);
    expect(total(now, "latent_fleet_jobs", { state: "RUNNING" })).toBe(1);
    expect(total(now, "latent_fleet_job_samples", { job_id: jobId, state: "done" })).toBe(0);
    expect(total(now, "latent_fleet_queue_ack_pending_tasks", { model: TINY_MODEL_NAME })).toBe(0);
    // No images yet: no rate, no ETA.
    expect(find(now, "latent_fleet_job_eta_seconds", { job_id: jobId })).toHaveLength(0);
    expectBoundedLabels(now);
  });

  it("a worker's metrics move as it works the job off, and the coordinator's follow", async () => {
    worker = await startWorker({
      natsUrl: server.url,
      modelDir: TINY_SHAPES,
      batchSize: 4,
      intraOpThreads: 1,
      pullExpiresMs: 1000,
      workerId: "w-metrics",
      metricsAddress: "127.0.0.1:0",
      log: silentLogger,
    });
    const wport = worker.metricsPort as number;
    const before = await scrape(wport);
    expectTypes(before, WORKER_METRICS);
    for (const s of before.samples) {
      expect(s.labels.model, s.name).toBe(TINY_MODEL_NAME);
      expect(s.labels.worker, s.name).toBe("w-metrics");
    }
    expect(total(before, "latent_fleet_images_failed_total", { reason: "OUT_OF_MEMORY" })).toBe(0);
    expect(find(before, "latent_fleet_worker_info", { device: "cpu" })[0]?.value).toBe(1);

    const snap = await coordinator.waitForJob(jobId, { timeoutMs: 90_000 });
    expect(snap.state).toBe("SUCCEEDED");
    // A task of no job this coordinator runs, with a sample no engine can run: a failure of the worker.
    await publishTask(ctx.js, makeTask("metrics-other-job", 0, join(dir, "other"), 1, 5, { steps: 0 }));
    let after: Scrape | undefined;
    const failed = await waitFor(async () => {
      after = await scrape(wport);
      return total(after, "latent_fleet_tasks_finished_total", { outcome: "acked" }) === SHARDS + 1;
    }, 30_000);
    expect(failed).toBe(true);
    const w = after as Scrape;
    expect(total(w, "latent_fleet_images_generated_total")).toBe(SAMPLES);
    expect(total(w, "latent_fleet_images_failed_total", { reason: "INVALID_ARGUMENT" })).toBe(1);
    expect(total(w, "latent_fleet_images_failed_total")).toBe(1);
    // Every generated image went through the engine in some batch; the invalid one never did.
    expect(total(w, "latent_fleet_batch_size_sum")).toBe(SAMPLES);
    const batches = total(w, "latent_fleet_batch_size_count");
    expect(batches).toBeGreaterThanOrEqual(SAMPLES / 4);
    const count = (stage: string) => total(w, "latent_fleet_stage_duration_seconds_count", { stage });
    for (const stage of ["tokenize", "text_encoder", "vae_decode"]) expect(count(stage), stage).toBe(batches);
    expect(count("denoise_step")).toBe(3 * batches);
    expect(count("png_encode")).toBe(SAMPLES);
    expect(count("write")).toBe(SAMPLES);
    expect(total(w, "latent_fleet_stage_duration_seconds_sum", { stage: "denoise_step" })).toBeGreaterThan(0);
    expect(total(w, "latent_fleet_batch_duration_seconds_count")).toBe(batches);
    const busy = total(w, "latent_fleet_engine_busy_seconds_total");
    expect(busy).toBeGreaterThan(0);
    expect(busy).toBeGreaterThanOrEqual(total(w, "latent_fleet_batch_duration_seconds_sum") * 0.9);
    const ratio = total(w, "latent_fleet_worker_busy_ratio");
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThanOrEqual(1);
    expect(total(w, "latent_fleet_tasks_received_total")).toBe(SHARDS + 1);
    expect(total(w, "latent_fleet_task_redeliveries_total")).toBe(0);
    expect(total(w, "latent_fleet_tasks_in_flight")).toBe(0);
    expect(total(w, "latent_fleet_samples_queued")).toBe(0);
    expect(total(w, "latent_fleet_samples_unwritten")).toBe(0);
    expectBoundedLabels(w);

    const c = await scrape(coordinator.metricsPort as number);
    // The finished job stays visible, with its final counts; it is no longer running, and has no ETA.
    expect(total(c, "latent_fleet_job_samples", { job_id: jobId, state: "done" })).toBe(SAMPLES);
    expect(total(c, "latent_fleet_job_samples", { job_id: jobId, state: "pending" })).toBe(0);
    expect(total(c, "latent_fleet_jobs_finished_total", { state: "SUCCEEDED" })).toBe(1);
    expect(total(c, "latent_fleet_jobs", { state: "RUNNING" })).toBe(0);
    expect(find(c, "latent_fleet_job_eta_seconds")).toHaveLength(0);
    expect(total(c, "latent_fleet_tasks_published_total", { model: TINY_MODEL_NAME })).toBe(SHARDS);
    expectBoundedLabels(c);
    const drained = await waitFor(async () => {
      const q = await scrape(coordinator.metricsPort as number);
      return total(q, "latent_fleet_queue_pending_tasks", { model: TINY_MODEL_NAME }) === 0;
    }, 10_000);
    expect(drained).toBe(true);
  });

  it("stops serving when the worker stops", async () => {
    const port = worker?.metricsPort as number;
    await worker?.stop();
    worker = undefined;
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});
