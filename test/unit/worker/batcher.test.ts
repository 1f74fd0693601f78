/**
 * The batcher against a fake engine: grouping, batch size, the pipeline, OOM halving, one bad sample; and
 * against a real engine thread that dies.
 */
import { performance } from "node:perf_hooks";
import type { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SampleRequest } from "../../../src/common/contract/sample.js";
import { LatentFleetError } from "../../../src/common/errors.js";
import { batchKey } from "../../../src/engine/batch-key.js";
import { parseDevice } from "../../../src/engine/device.js";
import { EngineHost } from "../../../src/engine/engine-host.js";
import { Batcher } from "../../../src/worker/batcher.js";
import { WorkerStats } from "../../../src/worker/stats.js";
import type { BatchEngine, EngineImage, SampleOutcome } from "../../../src/worker/submission.js";
import { TINY_SHAPES } from "../../helpers/paths.js";

function req(seed: number, over: Partial<SampleRequest> = {}): SampleRequest {
  return {
    prompt: "a red circle",
    negativePrompt: "",
    seed,
    steps: 4,
    guidanceScale: 4,
    scheduler: "euler",
    width: 64,
    height: 64,
    ...over,
  };
}

/** Returns 1x1 images whose red channel is the seed; fails as configured; can be held with a gate. */
class FakeEngine implements BatchEngine {
  readonly calls: number[][] = [];
  /** Batches larger than this run out of memory. */
  memory = Number.POSITIVE_INFINITY;
  /** A batch with one of these seeds runs out of memory, whatever its size (a sample too big alone). */
  hugeSeeds = new Set<number>();
  /** A batch with one of these seeds fails with a model error. */
  badSeeds = new Set<number>();
  fatal: LatentFleetError | undefined;
  private gates: (() => void)[] = [];
  gated = false;

  async generate(requests: SampleRequest[]): Promise<{ samples: EngineImage[] }> {
    const seeds = requests.map((r) => r.seed);
    this.calls.push(seeds);
    if (this.gated) await new Promise<void>((r) => this.gates.push(r));
    else await new Promise((r) => setTimeout(r, 1));
    if (this.fatal) throw this.fatal;
    if (requests.length > this.memory || seeds.some((s) => this.hugeSeeds.has(s))) {
      throw new LatentFleetError(
        "OUT_OF_MEMORY",
        `unet: Failed to allocate memory for a batch of ${seeds.length}`,
      );
    }
    const bad = seeds.find((s) => this.badSeeds.has(s));
    if (bad !== undefined) throw new LatentFleetError("ENGINE_FAILED", `unet: NaN in sample ${bad}`);
    return {
      samples: seeds.map((s) => ({ rgb: Uint8Array.of(s % 256, 0, 0), width: 1, height: 1, warnings: [] })),
    };
  }

  /** Lets the oldest held batch finish. */
  release(): void {
    this.gates.shift()?.();
  }

  releaseAll(): void {
    this.gated = false;
    for (const g of this.gates.splice(0)) g();
  }
}

function batcher(engine: FakeEngine, batchSize: number, stats?: WorkerStats): Batcher {
  return new Batcher({
    engine,
    batchSize,
    batchKey: (r) => batchKey(r, (x) => x.guidanceScale > 1),
    stats,
  });
}

const seedOf = (o: SampleOutcome) => (o.ok && "rgb" in o.image ? o.image.rgb[0] : -1);
const tick = () => new Promise((r) => setTimeout(r, 5));
/** One turn of the event loop: the batcher pumps on setImmediate (left real under the test clock). */
const turn = () => new Promise((r) => setImmediate(r));

/**
 * Timers, Date and performance.now() on a clock that only moves with vi.advanceTimersByTimeAsync. The
 * batcher reads performance from node:perf_hooks, the same object as the global one, so its now() is
 * replaced in place.
 */
