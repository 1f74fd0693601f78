/**
 * The process side of an engine thread: start it, load a model, send batches, get images back.
 * One engine thread per GPU; a thread that crashes or exits fails every pending and later call with
 * ENGINE_DEAD (a batch the model fails is ENGINE_FAILED: the thread goes on).
 */
import type { Worker } from "node:worker_threads";
import { type SampleRequest, validateSampleRequest } from "../common/contract/sample.js";
import { LatentFleetError } from "../common/errors.js";
import { startThread } from "../common/threads.js";
import type { Device } from "./device.js";
import type { EngineFloatSample, EngineRequest, EngineResponse, EngineSample } from "./engine-protocol.js";
import type { ModelDescription, PixelOutput, StageTimings } from "./pipeline.js";

export interface EngineOptions {
  modelDir: string;
  device: Device;
  /** CPU threads for ONNX Runtime operators (CPU default: ONNX Runtime's choice, its physical cores). */
  intraOpThreads?: number;
  /** Let ONNX Runtime's CPU pool threads spin while idle (off by default: see sessionOptions). */
  spinning?: boolean;
}

export interface EngineBatch<S extends EngineSample | EngineFloatSample = EngineSample> {
  samples: S[];
  timings: StageTimings;
}

interface Pending {
  resolve: (batch: EngineBatch<EngineSample | EngineFloatSample>) => void;
  reject: (err: Error) => void;
}

/** An engine thread started before its model was known, with what it reported before it was taken. */
interface EarlyThread {
  thread: Worker;
  failure?: Error;
  exitCode?: number;
  /** It said "ready": its code and ONNX Runtime's addon have loaded. */
  ready?: boolean;
}

let early: EarlyThread | undefined;

/**
 * Where bin/latent-fleet.js leaves the engine thread it starts for `worker` and `sample` before it reads the
 * command's code (a standalone worker said "worker started" ~65 ms sooner, medians of 10). The CLI takes it
 * here, in its first synchronous steps, before any message of the thread can have been dispatched.
 */
const HANDED_ENGINE_THREAD = Symbol.for("latent-fleet.engine-thread");

/**
 * Starts the engine thread now, before the command knows its model: the thread loads ONNX Runtime and the
 * pipeline's code while the process's main thread loads the rest of its command, and the next
 * EngineHost.start takes it (the thread bin/latent-fleet.js started, when it did). Until then it keeps
 * nothing alive, so a command that ends first (bad arguments, a bad model folder) exits as it would
 * without it. Returns the thread's id.
 */
export function startEngineThreadEarly(): number {
  if (early) return early.thread.threadId;
  const given = globalThis as { [HANDED_ENGINE_THREAD]?: Worker };
  const handed = given[HANDED_ENGINE_THREAD];
  delete given[HANDED_ENGINE_THREAD];
  const e: EarlyThread = { thread: handed ?? startThread(import.meta.url, "engine-thread") };
  e.thread.unref();
  e.thread.once("error", (err) => {
    e.failure = err;
  });
  e.thread.once("exit", (code) => {
    e.exitCode = code;
  });
  e.thread.on("message", function onReady(msg: EngineResponse) {
    if (msg.type !== "ready") return;
    e.ready = true;
    e.thread.off("message", onReady);
  });
  early = e;
  return e.thread.threadId;
}

/**
 * Ends an early engine thread that no EngineHost took (the command ended first: bad arguments, a bad model
 * folder). It waits for the thread to say it is ready first, at most `timeoutMs`: a process that ends
 * while the thread is still loading ONNX Runtime's native addon aborts instead of exiting with its code.
 */
export async function releaseEarlyEngineThread(timeoutMs = 10_000): Promise<void> {
  const e = early;
  early = undefined;
  if (!e || e.exitCode !== undefined || e.failure) return;
  if (!e.ready) {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        e.thread.off("message", onMessage);
        e.thread.off("exit", done);
        e.thread.off("error", done);
        resolve();
      };
      const onMessage = (msg: EngineResponse) => {
        if (msg.type === "ready") done();
      };
      const timer = setTimeout(done, timeoutMs);
      e.thread.on("message", onMessage);
      e.thread.once("exit", done);
      e.thread.once("error", done);
    });
  }
  await e.thread.terminate();
}

