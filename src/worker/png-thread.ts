/**
 * A PNG encoder thread of the pool in png-pool.ts: RGB in, PNG out (its buffer transferred back), so that
 * large images are encoded off the worker's main thread, which keeps NATS acks and gRPC answering.
 */
import { performance } from "node:perf_hooks";
import { parentPort } from "node:worker_threads";
import { encodeRgbPngWithCrc } from "../engine/png-encode.js";
import type { PngReply, PngRequest } from "./png-pool.js";

const port = parentPort;
if (!port) throw new Error("png-thread must run as a worker thread");

port.on("message", (msg: PngRequest) => {
  const t0 = performance.now();
  let reply: PngReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const { png, crc32 } = encodeRgbPngWithCrc(msg.rgb, msg.width, msg.height, { level: msg.level });
    // The encoder's output owns its whole buffer, so transferring it moves nothing else.
    const own = png.byteOffset === 0 && png.byteLength === png.buffer.byteLength;
    const bytes = own ? png : Uint8Array.from(png);
    reply = { id: msg.id, png: bytes, crc32, seconds: (performance.now() - t0) / 1000 };
    transfer = [bytes.buffer as ArrayBuffer];
  } catch (err) {
    reply = { id: msg.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply, transfer);
});
