import { createServer, get } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import type { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SampleRequest } from "../../src/common/contract/sample.js";
import { parseDevice } from "../../src/engine/device.js";
import {
  EngineHost,
  releaseEarlyEngineThread,
  startEngineThreadEarly,
} from "../../src/engine/engine-host.js";
import { toRgbImages } from "../../src/engine/vae-decoder.js";
import { PngPool } from "../../src/worker/png-pool.js";
import { TINY_SHAPES } from "../helpers/paths.js";

function request(over: Partial<SampleRequest> = {}): SampleRequest {
  return {
    prompt: "a yellow triangle on a black background",
    negativePrompt: "",
    seed: 9,
    steps: 20,
    guidanceScale: 4,
    scheduler: "euler",
    width: 64,
    height: 64,
    ...over,
  };
}

function fetchOnce(port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/health" }, (res) => {
      res.resume();
      res.on("end", () => resolve(performance.now() - started));
    }).on("error", reject);
  });
}

const STEPS = 150;
/** A batch at least this long, so that a loop blocked by it would stall a request for seconds. */
const LONG_ENOUGH_MS = 2000;
/** Doubling from 1 stops here (9 batches at most), should even this batch be quicker than LONG_ENOUGH_MS. */
const MAX_BATCH = 256;
/** Requests sent during one batch, at most (over 20 ms apart each: minutes of batch). */
const MAX_REQUESTS = 10_000;

interface ProbedRun {
  size: number;
  batchMs: number;
  samples: number;
  /** Of each request sent to the host's HTTP server while the batch ran. */
  latencies: number[];
}

/** Runs a batch of `size` while requests go to the HTTP server on `port`, one after the other. */
async function runProbed(engine: EngineHost, port: number, size: number): Promise<ProbedRun> {
  const batch = Array.from({ length: size }, (_, i) => request({ seed: i, steps: STEPS }));
  const started = performance.now();
  let running = true;
  const job = engine.generate(batch).finally(() => {
    running = false;
  });
  const latencies: number[] = [];
  while (running && latencies.length < MAX_REQUESTS) {
    latencies.push(await fetchOnce(port));
    await new Promise((r) => setTimeout(r, 20));
  }
  const result = await job;
  return { size, batchMs: performance.now() - started, samples: result.samples.length, latencies };
}

