/**
 * The live page's thumbnail thread (thumbnail-maker.ts): a PNG in, its small PNG out. Decoding a 1024x1024
 * PNG and scaling it takes some 50 ms, which on the coordinator's main thread would hold its publishing
 * and NATS traffic for each image of a page.
 */
import { parentPort } from "node:worker_threads";
import { thumbnailPng } from "./thumbnail.js";
import type { ThumbnailReply, ThumbnailRequest } from "./thumbnail-maker.js";

const port = parentPort;
if (!port) throw new Error("thumbnail-thread must run as a worker thread");

port.on("message", (msg: ThumbnailRequest) => {
  let reply: ThumbnailReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const small = thumbnailPng(Buffer.from(msg.png.buffer, msg.png.byteOffset, msg.png.byteLength), msg.size);
    const bytes = Uint8Array.from(small);
    reply = { id: msg.id, png: bytes };
    transfer = [bytes.buffer as ArrayBuffer];
  } catch (err) {
    reply = { id: msg.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply, transfer);
});
