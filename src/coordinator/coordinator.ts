/**
 * The coordinator process: NATS topology, the unfinished jobs found in KV (resumed), the results fold,
 * the dead-letter handler, and the gRPC service with health and reflection.
 */
import { type GrpcServerHandle, startGrpcServer } from "../common/grpc/server.js";
import type { GrpcServerTls } from "../common/grpc/tls.js";
import { createLogger, type Logger } from "../common/log.js";
import { type MetricsServer, parseListenAddress, startMetricsServer } from "../common/metrics.js";
import {
  connectJetStream,
  ensureTopology,
  PublishPipe,
  retryNatsWrite,
  type TopologyOptions,
  warnOnRetry,
} from "../common/nats/index.js";
import { type NatsAuthOptions, redactUrl } from "../common/nats/security.js";
import { COORDINATOR_OPTIONS } from "../common/options/index.js";
import { startDeadLetterLoop } from "./dead-letter-loop.js";
import { FairQueue, type FairQueueOptions } from "./fair-queue.js";
import { coordinatorService } from "./grpc-service.js";
import { JobManager, type SubmitRequest } from "./job-manager.js";
import type { JobSnapshot } from "./job-snapshot.js";
import { isFinalState, JobStore, type JobStoreOptions } from "./job-store.js";
import { CoordinatorMetrics } from "./metrics.js";
import { PathPolicy } from "./path-policy.js";
import { DEFAULT_CURSOR_INTERVAL_MS } from "./publisher.js";
import { type Loop, startResultsLoop } from "./results-loop.js";
import { DEFAULT_SHARD_SIZE } from "./sharder.js";
import { startUiServer, type UiOptions, type UiServer } from "./ui/server.js";

export const DEFAULT_GRPC_ADDRESS: string = COORDINATOR_OPTIONS.grpc.default;

export interface CoordinatorOptions {
  /** NATS server(s), comma-separated. */
  natsUrl: string;
  /** NATS credentials and TLS (credentials in natsUrl work too). */
  natsAuth?: NatsAuthOptions;
  /** How long the first connect waits for a NATS server that does not listen yet (default 0). */
  natsConnectWaitMs?: number;
  /** Where to serve gRPC (HOST:PORT; port 0 picks a free one); no gRPC server when omitted. */
  grpcAddress?: string;
  /** Serve gRPC over TLS (mutual with a client CA); plaintext when omitted. */
  grpcTls?: GrpcServerTls;
  /** Where to serve Prometheus metrics at /metrics (HOST:PORT; port 0 picks a free one); none when omitted. */
  metricsAddress?: string;
  /** Serve the live job page (ui/server.ts); none when omitted. */
  ui?: Omit<UiOptions, "log">;
  /** Most samples per task (default DEFAULT_SHARD_SIZE, the --shard-size default). */
  shardSize?: number;
  /**
   * Folders a submission may read prompt files and specs from (those not sent with it) and write its output
   * into; anything else is refused with PATH_NOT_ALLOWED. Default: no restriction (the CLI passes its
   * working folder unless told otherwise).
   */
  allowedPaths?: string[];
  /** Most task publishes awaiting the stream's ack, per job (default: the --max-in-flight default). */
  maxInFlight?: number;
  /** Least time between two writes of a job's publishing cursor (default DEFAULT_CURSOR_INTERVAL_MS). */
  cursorIntervalMs?: number;
  /** How long the job store's writes and reads wait out a bucket without a leader (default: JobStore's). */
  storeRetry?: Pick<JobStoreOptions, "retry" | "readRetry">;
  /** Stream and bucket settings (replicas for a cluster, windows). */
  topology?: TopologyOptions;
  /** NATS client name (default "latent-fleet-coordinator"). */
  name?: string;
  log?: Logger;
  /** Least time between two WatchJob updates (default 250 ms). */
  watchIntervalMs?: number;
  /**
   * Jobs take turns queueing their tasks, a short queue per model (fair-queue.ts; default on). Off: each
   * job publishes all of its tasks as fast as it can, and jobs run in submission order.
   */
  fairShare?: boolean | Omit<FairQueueOptions, "jsm" | "log">;
}

export interface RunningCoordinator {
  /** The bound gRPC port (when grpcAddress was given). */
  readonly grpcPort: number | null;
  /** The bound metrics port (when metricsAddress was given). */
  readonly metricsPort: number | null;
  /** The live job page's URL (when ui was given). */
  readonly uiUrl: string | null;
  /** Validates and starts a job; returns its id (SPEC_INVALID when the spec is bad: nothing started). */
  submit(req: SubmitRequest): Promise<string>;
  getJob(jobId: string): Promise<JobSnapshot>;
  listJobs(): Promise<JobSnapshot[]>;
  cancelJob(jobId: string): Promise<JobSnapshot>;
  /** Resolves with the job's snapshot once it is in a final state. */
  waitForJob(jobId: string, opts?: { timeoutMs?: number; pollMs?: number }): Promise<JobSnapshot>;
  /**
   * Stops serving and publishing, and closes the NATS connection. Job states are left as they are: the
   * next coordinator resumes them from KV.
   */
  stop(): Promise<void>;
}