describe("the engine thread", () => {
  let engine: EngineHost;
  beforeAll(async () => {
    engine = await EngineHost.start({ modelDir: TINY_SHAPES, device: parseDevice("cpu") });
  });
  afterAll(async () => {
    await engine.close();
  });

  it("keeps the host answering requests while a long batch runs", async () => {
    const server = createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    try {
      // The batch is sized here, not fixed: doubled until one lasts long enough, however fast the machine.
      let run = await runProbed(engine, port, 1);
      while (run.batchMs < LONG_ENOUGH_MS && run.size < MAX_BATCH) {
        run = await runProbed(engine, port, run.size * 2);
      }
      const { size, batchMs, latencies, samples } = run;
      const slowest = Math.max(...latencies);
      console.log(
        `batch of ${size} x ${STEPS} steps: ${Math.round(batchMs)} ms; ${latencies.length} requests answered, ` +
          `slowest ${slowest.toFixed(1)} ms`,
      );
      expect(samples).toBe(size);
      // The batch must be long enough for the check to mean something.
      expect(batchMs).toBeGreaterThan(LONG_ENOUGH_MS);
      expect(latencies.length).toBeGreaterThan(10);
      // Loose bound: a blocked event loop would stall these for the whole batch (seconds).
      expect(slowest).toBeLessThan(500);
    } finally {
      server.close();
    }
  });

  it("hands over the VAE's floats on request, which make exactly its RGB images (a worker's PNG threads convert)", async () => {
    const batch = [request({ seed: 3 }), request({ seed: 4, prompt: "a red circle on a white background" })];
    const rgb = await engine.generate(batch);
    const floats = await engine.generate(batch, "float");
    expect(floats.samples).toHaveLength(2);
    for (const [b, s] of floats.samples.entries()) {
      expect(s.pixels).toBeInstanceOf(Float32Array);
      expect(s.pixels.length).toBe(3 * 64 * 64);
      expect([s.width, s.height, s.warnings]).toEqual([64, 64, []]);
      expect(toRgbImages(s.pixels, 1, 64, 64)[0]).toEqual(rgb.samples[b].rgb);
    }
    // A PNG thread converts them to the same file as the RGB gives.
    const pool = new PngPool({ threads: 1 });
    try {
      const fromFloats = await pool.encodeImage(floats.samples[1], { transfer: true });
      expect(floats.samples[1].pixels.length).toBe(0); // moved to the thread, not copied
      const fromRgb = await pool.encode(rgb.samples[1].rgb, 64, 64);
      expect(fromFloats.png.equals(fromRgb.png)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it("returns typed errors across the thread boundary", async () => {
    await expect(engine.generate([request({ height: 30 })])).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    const ok = await engine.generate([request({ steps: 2 })]);
    expect(ok.samples[0].rgb.length).toBe(64 * 64 * 3);
  });

  it("fails every pending and later call with ENGINE_DEAD once its thread exits, and still closes", async () => {
    const doomed = await EngineHost.start({ modelDir: TINY_SHAPES, device: parseDevice("cpu") });
    // The thread is told to end behind the host's back, so it exits without answering the call that
    // reaches it next, as a crash would leave it. (Not terminate(): stopping a thread in the middle of an
    // ONNX Runtime call can abort the whole process.)
    (doomed as unknown as { thread: Worker }).thread.postMessage({ type: "close" });
    const pending = doomed.generate([request({ steps: 50 })]);
    await expect(pending).rejects.toMatchObject({
      code: "ENGINE_DEAD",
      message: expect.stringMatching(/^engine thread exited with code \d+/),
    });
    await expect(doomed.generate([request({ steps: 2 })])).rejects.toMatchObject({ code: "ENGINE_DEAD" });
    const closing = performance.now();
    await doomed.close();
    expect(performance.now() - closing).toBeLessThan(5000);
  });

  it("ends an early thread that no host took, after it has loaded, and the next host gets its own", async () => {
    const earlyId = startEngineThreadEarly();
    // At once, while the thread is still loading ONNX Runtime: ended only once it says it is ready.
    await releaseEarlyEngineThread();
    const next = startEngineThreadEarly();
    expect(next).not.toBe(earlyId);
    await releaseEarlyEngineThread();
    // Nothing left to end.
    await releaseEarlyEngineThread();
  });

  it("takes the thread started early, which draws what a thread started with the host draws", async () => {
    const earlyId = startEngineThreadEarly();
    // Started early twice is the same thread.
    expect(startEngineThreadEarly()).toBe(earlyId);
    const host = await EngineHost.start({ modelDir: TINY_SHAPES, device: parseDevice("cpu") });
    try {
      expect((host as unknown as { thread: Worker }).thread.threadId).toBe(earlyId);
      const [fromEarly, fromPlain] = await Promise.all([
        host.generate([request({ steps: 4 })]),
        engine.generate([request({ steps: 4 })]),
      ]);
      expect(Buffer.from(fromEarly.samples[0].rgb).equals(Buffer.from(fromPlain.samples[0].rgb))).toBe(true);
    } finally {
      await host.close();
    }
    // Taken once: the next host starts a thread of its own.
    const next = await EngineHost.start({ modelDir: TINY_SHAPES, device: parseDevice("cpu") });
    try {
      expect((next as unknown as { thread: Worker }).thread.threadId).not.toBe(earlyId);
    } finally {
      await next.close();
    }
  });

  it("fails to start on a missing model with MODEL_NOT_FOUND", async () => {
    await expect(
      EngineHost.start({ modelDir: "/nonexistent/model", device: parseDevice("cpu") }),
    ).rejects.toMatchObject({
      code: "MODEL_NOT_FOUND",
    });
  });
});
