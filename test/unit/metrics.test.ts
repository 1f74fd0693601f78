/**
 * The metrics modules on their own: the worker's busy clock and stage timings from a stand-in engine, the
 * coordinator's job gauges and its bounded reads of the task queue. Durations run on a clock the tests move
 * (fake timers), so the figures are exact however loaded the machine is.
 */
import { performance } from "node:perf_hooks";
import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SampleRequest } from "../../src/common/contract/sample.js";
import { createMetricsRegistry, EVENT_LOOP_SAMPLE_MS } from "../../src/common/metrics.js";
import type { JobSnapshot } from "../../src/coordinator/job-snapshot.js";
import { CoordinatorMetrics } from "../../src/coordinator/metrics.js";
import type { StageTimings } from "../../src/engine/pipeline.js";
import { WorkerMetrics } from "../../src/worker/metrics.js";
import { parsePromText, type Scrape, total } from "../helpers/prom-text.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Timers, Date and performance.now() on a clock that only moves with vi.advanceTimersByTimeAsync. The
 * modules read performance from node:perf_hooks, the same object as the global one, so its now() is
 * replaced in place (vitest's fake performance would replace the global only). setImmediate stays real:
 * prom-client's event loop lag waits for one on every scrape.
 */
function useTestClock(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  vi.spyOn(performance, "now").mockImplementation(() => Date.now());
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

async function read(m: { registry: { metrics(): Promise<string> } }): Promise<Scrape> {
  return parsePromText(await m.registry.metrics());
}

function workerMetrics(id = "w1") {
  return new WorkerMetrics({
    workerId: id,
    model: "m",
    device: "cpu",
    tasksInFlight: () => 2,
    samplesQueued: () => 3,
    samplesUnwritten: () => 5,
  });
}

const request = { prompt: "p", steps: 2 } as SampleRequest;

describe("process metrics", () => {
  it("see an event-loop stall of a few sampling intervals in the lag histogram", async () => {
    const registry = createMetricsRegistry();
    await read({ registry }); // starts a fresh histogram window
    await sleep(2 * EVENT_LOOP_SAMPLE_MS);
    // The thread held, as a batch of synchronous work would hold it.
    const stallMs = 3 * EVENT_LOOP_SAMPLE_MS;
    const until = performance.now() + stallMs;
    while (performance.now() < until) {}
    await sleep(2 * EVENT_LOOP_SAMPLE_MS);
    const s = await read({ registry });
    // A sampling timer due during the stall fires late by most of it.
    expect(total(s, "latent_fleet_nodejs_eventloop_lag_max_seconds")).toBeGreaterThanOrEqual(
      (stallMs - EVENT_LOOP_SAMPLE_MS) / 1000,
    );
    expect(total(s, "latent_fleet_nodejs_eventloop_lag_min_seconds")).toBeLessThan(stallMs / 1000);
  });
});

describe("worker metrics", () => {
  it("times batches from the engine's stage timings and counts busy time while a batch runs", async () => {
    useTestClock();
    const m = workerMetrics();
    const timings: StageTimings = { tokenizeMs: 1, textEncoderMs: 4, stepMs: [10, 20], vaeMs: 5 };
    let release!: () => void;
    const engine = m.instrument({
      generate: (requests: SampleRequest[]) =>
        new Promise((resolve) => {
          release = () =>
            resolve({
              samples: requests.map(() => ({ rgb: new Uint8Array(0), width: 8, height: 8, warnings: [] })),
              timings,
            });
        }),
    });
    const running = engine.generate([request, request, request]);
    await vi.advanceTimersByTimeAsync(120);
    // A scrape during a long batch already sees the busy time grow.
    const during = await read(m);
    expect(total(during, "latent_fleet_engine_busy_seconds_total")).toBeGreaterThanOrEqual(0.1);
    expect(total(during, "latent_fleet_engine_busy_seconds_total")).toBeCloseTo(0.12, 6);
    expect(total(during, "latent_fleet_batch_size_count")).toBe(0);
    release();
    await running;
    await vi.advanceTimersByTimeAsync(100);
    const after = await read(m);
    const busy = total(after, "latent_fleet_engine_busy_seconds_total");
    expect(busy).toBeGreaterThanOrEqual(0.12);
    expect(busy).toBeLessThan(0.2 + total(during, "latent_fleet_engine_busy_seconds_total"));
    // The 100 ms idle after the batch is not busy time.
    expect(busy).toBeCloseTo(0.12, 6);
    expect(total(after, "latent_fleet_batch_size_sum")).toBe(3);
    expect(total(after, "latent_fleet_batch_size_bucket", { le: "2" })).toBe(0);
    expect(total(after, "latent_fleet_batch_size_bucket", { le: "4" })).toBe(1);
    const count = (stage: string) => total(after, "latent_fleet_stage_duration_seconds_count", { stage });
    const sum = (stage: string) => total(after, "latent_fleet_stage_duration_seconds_sum", { stage });
    expect(count("denoise_step")).toBe(2);
    expect(sum("denoise_step")).toBeCloseTo(0.03, 6);
    expect(sum("text_encoder")).toBeCloseTo(0.004, 6);
    expect(total(after, "latent_fleet_batch_duration_seconds_sum")).toBeCloseTo(0.04, 6);
    // Idle since the batch ended: the ratio over the window is below 1, and above 0: busy 120 ms of 220.
    const ratio = total(after, "latent_fleet_worker_busy_ratio");
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThan(1);
    expect(ratio).toBeCloseTo(0.12 / 0.22, 6);
    expect(total(after, "latent_fleet_tasks_in_flight")).toBe(2);
    expect(total(after, "latent_fleet_samples_queued")).toBe(3);
    expect(total(after, "latent_fleet_samples_unwritten")).toBe(5);
    m.close();
  });

  it("counts busy time once when batches overlap, and a failed batch as busy too", async () => {
    useTestClock();
    const m = workerMetrics();
    const engine = m.instrument({
      generate: async (requests: SampleRequest[]) => {
        await sleep(60);
        if (requests.length === 2) throw new Error("boom");
        return { samples: [] };
      },
    });
    const settled = Promise.allSettled([engine.generate([request]), engine.generate([request, request])]);
    await vi.advanceTimersByTimeAsync(60);
    const results = await settled;
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected"]);
    const s = await read(m);
    const busy = total(s, "latent_fleet_engine_busy_seconds_total");
    // Both ran at the same time for 60 ms: counted once, not twice.
    expect(busy).toBeGreaterThanOrEqual(0.055);
    expect(busy).toBeLessThan(0.11);
    expect(busy).toBeCloseTo(0.06, 6);
    // Only the batch that came back has a size; no timings came with it, so no stage durations.
    expect(total(s, "latent_fleet_batch_size_count")).toBe(1);
    expect(total(s, "latent_fleet_stage_duration_seconds_count")).toBe(0);
    m.close();
  });

  it("counts the busy ratio from the worker's start until its window is full, then over the last 30 s", async () => {
    useTestClock();
    const m = workerMetrics();
    const engine = m.instrument({
      generate: async () => {
        await sleep(500);
        return { samples: [] };
      },
    });
    // Busy for the first half second, before the once-a-second sample of the busy time is first taken.
    const batch = engine.generate([request]);
    await vi.advanceTimersByTimeAsync(500);
    await batch;
    await vi.advanceTimersByTimeAsync(1_000);
    const ratio = (s: Scrape) => total(s, "latent_fleet_worker_busy_ratio");
    expect(ratio(await read(m))).toBeCloseTo(0.5 / 1.5, 6);
    // 40 s on, the window covers the last 30 s (31 one-second samples, 30 intervals), all idle.
    await vi.advanceTimersByTimeAsync(38_500);
    expect(ratio(await read(m))).toBe(0);
    const later = engine.generate([request]);
    await vi.advanceTimersByTimeAsync(500);
    await later;
    expect(ratio(await read(m))).toBeGreaterThan(0.5 / 31);
    expect(ratio(await read(m))).toBeLessThan(0.5 / 29);
    m.close();
  });

  it("counts samples, failures by reason, tasks and redeliveries, in a registry of its own", async () => {
    const a = workerMetrics("a");
    const b = workerMetrics("b");
    a.sampleDone({ ok: true, image: { rgb: new Uint8Array(0), width: 8, height: 8, warnings: [] } });
    a.sampleDone({ ok: false, code: "OUT_OF_MEMORY", message: "too big" });
    a.samplesFailed("OUTPUT_FAILED", 4);
    a.received(1);
    a.received(3);
    a.finished("acked");
    a.finished("released");
    a.sinkStage("png_encode", 0.002);
    const s = await read(a);
    expect(total(s, "latent_fleet_images_generated_total")).toBe(1);
    expect(total(s, "latent_fleet_images_failed_total", { reason: "OUT_OF_MEMORY" })).toBe(1);
    expect(total(s, "latent_fleet_images_failed_total", { reason: "OUTPUT_FAILED" })).toBe(4);
    expect(total(s, "latent_fleet_images_failed_total", { reason: "ENGINE_FAILED" })).toBe(0);
    expect(total(s, "latent_fleet_tasks_received_total")).toBe(2);
    expect(total(s, "latent_fleet_task_redeliveries_total")).toBe(1);
    expect(total(s, "latent_fleet_tasks_finished_total", { outcome: "acked" })).toBe(1);
    expect(total(s, "latent_fleet_tasks_finished_total", { outcome: "retried" })).toBe(0);
    expect(total(s, "latent_fleet_stage_duration_seconds_count", { stage: "png_encode" })).toBe(1);
    for (const x of s.samples) expect(x.labels.worker).toBe("a");
    const other = await read(b);
    expect(total(other, "latent_fleet_images_generated_total")).toBe(0);
    a.close();
    b.close();
  });
});

function snapshot(over: Partial<JobSnapshot>): JobSnapshot {
  return {
    jobId: "j",
    state: "RUNNING",
    model: "m",
    output: "/out",
    samplesTotal: 10,
    samplesDone: 4,
    samplesFailed: 1,
    shardsTotal: 2,
    shardsPublished: 2,
    shardsDone: 1,
    shardsReused: 0,
    samplesReused: 0,
    rowsRejected: 0,
    imagesPerSecond: 2,
    etaSeconds: 2.5,
    createdAtMs: 0,
    finishedAtMs: null,
    error: "",
    maxFailed: "0",
    ...over,
  };
}

function fakeJsm(list: () => Promise<Partial<ConsumerInfo>[]>): {
  jsm: JetStreamManager;
  calls: () => number;
} {
  let calls = 0;
  const jsm = {
    consumers: {
      list: () => ({
        next: () => {
          calls++;
          return list();
        },
      }),
    },
  } as unknown as JetStreamManager;
  return { jsm, calls: () => calls };
}

const consumer = (name: string, pending: number): Partial<ConsumerInfo> => ({
  name,
  num_pending: pending,
  num_ack_pending: 1,
  num_redelivered: 0,
  num_waiting: 2,
});

describe("coordinator metrics", () => {
  it("shows running jobs and the last ended ones, with samples by state and ETA", async () => {
    const jobs = [
      snapshot({ jobId: "running" }),
      snapshot({ jobId: "publishing", state: "PUBLISHING", samplesTotal: null, etaSeconds: -1 }),
      snapshot({ jobId: "ended", state: "SUCCEEDED", samplesDone: 10, samplesFailed: 0, etaSeconds: 0 }),
    ];
    const { jsm } = fakeJsm(async () => []);
    const m = new CoordinatorMetrics({ jobs: () => jobs, jsm });
    m.taskPublished("m");
    m.taskPublished("m");
    m.jobEnded(jobs[2]);
    const s = await read(m);
    expect(total(s, "latent_fleet_jobs", { state: "RUNNING" })).toBe(1);
    expect(total(s, "latent_fleet_jobs", { state: "PUBLISHING" })).toBe(1);
    expect(total(s, "latent_fleet_jobs", { state: "PENDING" })).toBe(0);
    expect(total(s, "latent_fleet_jobs_finished_total", { state: "SUCCEEDED" })).toBe(1);
    expect(total(s, "latent_fleet_job_samples", { job_id: "running", state: "pending" })).toBe(5);
    expect(total(s, "latent_fleet_job_samples", { job_id: "running", state: "failed" })).toBe(1);
    // Pending is unknown until every shard is published.
    expect(s.samples.filter((x) => x.labels.job_id === "publishing" && x.labels.state === "pending")).toEqual(
      [],
    );
    expect(total(s, "latent_fleet_job_samples", { job_id: "ended", state: "done" })).toBe(10);
    const etas = s.samples.filter((x) => x.name === "latent_fleet_job_eta_seconds");
    expect(etas.map((x) => [x.labels.job_id, x.value])).toEqual([["running", 2.5]]);
    expect(total(s, "latent_fleet_tasks_published_total", { model: "m" })).toBe(2);
    expect(total(s, "latent_fleet_tasks_dead_lettered_total", { model: "m" })).toBe(0);
    // A job that left the list leaves no series behind.
    jobs.splice(0, 2);
    const later = await read(m);
    expect(later.samples.filter((x) => x.labels.job_id === "running")).toEqual([]);
  });

  it("reads the worker consumers at most once per interval, whatever the scrapes", async () => {
    useTestClock();
    const { jsm, calls } = fakeJsm(async () => [consumer("workers-m", 7), consumer("other", 1)]);
    const m = new CoordinatorMetrics({ jobs: () => [], jsm, queueReadIntervalMs: 200 });
    const s = await read(m);
    await read(m);
    await read(m);
    expect(calls()).toBe(1);
    expect(total(s, "latent_fleet_queue_pending_tasks", { model: "m" })).toBe(7);
    expect(total(s, "latent_fleet_queue_ack_pending_tasks", { model: "m" })).toBe(1);
    expect(total(s, "latent_fleet_queue_waiting_pulls", { model: "m" })).toBe(2);
    expect(s.samples.filter((x) => x.labels.model === "other")).toEqual([]);
    await vi.advanceTimersByTimeAsync(199);
    await read(m);
    expect(calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(51);
    await read(m);
    expect(calls()).toBe(2);
  });

  it("drops the queue series when NATS does not answer in time, and serves the rest", async () => {
    useTestClock();
    const { jsm } = fakeJsm(() => new Promise(() => undefined));
    const m = new CoordinatorMetrics({ jobs: () => [snapshot({})], jsm });
    const started = Date.now();
    let answered = false;
    const scrape = read(m).finally(() => {
      answered = true;
    });
    // The scrape waits for NATS up to its 2 s bound (the other collectors answer on the next turns).
    await vi.advanceTimersByTimeAsync(1_999);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(answered).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const s = await scrape;
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(s.samples.filter((x) => x.name.startsWith("latent_fleet_queue_"))).toEqual([]);
    expect(total(s, "latent_fleet_jobs", { state: "RUNNING" })).toBe(1);
  });
});
