/**
 * Server-sent events to the open pages: one stream each, a `retry` so that a browser reconnects within a
 * second of losing the coordinator (a restart), a comment now and then to keep proxies from closing it.
 */
import type { ServerResponse } from "node:http";

const RECONNECT_MS = 1000;
const KEEPALIVE_MS = 15_000;
/** Open streams at most; more are refused (the page falls back to its reconnect). */
const MAX_CLIENTS = 256;

export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;

  constructor() {
    this.keepalive = setInterval(() => {
      for (const c of this.clients) c.write(": keepalive\n\n");
    }, KEEPALIVE_MS);
    this.keepalive.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes the response over as an event stream; false when there are too many already. */
  add(res: ServerResponse, first: { event: string; data: unknown }): boolean {
    if (this.clients.size >= MAX_CLIENTS) return false;
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
    });
    res.write(`retry: ${RECONNECT_MS}\n\n`);
    res.write(frame(first.event, first.data));
    this.clients.add(res);
    res.on("close", () => this.clients.delete(res));
    return true;
  }

  send(event: string, data: unknown): void {
    const text = frame(event, data);
    for (const c of this.clients) c.write(text);
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
