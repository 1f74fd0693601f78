/**
 * A three-node nats-server cluster on this machine's loopback for bench/dispatch --replicas: each node its
 * own client and route port and its own store, routes to the other two, one cluster name. The same layout
 * as the cluster tests (test/helpers/nats-cluster.ts), without the network namespaces.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { freePort } from "../../src/common/child-process.js";
import { type EmbeddedNatsServer, startEmbeddedNatsServer } from "../../src/common/nats/embedded-server.js";

export interface LoopbackCluster {
  nodes: EmbeddedNatsServer[];
  /** All three client URLs, comma-separated. */
  urls: string;
  stop(): Promise<void>;
}

export async function startLoopbackCluster(bin: string, dir: string): Promise<LoopbackCluster> {
  const host = "127.0.0.1";
  const ports: { client: number; route: number }[] = [];
  for (let i = 0; i < 3; i++) ports.push({ client: await freePort(host), route: await freePort(host) });
  const nodes: EmbeddedNatsServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
  };
  try {
    const started = await Promise.all(
      ports.map((p, i) => {
        const nodeDir = join(dir, `n${i + 1}`);
        mkdirSync(nodeDir, { recursive: true });
        const routes = ports.filter((q) => q !== p).map((q) => `"nats-route://${host}:${q.route}"`);
        const config = join(nodeDir, "cluster.conf");
        writeFileSync(
          config,
          `server_name: "n${i + 1}"\ncluster { name: "lf-bench", listen: "${host}:${p.route}", routes: [${routes.join(", ")}] }\n`,
        );
        return startEmbeddedNatsServer({
          bin,
          storeDir: join(nodeDir, "store"),
          host,
          port: p.client,
          configFile: config,
          startTimeoutMs: 20_000,
        }).then((n) => {
          nodes.push(n);
          return n;
        });
      }),
    );
    return { nodes: started, urls: started.map((n) => n.url).join(","), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A JetStream manager once the cluster has elected its meta leader (bounded: 60 s). */
export async function clusterJetStream(nc: NatsConnection): Promise<JetStreamManager> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      await jsm.getAccountInfo();
      return jsm;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}
