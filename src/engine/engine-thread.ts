/**
 * The engine thread: owns the ONNX Runtime sessions, whose run() blocks its thread for a whole call,
 * so the process's main thread stays free for NATS acks, gRPC and /metrics. Requests run one at a time.
 */
import { parentPort } from "node:worker_threads";
import { isLatentFleetError } from "../common/errors.js";
import type { EngineRequest, EngineResponse } from "./engine-protocol.js";
import { DiffusionPipeline } from "./pipeline.js";

const port = parentPort;
if (!port) throw new Error("engine-thread must run as a worker thread");

let pipeline: DiffusionPipeline | undefined;
let queue: Promise<void> = Promise.resolve();

function reply(message: EngineResponse, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

function failure(err: unknown, id?: number): EngineResponse {
  if (isLatentFleetError(err)) return { type: "error", id, code: err.code, message: err.message };
  return {
    type: "error",
    id,
    code: "ENGINE_FAILED",
    message: err instanceof Error ? err.message : String(err),
  };
}

async function handle(msg: EngineRequest): Promise<void> {
  switch (msg.type) {
    case "load":
      try {
        pipeline = await DiffusionPipeline.load(msg.modelDir, msg.device, {
          intraOpThreads: msg.intraOpThreads,
          spinning: msg.spinning,
        });
        reply({ type: "loaded", model: pipeline.describe() });
      } catch (err) {
        reply(failure(err));
      }
      return;
    case "generate":
      try {
        if (!pipeline) throw new Error("no model loaded");
        const result = await pipeline.generate(msg.requests, msg.output);
        reply(
          { type: "result", id: msg.id, samples: result.samples, timings: result.timings },
          result.samples.map((s) => ("rgb" in s ? s.rgb.buffer : s.pixels.buffer) as ArrayBuffer),
        );
      } catch (err) {
        reply(failure(err, msg.id));
      }
      return;
    case "close":
      await pipeline?.release();
      pipeline = undefined;
      reply({ type: "closed" });
      port?.close();
      return;
  }
}

port.on("message", (msg: EngineRequest) => {
  queue = queue.then(() => handle(msg));
});
// Sent once the imports above (ONNX Runtime's native addon among them) have loaded: until then, ending
// the thread can abort the process (src/engine/engine-host.ts, releaseEarlyEngineThread).
reply({ type: "ready" });
