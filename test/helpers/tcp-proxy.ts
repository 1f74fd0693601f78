/**
 * A TCP proxy on a loopback port in front of a server, whose link can be cut and restored: while cut,
 * nothing passes either way and what is sent piles up in the sockets' buffers, then flows once restored,
 * as after a pulled cable or a network partition (no reset, no disconnect the client could notice).
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  readonly cut: boolean;
  /** Stops every byte, both ways, on every connection (new ones too) until restore(). */
  cutLink(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let cut = false;
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(targetPort, targetHost);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    // Plain forwarding, not pipe(): pipe() resumes a paused source when the destination drains.
    client.on("data", (chunk: Buffer) => upstream.write(chunk));
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    if (cut) for (const s of pair) s.pause();
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no port");
  return {
    port: address.port,
    url: `nats://127.0.0.1:${address.port}`,
    get cut() {
      return cut;
    },
    cutLink() {
      cut = true;
      // A paused socket is not read: data stays in the kernel's buffers, on neither side delivered.
      for (const pair of pairs) for (const s of pair) s.pause();
    },
    restore() {
      cut = false;
      for (const pair of pairs) for (const s of pair) s.resume();
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