function useTestClock(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  vi.spyOn(performance, "now").mockImplementation(() => Date.now());
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("the batcher", () => {
  it("groups samples of several tasks into batches of the same key, never over the batch size", async () => {
    const engine = new FakeEngine();
    const stats = new WorkerStats();
    const b = batcher(engine, 4, stats);
    // Three tasks of three samples; task 2 has another size, so it cannot share their batches.
    const t1 = b.submit([req(1), req(2), req(3)]);
    const t2 = b.submit([req(11, { width: 32 }), req(12, { width: 32 }), req(13, { width: 32 })]);
    const t3 = b.submit([req(21), req(22), req(23)]);
    const [o1, o2, o3] = await Promise.all([t1.done, t2.done, t3.done]);
    expect(o1.map(seedOf)).toEqual([1, 2, 3]);
    expect(o2.map(seedOf)).toEqual([11, 12, 13]);
    expect(o3.map(seedOf)).toEqual([21, 22, 23]);
    expect(engine.calls).toEqual([
      [1, 2, 3, 21], // the oldest sample's key first, filled across tasks
      [11, 12, 13], // then the oldest waiting sample's key
      [22, 23],
    ]);
    expect(Math.max(...engine.calls.map((c) => c.length))).toBeLessThanOrEqual(4);
    expect(stats.generated).toBe(9);
    expect(stats.failed).toBe(0);
  });

  it("keeps the engine busy: a full batch is queued behind the running one, a partial one waits", async () => {
    const engine = new FakeEngine();
    engine.gated = true;
    const b = batcher(engine, 2);
    const jobs = [b.submit([req(1), req(2)]), b.submit([req(3), req(4)]), b.submit([req(5)])];
    await tick();
    expect(engine.calls).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(b.running).toBe(2);
    expect(b.queued).toBe(1);
    engine.release(); // the engine still has a batch: the partial one keeps waiting for company
    await tick();
    expect(engine.calls.length).toBe(2);
    engine.release(); // the engine would go idle: the partial batch goes
    await tick();
    expect(engine.calls).toEqual([[1, 2], [3, 4], [5]]);
    engine.releaseAll();
    await Promise.all(jobs.map((j) => j.done));
  });

  it("holds a partial batch back for a moment while more samples are on their way", async () => {
    const engine = new FakeEngine();
    const b = new Batcher({
      engine,
      batchSize: 4,
      batchKey: (r) => batchKey(r, () => true),
      lingerMs: 1000,
    });
    b.expectMore(true);
    const first = b.submit([req(1), req(2)]);
    await tick();
    expect(engine.calls).toEqual([]); // waiting for company
    const second = b.submit([req(3)]);
    b.expectMore(false);
    await Promise.all([first.done, second.done]);
    expect(engine.calls).toEqual([[1, 2, 3]]);

    // The wait is bounded: samples announced but never coming hold the engine up for lingerMs, no longer.
    useTestClock();
    const quick = new Batcher({
      engine,
      batchSize: 4,
      batchKey: (r) => batchKey(r, () => true),
      lingerMs: 30,
    });
    quick.expectMore(true);
    const t0 = performance.now();
    const lone = quick.submit([req(9)]);
    await turn();
    await vi.advanceTimersByTimeAsync(29);
    expect(engine.calls.at(-1)).toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(1);
    expect(engine.calls.at(-1)).toEqual([9]);
    expect(performance.now() - t0).toBe(30);
    await vi.advanceTimersByTimeAsync(1); // the fake engine's own millisecond
    await lone.done;
    expect(performance.now() - t0).toBeLessThan(500);
    expect(engine.calls.at(-1)).toEqual([9]);
  });

  it("retries a batch that runs out of memory as two halves, and caps later batches", async () => {
    const engine = new FakeEngine();
    engine.memory = 2;
    const b = batcher(engine, 8);
    const out = await b.submit(Array.from({ length: 8 }, (_, i) => req(i))).done;
    expect(out.every((o) => o.ok)).toBe(true);
    expect(engine.calls.map((c) => c.length)).toEqual([8, 4, 2, 2, 2, 2]);
    // The next batch of that shape starts at the size that fitted.
    engine.calls.length = 0;
    await b.submit([req(20), req(21), req(22)]).done;
    expect(engine.calls.map((c) => c.length)).toEqual([2, 1]);
  });

  it("halves down to one sample, then fails only the sample that does not fit", async () => {
    const engine = new FakeEngine();
    engine.hugeSeeds.add(5);
    const onSample: [number, string][] = [];
    const b = batcher(engine, 8);
    const out = await b.submit(
      Array.from({ length: 8 }, (_, i) => req(i)),
      { onSample: (i, o) => void onSample.push([i, o.ok ? "ok" : o.code]) },
    ).done;
    expect(out.map((o) => (o.ok ? "ok" : o.code))).toEqual([
      "ok",
      "ok",
      "ok",
      "ok",
      "ok",
      "OUT_OF_MEMORY",
      "ok",
      "ok",
    ]);
    expect(engine.calls).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [4, 5],
      [4],
      [5],
      [6],
      [7],
    ]);
    expect(onSample.length).toBe(8);
    const failed = out[5];
    expect(failed.ok === false && failed.message).toMatch(/allocate/);
  });

  it("retries a batch that fails with another error sample by sample: one bad sample, the rest complete", async () => {
    const engine = new FakeEngine();
    engine.badSeeds.add(3);
    const stats = new WorkerStats();
    const b = batcher(engine, 4, stats);
    const t1 = b.submit([req(1), req(2)]);
    const t2 = b.submit([req(3), req(4)]);
    const [o1, o2] = await Promise.all([t1.done, t2.done]);
    expect(o1.map(seedOf)).toEqual([1, 2]);
    expect(o2[0]).toMatchObject({ ok: false, code: "ENGINE_FAILED", message: "unet: NaN in sample 3" });
    expect(seedOf(o2[1])).toBe(4);
    expect(engine.calls).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
    expect(stats.generated).toBe(3);
    expect(stats.failed).toBe(1);
  });

  it("fails entries that are errors without engine work", async () => {
    const engine = new FakeEngine();
    const b = batcher(engine, 4);
    const out = await b.submit([
      new LatentFleetError("INVALID_ARGUMENT", "width must be a multiple of 8"),
      req(1),
    ]).done;
    expect(out[0]).toMatchObject({ ok: false, code: "INVALID_ARGUMENT" });
    expect(seedOf(out[1])).toBe(1);
    expect(engine.calls).toEqual([[1]]);
    expect(await b.submit([new LatentFleetError("INVALID_ARGUMENT", "x")]).done).toHaveLength(1);
  });

  it("withdraws the jobs that have not started and finishes the started ones", async () => {
    const engine = new FakeEngine();
    engine.gated = true;
    const b = batcher(engine, 2);
    const started = b.submit([req(1), req(2), req(3)]);
    const waiting = b.submit([req(4, { steps: 8 })]);
    await tick();
    expect(engine.calls).toEqual([[1, 2]]);
    const withdrawn = b.withdrawUnstarted({ close: true });
    expect(withdrawn).toHaveLength(1);
    expect(withdrawn[0]).toBe(waiting);
    await expect(waiting.done).rejects.toMatchObject({ code: "WORKER_DRAINING" });
    await expect(b.submit([req(9)]).done).rejects.toMatchObject({ code: "WORKER_DRAINING" });
    engine.releaseAll();
    expect((await started.done).map(seedOf)).toEqual([1, 2, 3]);
    await b.idle();
  });

  it("fails every job when the engine dies, instead of reporting samples failed", async () => {
    const engine = new FakeEngine();
    engine.fatal = new LatentFleetError("ENGINE_DEAD", "engine thread exited with code 1");
    const b = batcher(engine, 2);
    const a = b.submit([req(1), req(2)]);
    const c = b.submit([req(3), req(4), req(5)]);
    await expect(a.done).rejects.toMatchObject({ code: "ENGINE_DEAD" });
    await expect(c.done).rejects.toMatchObject({ code: "ENGINE_DEAD" });
    expect(b.fatalError).toBeDefined();
    expect(engine.calls.length).toBeLessThanOrEqual(2);
  });

  it("tells a dead engine by its code, not its message: a model error worded alike fails only samples", async () => {
    const engine = new FakeEngine();
    engine.fatal = new LatentFleetError("ENGINE_FAILED", "engine thread exited with code 1");
    const b = batcher(engine, 2);
    const out = await b.submit([req(1), req(2)]).done;
    expect(out).toEqual([
      { ok: false, code: "ENGINE_FAILED", message: "engine thread exited with code 1" },
      { ok: false, code: "ENGINE_FAILED", message: "engine thread exited with code 1" },
    ]);
    expect(b.fatalError).toBeUndefined();
    // The batch, then each sample alone: the engine was still trusted.
    expect(engine.calls).toEqual([[1, 2], [1], [2]]);
  });

  it("treats a real engine thread that exits as dead: every job fails with ENGINE_DEAD", async () => {
    const host = await EngineHost.start({ modelDir: TINY_SHAPES, device: parseDevice("cpu") });
    try {
      const b = new Batcher({ engine: host, batchSize: 2, batchKey: (r) => batchKey(r, () => true) });
      // The thread is told to end behind the host's back, so it exits without answering a's batch, which
      // reaches it next, as a crash would leave it. (Not terminate(): stopping a thread in the middle of
      // an ONNX Runtime call can abort the whole process.)
      endThreadUnannounced(host);
      const a = b.submit([req(1), req(2)]);
      const c = b.submit([req(3, { steps: 8 })]);
      await tick();
      await expect(a.done).rejects.toMatchObject({
        code: "ENGINE_DEAD",
        message: expect.stringMatching(/^engine thread exited/),
      });
      await expect(c.done).rejects.toMatchObject({ code: "ENGINE_DEAD" });
      expect(b.fatalError).toMatchObject({ code: "ENGINE_DEAD" });
      await expect(b.submit([req(4)]).done).rejects.toMatchObject({ code: "ENGINE_DEAD" });
    } finally {
      await host.close();
    }
  });

  it("rejects a job whose per-sample callback fails, after all its samples are done", async () => {
    const engine = new FakeEngine();
    const b = batcher(engine, 4);
    let calls = 0;
    const job = b.submit([req(1), req(2)], {
      onSample: async (i) => {
        calls++;
        if (i === 0) throw new LatentFleetError("OUTPUT_FAILED", "disk full");
      },
    });
    await expect(job.done).rejects.toMatchObject({ code: "OUTPUT_FAILED" });
    expect(calls).toBe(2);
  });

  it("keeps a callback that fails before the job's last batch from being an unhandled rejection", async () => {
    const engine = new FakeEngine();
    engine.gated = true;
    const b = batcher(engine, 2);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      // Two batches: the first one's callbacks fail (a full disk) while the second is still held.
      const job = b.submit([req(1), req(2), req(3), req(4)], {
        onSample: async (i) => {
          if (i < 2) throw new LatentFleetError("OUTPUT_FAILED", "no space left on device");
        },
      });
      await tick();
      engine.release();
      await tick();
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      engine.releaseAll();
      await expect(job.done).rejects.toMatchObject({ code: "OUTPUT_FAILED" });
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});

/** Makes an engine thread exit at its next message, with no word to its host: an unexpected exit. */
function endThreadUnannounced(host: EngineHost): void {
  (host as unknown as { thread: Worker }).thread.postMessage({ type: "close" });
}
