/**
 * A fleet for the chaos suite, as separate processes: nats-server (file storage in a folder of its own),
 * `latent-fleet coordinator`, `latent-fleet worker` processes, and a gRPC client. On the local host, or with
 * NATS and each worker on a test host of its own (network namespaces, see netns.ts).
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CoordinatorClient, isFinalJobState } from "../../src/cli/coordinator-client.js";
import { freePort } from "../../src/common/child-process.js";
import { type EmbeddedNatsServer, startEmbeddedNatsServer } from "../../src/common/nats/embedded-server.js";
import { findNatsServer } from "../../src/common/nats/server-binary.js";
import type { Job } from "../../src/common/proto/generated/latentfleet/v1/Job.js";
import { type CliProcess, startCli, stopAll, waitUntilServing } from "../helpers/cli-processes.js";
import { CoordinatorProcess } from "../helpers/coordinator-process.js";
import { waitForJobEnd } from "../helpers/job-end.js";
import { TINY_SHAPES } from "../helpers/paths.js";
import { waitFor } from "../helpers/worker-fixtures.js";
import type { TestHost, TestNetwork } from "./netns.js";

export interface FleetOptions {
  /** A fresh folder for the store, the coordinator's working folder, specs and outputs. */
  root: string;
  /** Place NATS and the workers on test hosts of this network; local processes when omitted. */
  network?: TestNetwork;
  coordinatorFlags?: string[];
  workerFlags?: string[];
  /** Environment of the workers (default: this process's). */
  workerEnv?: NodeJS.ProcessEnv;
}

const NS_NATS_PORT = 4222;

export class Fleet {
  readonly processes: CliProcess[] = [];
  readonly workers = new Map<string, CliProcess>();
  private readonly coord = new CoordinatorProcess();
  private readonly workerHosts = new Map<string, TestHost>();

  private constructor(
    readonly opts: FleetOptions,
    readonly nats: EmbeddedNatsServer,
    readonly coordinatorAddress: string,
  ) {}

  static async start(opts: FleetOptions): Promise<Fleet> {
    await mkdir(opts.root, { recursive: true });
    const storeDir = join(opts.root, "nats-store");
    const natsBin = findNatsServer(process.env.LF_NATS_SERVER_BIN);
    let nats: EmbeddedNatsServer;
    if (opts.network) {
      // nats-server on the NATS host: a wrapper that execs it there (same pid, so its ports file is found).
      const wrapper = join(opts.root, "nats-on-test-host.sh");
      const exec = opts.network.natsExec.map((a) => `'${a}'`).join(" ");
      await writeFile(wrapper, `#!/bin/sh\nexec ${exec} '${natsBin}' "$@"\n`);
      await chmod(wrapper, 0o755);
      nats = await startEmbeddedNatsServer({
        bin: wrapper,
        storeDir,
        host: "0.0.0.0",
        port: NS_NATS_PORT,
        startTimeoutMs: 20_000,
      });
    } else {
      nats = await startEmbeddedNatsServer({ bin: natsBin, storeDir, startTimeoutMs: 20_000 });
    }
    const address = `127.0.0.1:${await freePort("127.0.0.1")}`;
    return new Fleet(opts, nats, address);
  }

  /** The NATS URL for the coordinator (this host). */
  get natsUrl(): string {
    const net = this.opts.network;
    return net ? `nats://${net.natsFromRoot}:${NS_NATS_PORT}` : this.nats.url;
  }

  /** The running coordinator; undefined after a kill. */
  get coordinator(): CliProcess | undefined {
    return this.coord.process;
  }

  /** Starts the coordinator (again: same address, same working folder) and waits until it serves. */
  startCoordinator(): Promise<CliProcess> {
    const port = Number(this.coordinatorAddress.split(":")[1]);
    return this.coord.start(
      this.coordinatorAddress,
      () =>
        this.track(
          startCli(
            "coordinator",
            [
              "coordinator",
              ...["--nats", this.natsUrl, "--grpc", this.coordinatorAddress],
              ...(this.opts.coordinatorFlags ?? []),
            ],
            // Its working folder is the folder it may read specs from and write outputs to.
            { cwd: this.opts.root },
          ),
        ),
      (p) => waitUntilServing(p, port),
    );
  }

