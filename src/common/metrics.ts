/**
 * Prometheus metrics shared by every process: a Registry of its own (never prom-client's global one, so
 * several coordinators and workers can share one process, as tests do) with the process metrics, and a
 * small HTTP server for `GET /metrics`.
 *
 * Naming: one prefix, `latent_fleet_`; base units (`_seconds`, `_bytes`, `_ratio` in 0..1); counters end in
 * `_total`; labels take bounded values only (never a prompt or a sample id).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { collectDefaultMetrics, Registry } from "prom-client";
import { LatentFleetError } from "./errors.js";
import { closeHttpServer, listenHttp } from "./http-listen.js";
import { errorMessage, type Logger, silentLogger } from "./log.js";

export const METRIC_PREFIX = "latent_fleet_";

/**
 * How often the event-loop delay histogram samples, ms. prom-client's 10 ms wakes the process 100 times a
 * second, about 4 to 8 ms of CPU each second in each coordinator and worker, and preempts the engine's
 * threads every time on a machine whose cores they fill; 100 ms costs a fraction of that and still sees any
 * stall that holds up in-progress acks or gRPC calls.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** A registry with the process metrics (CPU, memory, event loop lag, GC) under the prefix. */
export function createMetricsRegistry(defaultLabels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(defaultLabels);
  collectDefaultMetrics({
    register: registry,
    prefix: METRIC_PREFIX,
    eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
  });
  return registry;
}

/** "HOST:PORT" ("[::1]:9464" for IPv6; port 0: a free one). */
export function parseListenAddress(address: string, option = "--metrics"): { host: string; port: number } {
  const at = address.lastIndexOf(":");
  const host = (at < 0 ? "" : address.slice(0, at)).replace(/^\[(.*)\]$/, "$1");
  const portText = address.slice(at + 1);
  const port = Number(portText);
  if (at < 0 || host === "" || !/^\d+$/.test(portText) || port > 65_535) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `${option} must be HOST:PORT (e.g. 0.0.0.0:9464; port 0 picks a free one), got ${JSON.stringify(address)}`,
    );
  }
  return { host, port };
}

export interface MetricsServer {
  /** The bound port (the chosen one when 0 was asked for). */
  readonly port: number;
  /** HOST:PORT as bound, for a scrape config. */
  readonly address: string;
  stop(): Promise<void>;
}

/** Serves `registry` at http://HOST:PORT/metrics in the Prometheus text format. */
export async function startMetricsServer(
  address: string,
  registry: Registry,
  log: Logger = silentLogger,
): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(address);
  const server = createServer((req, res) => {
    void serve(registry, req, res, log);
  });
  const bound = await listenHttp(server, host, port, "metrics", address);
  let stopping: Promise<void> | undefined;
  return {
    port: bound.port,
    address: bound.hostPort,
    stop() {
      stopping ??= closeHttpServer(server);
      return stopping;
    },
  };
}

async function serve(registry: Registry, req: IncomingMessage, res: ServerResponse, log: Logger) {
  const path = (req.url ?? "/").split("?")[0];
  if (path !== "/metrics") {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found: try /metrics\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { "content-type": registry.contentType });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch (err) {
    log.warn("cannot collect metrics", { error: errorMessage(err) });
    res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`${errorMessage(err)}\n`);
  }
}
