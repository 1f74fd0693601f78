/**
 * The loopback ports `run` hands out before anything listens on them (nats-server, metrics, the live
 * page), each chosen free and never twice.
 */
import { freePort } from "../../common/child-process.js";

/** nats-server could not listen: another program took its port between its choice and the server's start. */
export function portTaken(err: unknown): boolean {
  return err instanceof Error && err.message.includes("address already in use");
}

/** A free loopback port, none of `taken` (chosen for something that does not listen yet). */
export async function freePortExcept(taken: readonly number[]): Promise<number> {
  let port = await freePort("127.0.0.1");
  while (taken.includes(port)) port = await freePort("127.0.0.1");
  return port;
}

/** Loopback metrics addresses: the coordinator's, then each worker's; undefined with --no-metrics. */
export async function metricsAddresses(
  opts: { metrics: boolean; workers: number; metricsPort?: number },
  taken: number[],
): Promise<string[] | undefined> {
  if (!opts.metrics) return undefined;
  const count = opts.workers + 1;
  const first = opts.metricsPort;
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    // A free port is free only until it is taken: never hand out one twice, nor the gRPC one.
    let port = first === undefined ? await freePort("127.0.0.1") : first + i;
    while (first === undefined && (ports.includes(port) || taken.includes(port))) {
      port = await freePort("127.0.0.1");
    }
    ports.push(port);
  }
  return ports.map((p) => `127.0.0.1:${p}`);
}

/** The live page's loopback address (read-only: `run` gives it no token); undefined with --no-ui. */
export async function uiAddressOf(
  opts: { ui: boolean; uiPort?: number },
  taken: number[],
): Promise<string | undefined> {
  if (!opts.ui) return undefined;
  let port = opts.uiPort ?? (await freePort("127.0.0.1"));
  while (opts.uiPort === undefined && taken.includes(port)) port = await freePort("127.0.0.1");
  return `127.0.0.1:${port}`;
}

export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}
