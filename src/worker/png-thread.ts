/**
 * A PNG encoder thread of the pool in png-pool.ts: RGB (or the VAE's floats, made into RGB here) in, PNG
 * out (its buffer transferred back), so that large images are encoded off the worker's main thread, which
 * keeps NATS acks and gRPC answering, and off the engine thread, which goes on with the next batch.
 */
import { parentPort } from "node:worker_threads";
import { encodePngImage, type PngReply, type PngRequest } from "./png-pool.js";

const port = parentPort;
if (!port) throw new Error("png-thread must run as a worker thread");

port.on("message", (msg: PngRequest) => {
  let reply: PngReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const { png, crc32, seconds, nanPixels } = encodePngImage(msg, msg.level);
    // The encoder's output owns its whole buffer, so transferring it moves nothing else.
    const own = png.byteOffset === 0 && png.byteLength === png.buffer.byteLength;
    const bytes = own ? png : Uint8Array.from(png);
    reply = { id: msg.id, png: bytes, crc32, seconds, nanPixels };
    transfer = [bytes.buffer as ArrayBuffer];
  } catch (err) {
    reply = { id: msg.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply, transfer);
});
