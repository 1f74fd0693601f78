/**
 * A three-node NATS JetStream cluster and a fleet spread over test hosts (network namespaces on one
 * switch, TestLan in test/chaos/netns.ts): nats-server 2.9 on hosts n1..n3 (routes to the other two, one
 * cluster name, each its own store and monitoring port), the `latent-fleet coordinator` on a host of its
 * own, workers on more hosts, every client given all three URLs. Streams and the job bucket are made at
 * --replicas 3. `stop()` ends every process; the caller removes the LAN and the folder.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { CoordinatorClient } from "../../src/cli/coordinator-client.js";
import { type EmbeddedNatsServer, startEmbeddedNatsServer } from "../../src/common/nats/embedded-server.js";
import { findNatsServer } from "../../src/common/nats/server-binary.js";
import type { Job } from "../../src/common/proto/generated/latentfleet/v1/Job.js";
import type { LanHost, TestLan } from "../chaos/netns.js";
import { type CliProcess, startCli, stopAll } from "./cli-processes.js";
import { CoordinatorProcess } from "./coordinator-process.js";
import { waitForJobEnd } from "./job-end.js";
import { TINY_SHAPES } from "./paths.js";

const CLIENT_PORT = 4222;
const ROUTE_PORT = 6222;
const MONITOR_PORT = 8222;
const GRPC_PORT = 50051;
const CLUSTER_NAME = "lf-test";

export interface ClusterNode {
  readonly name: string;
  readonly host: LanHost;
  readonly server: EmbeddedNatsServer;
}

export interface ClusterFleetOptions {
  lan: TestLan;
  /** A fresh folder: stores, the coordinator's working folder, specs and outputs. */
  root: string;
  /** Hosts of the three nats-server nodes. */
  natsHosts: [LanHost, LanHost, LanHost];
  coordinatorFlags?: string[];
  workerFlags?: string[];
  /** Environment of the coordinator and workers (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

export class ClusterFleet {
  readonly processes: CliProcess[] = [];
  readonly workers = new Map<string, CliProcess>();
  coordinatorHost: LanHost | undefined;
  private readonly coord = new CoordinatorProcess();
  private monitor: { nc: NatsConnection; jsm: JetStreamManager } | undefined;

  private constructor(
    readonly opts: ClusterFleetOptions,
    readonly nodes: ClusterNode[],
  ) {}

  /** Starts the three nodes (each waits for its client port; the cluster forms behind them). */
  static async start(opts: ClusterFleetOptions): Promise<ClusterFleet> {
    await mkdir(opts.root, { recursive: true });
    const bin = findNatsServer(process.env.LF_NATS_SERVER_BIN);
    const nodes: ClusterNode[] = [];
    const fleet = new ClusterFleet(opts, nodes);
    try {
      await Promise.all(
        opts.natsHosts.map(async (host, i) => {
          const name = `n${i + 1}`;
          const dir = join(opts.root, name);
          await mkdir(dir, { recursive: true });
          const routes = opts.natsHosts
            .filter((h) => h !== host)
            .map((h) => `"nats-route://${h.address}:${ROUTE_PORT}"`);
          const config = join(dir, "cluster.conf");
          await writeFile(
            config,
            [
              `server_name: "${name}"`,
              `http: "${host.address}:${MONITOR_PORT}"`,
              `cluster { name: "${CLUSTER_NAME}", listen: "${host.address}:${ROUTE_PORT}", routes: [${routes.join(", ")}] }`,
              "",
            ].join("\n"),
          );
          // nats-server on its host: a wrapper that execs it there (same pid, so its ports file is found).
          const wrapper = join(dir, "nats-on-host.sh");
          await writeFile(
            wrapper,
            `#!/bin/sh\nexec ${host.exec.map((a) => `'${a}'`).join(" ")} '${bin}' "$@"\n`,
          );
          await chmod(wrapper, 0o755);
          const server = await startEmbeddedNatsServer({
            bin: wrapper,
            storeDir: join(dir, "store"),
            host: host.address,
            port: CLIENT_PORT,
            configFile: config,
            startTimeoutMs: 20_000,
          });
          nodes[i] = { name, host, server };
        }),
      );
    } catch (err) {
      await fleet.stop();
      throw err;
    }
    return fleet;
  }

  /** All three client URLs, comma-separated (what every client is given). */
  get natsUrls(): string {
    return this.opts.natsHosts.map((h) => `nats://${h.address}:${CLIENT_PORT}`).join(",");
  }

  node(name: string): ClusterNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** A JetStream manager of this process (all three URLs), for asking who leads what. */
  async jsm(): Promise<JetStreamManager> {
    if (!this.monitor) {
      const nc = await connect({
        servers: this.natsUrls.split(","),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        name: "cluster-test-monitor",
      });
      this.monitor = { nc, jsm: await jetstreamManager(nc, { timeout: 5_000 }) };
    }
    return this.monitor.jsm;
  }

  /** The server name of the stream's Raft leader (STREAM.INFO cluster.leader); undefined while none. */
  async leaderOf(stream: string): Promise<string | undefined> {
    try {
      return (await (await this.jsm()).streams.info(stream)).cluster?.leader || undefined;
    } catch {
      return undefined;
    }
  }

  /** Waits (bounded) until the stream has a leader, and every replica is current; returns the leader. */
  async settledLeader(stream: string, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const info = await (await this.jsm()).streams.info(stream);
        const replicas = info.cluster?.replicas ?? [];
        const leader = info.cluster?.leader;
        if (leader && replicas.length === 2 && replicas.every((r) => r.current && !r.offline)) return leader;
      } catch {
        // No leader yet: the API does not answer.
      }
      if (Date.now() > deadline) throw new Error(`${stream} has no settled leader after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** The running coordinator; undefined after a kill. */
  get coordinator(): CliProcess | undefined {
    return this.coord.process;
  }

  async startCoordinator(host: LanHost): Promise<CliProcess> {
    const address = `${host.address}:${GRPC_PORT}`;
    this.coordinatorHost = host;
    return this.coord.start(
      address,
      () =>
        this.track(
          startCli(
            `coordinator@${host.name}`,
            [
              "coordinator",
              ...["--nats", this.natsUrls, "--grpc", address, "--replicas", "3"],
              ...(this.opts.coordinatorFlags ?? []),
            ],
            // Its working folder is the folder it may read specs from and write outputs to.
            { cwd: this.opts.root, env: this.opts.env, wrap: host.exec },
          ),
        ),
      (p) => p.waitForOutput(/"msg":"coordinator started"/, 60_000),
    );
  }

  killCoordinator(): Promise<void> {
    return this.coord.kill();
  }

  /** Starts worker `id` on `host` and waits until it pulls. */
  async startWorker(id: string, host: LanHost): Promise<CliProcess> {
    const p = this.track(
      startCli(
        id,
        [
          "worker",
          ...["--nats", this.natsUrls, "--model", TINY_SHAPES, "--worker-id", id, "--replicas", "3"],
          ...["--threads", "1", "--batch-size", "8"],
          ...(this.opts.workerFlags ?? []),
        ],
        { env: this.opts.env, wrap: host.exec },
      ),
    );
    this.workers.set(id, p);
    await p.waitForOutput(/"msg":"worker started"/, 60_000);
    return p;
  }

  /** A client of the coordinator where it runs now. */
  client(): Promise<CoordinatorClient> {
    return this.coord.client();
  }

  /** The job's snapshot; undefined while the coordinator does not answer. */
  getJob(jobId: string): Promise<Job | undefined> {
    return this.coord.getJob(jobId);
  }

  /** Waits for the job's final state; throws with the processes' log tails after `timeoutMs`. */
  waitForEnd(jobId: string, timeoutMs: number): Promise<Job> {
    return waitForJobEnd((id) => this.getJob(id), this.processes, jobId, timeoutMs, 250);
  }

  /** Everything down: processes (SIGTERM, then SIGKILL), the clients, the nodes. Safe to call twice. */
  async stop(): Promise<void> {
    this.coord.close();
    await this.monitor?.nc.close().catch(() => undefined);
    this.monitor = undefined;
    await stopAll(this.processes, 10_000);
    await Promise.all(this.nodes.filter(Boolean).map((n) => n.server.stop().catch(() => undefined)));
    const keep = process.env.LF_CLUSTER_LOGS;
    if (keep) {
      // For a look at what happened: every process's output, one file each.
      await mkdir(keep, { recursive: true });
      let n = 0;
      for (const p of this.processes) await writeFile(join(keep, `${++n}-${p.name}.log`), p.output());
      for (const node of this.nodes.filter(Boolean))
        await writeFile(join(keep, `nats-${node.name}.log`), node.server.logTail());
    }
  }

  private track(p: CliProcess): CliProcess {
    this.processes.push(p);
    return p;
  }
}
