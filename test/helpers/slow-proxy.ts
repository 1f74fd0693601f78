/**
 * A TCP proxy on loopback that forwards to `target` and slows what clients send to `bytesPerSecond`, so
 * that a test can catch an upload in the middle (and count how much of it went through). Replies pass at
 * full speed.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface SlowProxy {
  readonly port: number;
  /** Bytes clients have sent through so far. */
  readonly sent: number;
  close(): Promise<void>;
}

export async function startSlowProxy(targetPort: number, bytesPerSecond: number): Promise<SlowProxy> {
  let sent = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    // Forward in slices, pausing the client between them, at the given rate.
    const slice = Math.max(1024, Math.floor(bytesPerSecond / 20));
    client.on("data", (chunk: Buffer) => {
      client.pause();
      let at = 0;
      const step = () => {
        if (upstream.destroyed) return;
        const part = chunk.subarray(at, at + slice);
        at += part.length;
        sent += part.length;
        upstream.write(part);
        if (at < chunk.length) setTimeout(step, (part.length / bytesPerSecond) * 1000);
        else setTimeout(() => client.resume(), (part.length / bytesPerSecond) * 1000);
      };
      step();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no port");
  return {
    port: address.port,
    get sent() {
      return sent;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