export async function startCoordinator(opts: CoordinatorOptions): Promise<RunningCoordinator> {
  const log = opts.log ?? createLogger({ component: "coordinator" });
  // A bad address fails before anything connects.
  if (opts.metricsAddress !== undefined) parseListenAddress(opts.metricsAddress);
  if (opts.ui) parseListenAddress(opts.ui.address, "--ui");
  const { nc, js, jsm } = await connectJetStream(opts.natsUrl, opts.name ?? "latent-fleet-coordinator", {
    auth: opts.natsAuth,
    firstConnectWaitMs: opts.natsConnectWaitMs,
  });
  log.debug("nats connected", { process_ms: Math.round(performance.now()) });
  const pipe = new PublishPipe(nc);
  const loops: Loop[] = [];
  let grpc: GrpcServerHandle | null = null;
  let manager: JobManager | null = null;
  let metricsServer: MetricsServer | null = null;
  let ui: UiServer | null = null;
  const fairQueue =
    opts.fairShare === false
      ? undefined
      : // The coordinator's own manager (5 s timeout). One with a 1 s timeout left a second job without a
        // turn for 90 s in a full test run (the live-page test's webdataset job): likely every read timed out
        // behind a busy event loop (the timer runs before the answer is read), so the count never fell.
        new FairQueue({ jsm, log, ...(typeof opts.fairShare === "object" ? opts.fairShare : {}) });
  const shutdown = async () => {
    fairQueue?.stop();
    await grpc?.stop(2_000);
    for (const loop of loops.splice(0)) await loop.stop();
    await manager?.stop();
    await metricsServer?.stop();
    await ui?.stop();
    pipe.close();
    await nc.close().catch(() => undefined);
  };
  try {
    // Creates or updates only, so a JetStream that does not answer yet (a cluster electing its leaders
    // while the fleet starts) is asked again rather than ending the start.
    const { jobs } = await retryNatsWrite(() => ensureTopology(js, jsm, opts.topology), {
      onRetry: warnOnRetry(log, "NATS did not answer the coordinator's setup; retrying"),
    });
    const store = new JobStore(jobs, { ...opts.storeRetry, log });
    let metrics: CoordinatorMetrics | undefined;
    if (opts.metricsAddress !== undefined) {
      metrics = new CoordinatorMetrics({ jobs: () => manager?.recentJobs() ?? [], jsm, log });
    }
    const mx = metrics;
    manager = new JobManager(
      {
        js,
        pipe,
        store,
        log,
        windowSize: opts.maxInFlight ?? COORDINATOR_OPTIONS.maxInFlight.default,
        cursorIntervalMs: opts.cursorIntervalMs ?? DEFAULT_CURSOR_INTERVAL_MS,
        onTaskPublished: mx && ((model) => mx.taskPublished(model)),
        onJobEnded: mx && ((job) => mx.jobEnded(job)),
        fairQueue,
      },
      jsm,
      opts.shardSize ?? DEFAULT_SHARD_SIZE,
      opts.allowedPaths === undefined ? PathPolicy.unrestricted() : PathPolicy.confinedTo(opts.allowedPaths),
    );
    const m = manager;
    const fromSeq = await m.resumeAll();
    loops.push(await startResultsLoop(js, fromSeq, (r, origin) => m.route(r, origin), log));
    loops.push(await startDeadLetterLoop(js, jsm, log, mx && ((task) => mx.taskDeadLettered(task.model))));
    if (opts.grpcAddress !== undefined) {
      grpc = await startGrpcServer(
        opts.grpcAddress,
        [coordinatorService(m, { log, watchIntervalMs: opts.watchIntervalMs })],
        "coordinator",
        opts.grpcTls,
      );
    }
    if (mx && opts.metricsAddress !== undefined) {
      metricsServer = await startMetricsServer(opts.metricsAddress, mx.registry, log);
    }
    if (opts.ui) ui = await startUiServer(m, { ...opts.ui, log });
    log.info("coordinator started", {
      nats: redactUrl(opts.natsUrl),
      ...(grpc ? { grpc: opts.grpcAddress, port: grpc.port } : {}),
      ...(metricsServer ? { metrics: metricsServer.address } : {}),
      ...(ui ? { ui: ui.url } : {}),
    });
  } catch (err) {
    await shutdown();
    throw err;
  }
  const m = manager;
  let stopping: Promise<void> | null = null;
  return {
    grpcPort: grpc?.port ?? null,
    metricsPort: metricsServer?.port ?? null,
    uiUrl: ui?.url ?? null,
    submit: (req) => m.submit(req),
    getJob: (id) => m.get(id),
    listJobs: () => m.list(),
    cancelJob: (id) => m.cancel(id),
    async waitForJob(id, o = {}) {
      const deadline = Date.now() + (o.timeoutMs ?? Number.POSITIVE_INFINITY);
      for (;;) {
        const snap = await m.get(id);
        if (isFinalState(snap.state)) return snap;
        if (Date.now() > deadline)
          throw new Error(`job ${id} is still ${snap.state} after ${o.timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, o.pollMs ?? 200);
          // A job notifies on every result folded: wake only for the end (or once it is no longer run here).
          const unsubscribe = m.subscribe(id, () => {
            const state = m.liveState(id);
            if (state === undefined || isFinalState(state)) done();
          });
          function done() {
            clearTimeout(timer);
            unsubscribe?.();
            resolve();
          }
        });
      }
    },
    stop() {
      stopping ??= (async () => {
        log.info("coordinator stopping");
        await shutdown();
      })();
      return stopping;
    },
  };
}