  killCoordinator(): Promise<void> {
    return this.coord.kill();
  }

  /** Starts a worker (on test host `host` when the fleet has a network) and waits until it pulls. */
  async startWorker(id: string, host?: TestHost): Promise<CliProcess> {
    const natsUrl = host ? `nats://${host.natsAddress}:${NS_NATS_PORT}` : this.nats.url;
    const p = this.track(
      startCli(
        id,
        [
          "worker",
          ...["--nats", natsUrl, "--model", TINY_SHAPES, "--worker-id", id],
          ...["--threads", "1", "--batch-size", "8"],
          ...(this.opts.workerFlags ?? []),
        ],
        { env: this.opts.workerEnv, ...(host ? { wrap: host.exec } : {}) },
      ),
    );
    this.workers.set(id, p);
    if (host) this.workerHosts.set(id, host);
    await p.waitForOutput(/"msg":"worker started"/, 60_000);
    return p;
  }

  /** Workers that have started pulling. */
  startedWorkers(): string[] {
    return [...this.workers]
      .filter(([, p]) => p.output().includes('"msg":"worker started"'))
      .map(([id]) => id);
  }

  /** The test host a worker runs on (fleets with a network). */
  hostOf(id: string): TestHost | undefined {
    return this.workerHosts.get(id);
  }

  /** SIGKILL; resolves with the worker's whole output, read to the end of its pipes. */
  async killWorker(id: string): Promise<string> {
    const p = this.workers.get(id);
    if (!p) throw new Error(`no worker ${id}`);
    const closed = new Promise((r) => p.child.once("close", r));
    p.child.kill("SIGKILL");
    await p.exited;
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
    this.workers.delete(id);
    return p.output();
  }

  /** Process ids of the coordinator and the workers (running or not). */
  pids(): number[] {
    return this.processes.map((p) => p.child.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** SIGTERM (drain) to every worker; SIGKILL after the grace period. */
  async stopWorkers(graceMs = 20_000): Promise<void> {
    const all = [...this.workers.values()];
    this.workers.clear();
    await stopAll(all, graceMs);
  }

  /** A client of the coordinator; a new one after the coordinator restarted. */
  client(): Promise<CoordinatorClient> {
    return this.coord.client();
  }

  /** The job's snapshot; undefined while the coordinator does not answer (restarting). */
  getJob(jobId: string): Promise<Job | undefined> {
    return this.coord.getJob(jobId);
  }

  /** Waits until the job has `samples` done or failed (or ended); false after `timeoutMs`. */
  async waitForProgress(jobId: string, samples: number, timeoutMs = 60_000): Promise<boolean> {
    return waitFor(async () => {
      const job = await this.getJob(jobId);
      if (!job) return false;
      return Number(job.samples_done) + Number(job.samples_failed) >= samples || isFinalJobState(job.state);
    }, timeoutMs);
  }

  /** Waits for the job's final state; throws with the processes' log tails after `timeoutMs`. */
  waitForEnd(jobId: string, timeoutMs: number): Promise<Job> {
    return waitForJobEnd((id) => this.getJob(id), this.processes, jobId, timeoutMs, 300);
  }

  /** Everything down: processes (SIGTERM, then SIGKILL), the client, nats-server. Safe to call twice. */
  async stop(): Promise<void> {
    this.coord.close();
    await stopAll(this.processes, 10_000);
    await this.nats.stop();
    const keep = process.env.LF_CHAOS_LOGS;
    if (keep) {
      // For a look at what happened: every process's output, one file each.
      await mkdir(keep, { recursive: true });
      let n = 0;
      for (const p of this.processes) await writeFile(join(keep, `${++n}-${p.name}.log`), p.output());
    }
  }

  private track(p: CliProcess): CliProcess {
    this.processes.push(p);
    return p;
  }
}

/** A seeded random stream (mulberry32): the same seed gives the same fault moments. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