/** The thread started early (kept alive from now on), or a new one. */
function engineThread(): Worker {
  const e = early;
  early = undefined;
  if (!e) return startThread(import.meta.url, "engine-thread");
  if (e.failure)
    throw new LatentFleetError("ENGINE_DEAD", `engine thread failed to start: ${e.failure.message}`);
  if (e.exitCode !== undefined) {
    throw new LatentFleetError(
      "ENGINE_DEAD",
      `engine thread exited with code ${e.exitCode} before its model`,
    );
  }
  e.thread.ref();
  return e.thread;
}

export class EngineHost {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: LatentFleetError | undefined;
  private closed = false;
  private exited = false;

  private constructor(
    private readonly thread: Worker,
    readonly model: ModelDescription,
  ) {
    thread.on("message", (msg: EngineResponse) => this.onMessage(msg));
    thread.on("error", (err) =>
      this.fail(new LatentFleetError("ENGINE_DEAD", `engine thread crashed: ${err.message}`)),
    );
    thread.on("exit", (code) => {
      this.exited = true;
      if (!this.closed)
        this.fail(new LatentFleetError("ENGINE_DEAD", `engine thread exited with code ${code}`));
    });
  }

  static async start(options: EngineOptions): Promise<EngineHost> {
    const thread = engineThread();
    const model = await new Promise<ModelDescription>((resolve, reject) => {
      const onMessage = (msg: EngineResponse) => {
        if (msg.type === "ready") return;
        cleanup();
        if (msg.type === "loaded") resolve(msg.model);
        else if (msg.type === "error") reject(new LatentFleetError(msg.code, msg.message));
        else reject(new LatentFleetError("ENGINE_FAILED", `unexpected engine message ${msg.type}`));
      };
      const onError = (err: Error) => {
        cleanup();
        reject(new LatentFleetError("ENGINE_DEAD", `engine thread failed to start: ${err.message}`));
      };
      const cleanup = () => {
        thread.off("message", onMessage);
        thread.off("error", onError);
      };
      thread.on("message", onMessage);
      thread.on("error", onError);
      const load: EngineRequest = {
        type: "load",
        modelDir: options.modelDir,
        device: options.device,
        intraOpThreads: options.intraOpThreads,
        spinning: options.spinning,
      };
      thread.postMessage(load);
    }).catch(async (err: unknown) => {
      await thread.terminate();
      throw err;
    });
    return new EngineHost(thread, model);
  }

  validate(req: SampleRequest): void {
    validateSampleRequest(req, this.model.vaeScale);
  }

  /**
   * One batch. Images come as 8-bit RGB, or with output "float" as the VAE's floats, which the caller
   * converts where it likes (a worker's PNG threads), so the engine thread goes on to the next batch.
   */
  generate(requests: SampleRequest[], output?: "rgb"): Promise<EngineBatch>;
  generate(requests: SampleRequest[], output: "float"): Promise<EngineBatch<EngineFloatSample>>;
  generate(
    requests: SampleRequest[],
    output: PixelOutput,
  ): Promise<EngineBatch<EngineSample | EngineFloatSample>>;
  generate(
    requests: SampleRequest[],
    output: PixelOutput = "rgb",
  ): Promise<EngineBatch<EngineSample | EngineFloatSample>> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new LatentFleetError("ENGINE_CLOSED", "the engine is closed"));
    const id = this.nextId++;
    return new Promise<EngineBatch<EngineSample | EngineFloatSample>>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const msg: EngineRequest = { type: "generate", id, requests, output };
      this.thread.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A thread that died already has nothing to close, and will not exit again.
    if (this.exited) return;
    const done = new Promise<void>((resolve) => {
      this.thread.once("exit", () => resolve());
    });
    const msg: EngineRequest = { type: "close" };
    this.thread.postMessage(msg);
    const timer = setTimeout(() => void this.thread.terminate(), 10_000);
    await done;
    clearTimeout(timer);
    this.fail(new LatentFleetError("ENGINE_CLOSED", "the engine is closed"));
  }

  private onMessage(msg: EngineResponse): void {
    if (msg.type !== "result" && msg.type !== "error") return;
    if (msg.id === undefined) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.type === "result") p.resolve({ samples: msg.samples, timings: msg.timings });
    else p.reject(new LatentFleetError(msg.code, msg.message));
  }

  private fail(err: LatentFleetError): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
