/**
 * A child process of bench/dispatch.ts running the real coordinator (startCoordinator), so that its CPU
 * time (process.cpuUsage) is the coordinator's alone. It runs one job at a time on request and reports
 * the job's wall time and the CPU spent from submit to the final state.
 */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createLogger } from "../../src/common/log.js";
import { type RunningCoordinator, startCoordinator } from "../../src/coordinator/index.js";
import {
  type CoordinatorReply,
  type CoordinatorRequest,
  CPU_PROFILE_DIR_ENV,
  countingLogSink,
} from "./protocol.js";

const natsUrl = process.argv[2];
/** Replicas of the streams and bucket it creates (a cluster); the topology's default when absent. */
const replicas = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
const logSink = countingLogSink();
const profileDir = process.env[CPU_PROFILE_DIR_ENV];

/** A V8 CPU profile of this process while `run` runs, written to `path`. */
async function profiled<T>(path: string, run: () => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  try {
    return await run();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    await writeFile(path, JSON.stringify(profile));
  }
}

function reply(msg: CoordinatorReply, then?: () => void): void {
  process.send?.(msg, () => then?.());
}

async function runJob(
  coordinator: RunningCoordinator,
  req: Extract<CoordinatorRequest, { type: "job" }>,
): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const job = async () => {
    const jobId = await coordinator.submit({ spec: req.spec, shardSize: req.shardSize });
    // The job's end wakes waitForJob at once (it listens to the job); the poll is a fallback, rare enough
    // that the harness's own reads stay out of the coordinator's CPU figure.
    const snap = await coordinator.waitForJob(jobId, { pollMs: 1_000 });
    return { snap, wallMs: performance.now() - t0, cpu: process.cpuUsage(cpu0) };
  };
  const { snap, wallMs, cpu } = profileDir
    ? await profiled(join(profileDir, `job${req.id}.cpuprofile`), job)
    : await job();
  reply({
    type: "job",
    id: req.id,
    report: {
      state: snap.state,
      error: snap.error,
      samplesTotal: snap.samplesTotal ?? 0,
      samplesDone: snap.samplesDone,
      samplesFailed: snap.samplesFailed,
      shardsTotal: snap.shardsTotal ?? 0,
      wallMs,
      submittedAt: performance.timeOrigin + t0,
      finishedAt: performance.timeOrigin + t0 + wallMs,
      cpu,
    },
    log: logSink.count(),
  });
}

async function main(): Promise<void> {
  if (!natsUrl) throw new Error("usage: coordinator-process.js NATS_URL [REPLICAS]");
  const coordinator = await startCoordinator({
    natsUrl,
    ...(replicas === undefined ? {} : { topology: { replicas } }),
    log: createLogger({ component: "coordinator" }, { level: "info", write: logSink.write }),
  });
  process.on("message", (msg: CoordinatorRequest) => {
    if (msg.type === "stop") {
      void coordinator.stop().finally(() => reply({ type: "stopped" }, () => process.exit(0)));
      return;
    }
    runJob(coordinator, msg).catch((err: unknown) =>
      reply({ type: "error", id: msg.id, message: err instanceof Error ? err.message : String(err) }),
    );
  });
  reply({ type: "ready" });
}

main().catch((err: unknown) => {
  reply({ type: "error", message: err instanceof Error ? err.message : String(err) }, () => process.exit(1));
});
