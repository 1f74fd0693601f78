/**
 * bench/dispatch: the dispatch path (coordinator -> NATS JetStream -> workers -> results -> coordinator)
 * with the real coordinator, a real nats-server and real workers (startWorker: task runner, batcher, sink),
 * whose engine is a fixed-latency stand-in (bench/dispatch/stand-in-engine.ts). Two parts:
 *
 * 1. Scaling: the same per-worker load at N = 1, 8, 64, 256 workers, each on a job of about --seconds of
 *    device time per worker, so every point pays one job start and one job end.
 *    efficiency(N) = samples/s(N) / (N x samples/s(1)), for the whole job and for its steady middle.
 * 2. Capacity: stand-ins that answer at once, so the path itself is the limit: the most samples/s it
 *    sustains on this machine, and the CPU seconds per sample of the coordinator (process.cpuUsage in its
 *    own process) and of nats-server, set against a fleet of 10,000 GPUs x 2 images/s. Each task size runs
 *    --capacity-repeats measured jobs in a row and reports their median: one job's figure swings by a third
 *    from run to run on a shared machine.
 *
 * Processes: nats-server (temporary file store), the coordinator, and worker hosts of up to --per-process
 * workers each (each worker has its own NATS connection). Every measured job follows a warm-up job on the
 * same workers (JIT, first pulls, each worker's measured speed).
 *
 * Usage: npm run bench:dispatch -- [--workers 1,8,64,256] [--seconds 20] [--batch-ms 2000] [--batch-size 4]
 *   [--shard-size 4] [--capacity-samples 32000] [--capacity-workers 32] [--capacity-batch-size 8]
 *   [--capacity-shard-sizes 32] [--capacity-repeats 3] [--capacity-processes N] [--per-process 64] [--size 64] [--fsync]
 *   [--skip-scaling] [--skip-capacity] [--replicas 1,3] [--coordinator-cpu-prof DIR]
 *
 * --coordinator-cpu-prof DIR: a V8 CPU profile of the coordinator over each job, submit to final state
 * (warm-ups too), in DIR/job<N>.cpuprofile; bench/cpuprofile-summary.ts sums one by function and file.
 *
 * 3. Replicas (--replicas 1,3): a three-node nats-server cluster on this machine (bench/dispatch/cluster.ts);
 *    on it, for each replica count in turn (streams and bucket deleted and made again), the capacity job at
 *    the first --capacity-shard-sizes: samples/s, coordinator and nats-server (all nodes) CPU per sample, and
 *    the latency of one write with nothing else in flight (a KV update of the job bucket, a publish to
 *    LF_RESULTS: what every state write and every task or result publish waits for).
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { type EmbeddedNatsServer, startEmbeddedNatsServer } from "../src/common/nats/embedded-server.js";
import {
  DEAD_LETTERS_STREAM,
  JOBS_BUCKET,
  RESULTS_STREAM,
  resultSubject,
  TASKS_STREAM,
} from "../src/common/nats/names.js";
import { findNatsServer } from "../src/common/nats/server-binary.js";
import { ensureTopology } from "../src/common/nats/topology.js";
import { bundledModelDir } from "../src/common/package-root.js";
import { clusterJetStream, startLoopbackCluster } from "./dispatch/cluster.js";
import type {
  CoordinatorReply,
  CoordinatorRequest,
  Cpu,
  HostReply,
  HostRequest,
  HostStats,
  JobReport,
  LogCount,
  StandInSettings,
} from "./dispatch/protocol.js";
import { CPU_PROFILE_DIR_ENV } from "./dispatch/protocol.js";

const CORES = cpus().length;

const { values } = parseArgs({
  options: {
    workers: { type: "string", default: "1,8,64,256" },
    seconds: { type: "string", default: "20" },
    "batch-ms": { type: "string", default: "2000" },
    "batch-size": { type: "string", default: "4" },
    "shard-size": { type: "string", default: "4" },
    // About 30 s a job here (the stand-in workers' PNG writes, not the coordinator, set the pace on 2 cores);
    // 20000 gives the earlier series' jobs.
    "capacity-samples": { type: "string", default: "32000" },
    "capacity-workers": { type: "string", default: "32" },
    "capacity-batch-size": { type: "string", default: "8" },
    "capacity-shard-sizes": { type: "string", default: "32" },
    "capacity-repeats": { type: "string", default: "3" },
    "capacity-processes": { type: "string", default: String(CORES) },
    "per-process": { type: "string", default: "64" },
    size: { type: "string", default: "64" },
    fsync: { type: "boolean", default: false },
    "skip-scaling": { type: "boolean", default: false },
    "skip-capacity": { type: "boolean", default: false },
    replicas: { type: "string", default: "" },
    model: { type: "string", default: bundledModelDir() },
    "coordinator-cpu-prof": { type: "string", default: "" },
  },
});

function intOption(name: keyof typeof values, min = 1): number {
  const text = String(values[name]);
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${text}`);
  return n;
}

function intList(name: keyof typeof values): number[] {
  return String(values[name])
    .split(",")
    .map((t) => {
      const n = Number(t);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: ${t} is not a positive integer`);
      return n;
    });
}

const workerCounts = intList("workers");
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error(`--seconds must be positive, got ${values.seconds}`);
const batchMs = intOption("batch-ms");
const batchSize = intOption("batch-size");
const shardSize = intOption("shard-size");
const capacitySamples = intOption("capacity-samples");
const capacityWorkers = intOption("capacity-workers");
const capacityBatchSize = intOption("capacity-batch-size");
const capacityShardSizes = intList("capacity-shard-sizes");
const capacityRepeats = intOption("capacity-repeats");
const capacityProcesses = intOption("capacity-processes");
const perProcess = intOption("per-process");
const imageSize = intOption("size", 8);
const durable = values.fsync;
const replicaCounts = values.replicas === "" ? [] : intList("replicas");
/** The coordinator's environment: where it leaves a CPU profile of each job, when asked to. */
const coordinatorEnv: NodeJS.ProcessEnv =
  values["coordinator-cpu-prof"] === ""
    ? process.env
    : { ...process.env, [CPU_PROFILE_DIR_ENV]: values["coordinator-cpu-prof"] };

/** The fleet the capacity figures are set against. */
const FLEET_GPUS = 10_000;
const FLEET_IMAGES_PER_GPU = 2;

// Children run from the same build as this file (dist/bench/*.js, or *.ts under a TypeScript loader,
// whose flags fork passes on).
const ext = fileURLToPath(import.meta.url).endsWith(".ts") ? "ts" : "js";
const childPath = (name: string) => fileURLToPath(new URL(`./dispatch/${name}.${ext}`, import.meta.url));

/** A child process that answers one request at a time over IPC. */
class Child<Req, Rep extends { type: string }> {
  private readonly waiting: { resolve: (m: Rep) => void; reject: (e: Error) => void }[] = [];
  private exited: string | undefined;

  constructor(
    readonly proc: ChildProcess,
    readonly name: string,
  ) {
    proc.on("message", (m: Rep) => {
      const w = this.waiting.shift();
      if (!w) return;
      if (m.type === "error") w.reject(new Error(`${name}: ${(m as { message?: string }).message}`));
      else w.resolve(m);
    });
    proc.on("exit", (code, signal) => {
      this.exited = `${name} exited (${signal ?? code})`;
      for (const w of this.waiting.splice(0)) w.reject(new Error(this.exited));
    });
  }

  static start<Req, Rep extends { type: string }>(
    name: string,
    script: string,
    args: string[] = [],
    env: NodeJS.ProcessEnv = process.env,
  ): Child<Req, Rep> {
    const proc = fork(childPath(script), args, { stdio: ["ignore", "inherit", "inherit", "ipc"], env });
    return new Child<Req, Rep>(proc, name);
  }

  /** The next message; sends `msg` first when given. */
  next(msg?: Req): Promise<Rep> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise<Rep>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (msg !== undefined) this.proc.send(msg as object);
    });
  }

  /** Resolves once the process has exited (SIGKILL after `ms`). */
  async exit(ms = 15_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => this.proc.once("exit", () => resolve()));
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), ms);
    await gone;
    clearTimeout(timer);
  }
}

type Host = Child<HostRequest, HostReply>;
type Coordinator = Child<CoordinatorRequest, CoordinatorReply>;

/** User + system CPU of a process from /proc (Linux; undefined elsewhere), in microseconds. */
function procCpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime: fields 14 and 15 of the line, in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / 100;
  } catch {
    return undefined;
  }
}

const cpuMicros = (c: Cpu) => c.user + c.system;

/** The sum, or undefined when any is. */
function sumDefined(values: (number | undefined)[]): number | undefined {
  let sum = 0;
  for (const v of values) {
    if (v === undefined) return undefined;
    sum += v;
  }
  return sum;
}

type Fleet = Host[];

/** `count` workers in hosts of up to `per` workers each. */
async function startFleet(
  natsUrl: string,
  count: number,
  per: number,
  settings: StandInSettings,
  tag: string,
): Promise<Fleet> {
  const sizes: number[] = [];
  for (let left = count; left > 0; left -= per) sizes.push(Math.min(per, left));
  const hosts: Fleet = sizes.map((_, i) => Child.start(`worker host ${i}`, "worker-host"));
  try {
    await Promise.all(
      hosts.map((host, i) =>
        host.next({
          type: "start",
          natsUrl,
          modelDir: values.model,
          count: sizes[i],
          prefix: `${tag}-h${i}`,
          settings,
        }),
      ),
    );
  } catch (err) {
    for (const h of hosts) h.proc.kill("SIGKILL");
    throw err;
  }
  return hosts;
}

async function stopFleet(fleet: Fleet): Promise<void> {
  await Promise.all(
    fleet.map(async (h) => {
      await h.next({ type: "stop" }).catch(() => undefined);
      await h.exit();
    }),
  );
}

interface FleetStats extends HostStats {
  log: LogCount;
}

/** Counters summed over the hosts; the per-batch and per-worker windows restart at every call. */
async function fleetStats(fleet: Fleet): Promise<FleetStats> {
  const sum: FleetStats = {
    batches: 0,
    samples: 0,
    busyMs: 0,
    cpu: { user: 0, system: 0 },
    batchEnds: [],
    batchSizes: [],
    perWorker: [],
    log: { warnings: 0, last: [] },
  };
  for (const r of await Promise.all(fleet.map((h) => h.next({ type: "stats" })))) {
    if (r.type !== "stats") continue;
    sum.batches += r.stats.batches;
    sum.samples += r.stats.samples;
    sum.busyMs += r.stats.busyMs;
    sum.cpu.user += r.stats.cpu.user;
    sum.cpu.system += r.stats.cpu.system;
    sum.batchEnds.push(...r.stats.batchEnds);
    sum.batchSizes.push(...r.stats.batchSizes);
    sum.perWorker.push(...r.stats.perWorker);
    sum.log.warnings += r.log.warnings;
    sum.log.last.push(...r.log.last);
  }
  return sum;
}

/**
 * Samples/s while the job is in full flow: between the moments 10 % and 90 % of its samples had left the
 * devices, so the job's start (first pulls) and end (the last tasks in hand, metadata.jsonl) are left out.
 * Each batch counts in proportion to the part of its device time [end - batchMs, end] inside that window,
 * so workers that run in step (they all start together) do not make the figure jump by whole batches.
 */
function steadyRate(ends: number[], sizes: number[], deviceMs: number): number | undefined {
  if (deviceMs <= 0) return undefined;
  const order = ends.map((_, i) => i).sort((a, b) => ends[a] - ends[b]);
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  let from: number | undefined;
  let to: number | undefined;
  for (const i of order) {
    done += sizes[i];
    if (from === undefined && done >= 0.1 * total) from = ends[i];
    if (done >= 0.9 * total) {
      to = ends[i];
      break;
    }
  }
  if (from === undefined || to === undefined || to <= from) return undefined;
  let samples = 0;
  for (let i = 0; i < ends.length; i++) {
    const overlap = Math.min(ends[i], to) - Math.max(ends[i] - deviceMs, from);
    if (overlap > 0) samples += (sizes[i] * overlap) / deviceMs;
  }
  return samples / ((to - from) / 1000);
}

let jobCounter = 0;
/** Outputs of finished jobs: removed before the next job, as the coordinator tidies up after the final state. */
const finishedOutputs: string[] = [];

/** A spec of `tasks` prompts x `shard` images each: exactly `tasks` shards of `shard` samples. */
function writeSpec(dir: string, name: string, tasks: number, shard: number): string {
  const path = join(dir, `${name}.yaml`);
  const prompts = Array.from({ length: tasks }, (_, i) => `p${i}`).join(", ");
  writeFileSync(
    path,
    [
      `model: ${JSON.stringify(values.model)}`,
      `output: ${JSON.stringify(join(dir, "out", name))}`,
      "seed: 1",
      `images_per_prompt: ${shard}`,
      `defaults: { steps: 1, guidance_scale: 1, width: ${imageSize}, height: ${imageSize} }`,
      "prompts:",
      '  - template: "a shape {p}"',
      `    vars: { p: [${prompts}] }`,
      "",
    ].join("\n"),
  );
  return path;
}

interface Measured {
  report: JobReport;
  coordLog: LogCount;
  fleet: FleetStats;
  natsCpuMicros: number | undefined;
  /** The coordinator's CPU (from /proc) over the job, read every CPU_TIMELINE_MS: [epoch ms, µs]. */
  coordTimeline: [number, number][];
}

/** How often the harness reads the coordinator's CPU from /proc (its own reads cost the coordinator nothing). */
const CPU_TIMELINE_MS = 20;

/** The coordinator's CPU at `t` (epoch ms), interpolated in its timeline; undefined outside it. */
function cpuAt(timeline: [number, number][], t: number): number | undefined {
  for (let i = 1; i < timeline.length; i++) {
    const [t1, c1] = timeline[i];
    if (t1 < t) continue;
    const [t0, c0] = timeline[i - 1];
    if (t0 > t) return undefined;
    return t1 === t0 ? c1 : c0 + ((c1 - c0) * (t - t0)) / (t1 - t0);
  }
  return undefined;
}

/**
 * The coordinator's CPU (µs) outside the job's flow: from submit until the first batch left a device (spec,
 * count, first publishes), and from the last batch off a device to the final state (last results,
 * metadata.jsonl, state). Read from /proc in 10 ms ticks, so a few ms either way.
 */
function outsideFlowCpu(m: Measured): { start: number; end: number } | undefined {
  if (m.fleet.batchEnds.length === 0) return undefined;
  const first = Math.min(...m.fleet.batchEnds);
  const last = Math.max(...m.fleet.batchEnds);
  const at = (t: number) => cpuAt(m.coordTimeline, t);
  const [s0, s1, e0, e1] = [at(m.report.submittedAt), at(first), at(last), at(m.report.finishedAt)];
  if (s0 === undefined || s1 === undefined || e0 === undefined || e1 === undefined) return undefined;
  return { start: s1 - s0, end: e1 - e0 };
}

/** Runs one job of `tasks` shards of `shard` samples on the fleet; throws unless it succeeds. */
async function runJob(
  coord: Coordinator,
  nats: EmbeddedNatsServer | EmbeddedNatsServer[],
  dir: string,
  fleet: Fleet,
  tasks: number,
  shard: number,
): Promise<Measured> {
  for (const out of finishedOutputs.splice(0)) rmSync(out, { recursive: true, force: true, maxRetries: 5 });
  const name = `job${++jobCounter}`;
  const spec = writeSpec(dir, name, tasks, shard);
  const before = await fleetStats(fleet);
  const nodes = Array.isArray(nats) ? nats : [nats];
  const natsCpu = () => sumDefined(nodes.map((n) => procCpuMicros(n.pid)));
  const nats0 = natsCpu();
  const coordTimeline: [number, number][] = [];
  const readCoordCpu = () => {
    const cpu = procCpuMicros(coord.proc.pid);
    if (cpu !== undefined) coordTimeline.push([performance.timeOrigin + performance.now(), cpu]);
  };
  readCoordCpu();
  const timer = setInterval(readCoordCpu, CPU_TIMELINE_MS);
  const reply = await coord.next({ type: "job", id: jobCounter, spec, shardSize: shard }).finally(() => {
    clearInterval(timer);
    readCoordCpu();
  });
  const nats1 = natsCpu();
  const after = await fleetStats(fleet);
  finishedOutputs.push(join(dir, "out", name));
  if (reply.type !== "job") throw new Error(`unexpected coordinator reply ${reply.type}`);
  if (reply.report.state !== "SUCCEEDED") {
    throw new Error(`job ${name} ended ${reply.report.state}: ${reply.report.error}`);
  }
  return {
    report: reply.report,
    coordLog: reply.log,
    fleet: {
      ...after,
      batches: after.batches - before.batches,
      samples: after.samples - before.samples,
      busyMs: after.busyMs - before.busyMs,
      cpu: { user: after.cpu.user - before.cpu.user, system: after.cpu.system - before.cpu.system },
      log: { warnings: after.log.warnings - before.log.warnings, last: after.log.last },
    },
    natsCpuMicros: nats0 === undefined || nats1 === undefined ? undefined : nats1 - nats0,
    coordTimeline,
  };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const usPerSample = (micros: number | undefined, samples: number) =>
  micros === undefined ? "n/a" : fmt(micros / samples, 0);
const table = (widths: number[]) => (cells: string[]) =>
  console.log(cells.map((c, i) => c.padStart(widths[i])).join("  "));

/** Submit -> first batch on a device, and last batch off a device -> final state, in seconds. */
function lags(m: Measured, deviceMs: number): string {
  if (m.fleet.batchEnds.length === 0) return "n/a";
  const first = Math.min(...m.fleet.batchEnds) - deviceMs;
  const last = Math.max(...m.fleet.batchEnds);
  return `${fmt((first - m.report.submittedAt) / 1000, 2)}+${fmt((m.report.finishedAt - last) / 1000, 2)}`;
}

/** Log lines at warn or above over a job, and the last of them. */
function warningsOf(m: Measured): { count: number; last: string[] } {
  return {
    count: m.coordLog.warnings + m.fleet.log.warnings,
    last: [...m.coordLog.last, ...m.fleet.log.last],
  };
}

async function scaling(coord: Coordinator, nats: EmbeddedNatsServer, dir: string): Promise<void> {
  const settings: StandInSettings = { batchMs, batchSize, durable };
  const rate = (batchSize * 1000) / batchMs;
  const taskSeconds = shardSize / rate;
  const tasksPerWorker = Math.max(2, Math.round(seconds / taskSeconds));
  console.log(
    `\n1. Scaling. Each worker: a stand-in device taking ${batchMs} ms per batch of up to ${batchSize} ` +
      `(at most ${fmt(rate, 1)} images/s), tasks of ${shardSize} samples (${fmt(taskSeconds, 2)} s of device ` +
      `time each), ${tasksPerWorker} tasks per worker per job (${fmt(tasksPerWorker * taskSeconds, 0)} s when ` +
      `perfectly fed). Workers in processes of up to ${perProcess}.`,
  );
  const print = table([7, 7, 6, 9, 6, 9, 6, 6, 10, 7, 6, 6, 7, 7, 4]);
  print(
    ["", "", "job", "job", "job", "steady", "steady", "device", "lag s", "tasks/"].concat([
      "CPU us",
      "CPU us",
      "CPU us",
      "all CPU",
      "",
    ]),
  );
  print(
    [
      "workers",
      "samples",
      "s",
      "samples/s",
      "eff",
      "samples/s",
      "eff",
      "busy %",
      "start+end",
      "worker",
    ].concat(["coord", "nats", "workers", "% cores", "warn"]),
  );
  let base: { job: number; steady: number | undefined } | undefined;
  const warnings: string[] = [];
  for (const n of workerCounts) {
    const fleet = await startFleet(nats.url, n, perProcess, settings, `s${n}`);
    try {
      await runJob(coord, nats, dir, fleet, n, shardSize);
      const m = await runJob(coord, nats, dir, fleet, n * tasksPerWorker, shardSize);
      const samples = m.report.samplesDone;
      const job = samples / (m.report.wallMs / 1000);
      const steady = steadyRate(m.fleet.batchEnds, m.fleet.batchSizes, batchMs);
      if (n === 1) base = { job, steady };
      const eff = (v: number | undefined, b: number | undefined) =>
        v === undefined || b === undefined ? "n/a" : fmt(v / (n * b), 3);
      const tasks = m.fleet.perWorker.map((x) => x / shardSize);
      const allCpu = cpuMicros(m.report.cpu) + (m.natsCpuMicros ?? 0) + cpuMicros(m.fleet.cpu);
      const w = warningsOf(m);
      warnings.push(...w.last);
      print([
        String(n),
        fmt(samples),
        fmt(m.report.wallMs / 1000, 2),
        fmt(job, 1),
        eff(job, base?.job),
        steady === undefined ? "n/a" : fmt(steady, 1),
        eff(steady, base?.steady),
        fmt((100 * m.fleet.busyMs) / (n * m.report.wallMs), 1),
        lags(m, batchMs),
        `${Math.min(...tasks)}-${Math.max(...tasks)}`,
        usPerSample(cpuMicros(m.report.cpu), samples),
        usPerSample(m.natsCpuMicros, samples),
        usPerSample(cpuMicros(m.fleet.cpu), samples),
        fmt((100 * allCpu) / 1e6 / (CORES * (m.report.wallMs / 1000)), 0),
        String(w.count),
      ]);
    } finally {
      await stopFleet(fleet);
    }
  }
  console.log(
    [
      "   job samples/s: samples / (submit -> SUCCEEDED, metadata.jsonl written); eff: samples/s(N) / (N x samples/s(1));",
      "   steady: between 10 % and 90 % of the samples done on the devices (no job start or end); device busy %:",
      "   stand-in device time / (workers x job time); lag: submit -> first batch on a device, last batch off a device ->",
      "   SUCCEEDED; tasks/worker: fewest-most tasks one worker ran; CPU us: CPU microseconds per sample of the",
      "   coordinator, nats-server and all worker hosts over the job; all CPU % cores: their sum / (cores x job time),",
      "   near 100 this machine, not the dispatch path, sets the pace; warn: log lines at warn or above.",
    ].join("\n"),
  );
  if (warnings.length > 0) console.log(`   last warnings:\n     ${warnings.slice(-3).join("\n     ")}`);
}

async function capacity(coord: Coordinator, nats: EmbeddedNatsServer, dir: string): Promise<void> {
  const settings: StandInSettings = { batchMs: 0, batchSize: capacityBatchSize, durable };
  const per = Math.ceil(capacityWorkers / capacityProcesses);
  console.log(
    `\n2. Capacity. ${capacityWorkers} workers in ${Math.ceil(capacityWorkers / per)} processes; the stand-in ` +
      `device answers on the next event-loop turn; batches of up to ${capacityBatchSize}; per task size, a ` +
      `warm-up job, then ${capacityRepeats} measured jobs of ~${fmt(capacitySamples)} samples each.`,
  );
  const print = table([6, 7, 6, 6, 9, 7, 7, 7, 7, 7, 9, 10, 13]);
  print([
    "task",
    "",
    "",
    "job",
    "job",
    "",
    "CPU us",
    "CPU us",
    "CPU us",
    "all CPU",
    "coord",
    "coord cores",
    "coord outside",
  ]);
  print(
    ["size", "samples", "tasks", "s", "samples/s", "tasks/s", "coord", "nats", "workers", "% cores"].concat([
      "samples/s",
      `${FLEET_GPUS / 1000}k GPUs`,
      "ms start+end",
    ]),
  );
  const need = FLEET_GPUS * FLEET_IMAGES_PER_GPU;
  const lines: string[] = [];
  const warnings: string[] = [];
  const fleet = await startFleet(nats.url, capacityWorkers, per, settings, "cap");
  try {
    for (const shard of capacityShardSizes) {
      const tasks = Math.ceil(capacitySamples / shard);
      // A warm-up as big as a measured job: after one a tenth its size, the first measured job still spent
      // about a third more coordinator CPU per sample than the next (JIT, heap growth).
      await runJob(coord, nats, dir, fleet, tasks, shard);
      const runs: {
        coordPerCore: number;
        natsPerCore: number | undefined;
        fixedShare: number | undefined;
        warnings: number;
      }[] = [];
      for (let r = 0; r < capacityRepeats; r++) {
        const m = await runJob(coord, nats, dir, fleet, tasks, shard);
        const samples = m.report.samplesDone;
        const wall = m.report.wallMs / 1000;
        const coordCpu = cpuMicros(m.report.cpu);
        const allCpu = coordCpu + (m.natsCpuMicros ?? 0) + cpuMicros(m.fleet.cpu);
        const coordPerCore = samples / (coordCpu / 1e6);
        const w = warningsOf(m);
        warnings.push(...w.last);
        const fixed = outsideFlowCpu(m);
        runs.push({
          coordPerCore,
          natsPerCore: m.natsCpuMicros === undefined ? undefined : samples / (m.natsCpuMicros / 1e6),
          fixedShare: fixed && (fixed.start + fixed.end) / coordCpu,
          warnings: w.count,
        });
        print([
          String(shard),
          fmt(samples),
          fmt(m.report.shardsTotal),
          fmt(wall, 2),
          fmt(samples / wall, 0),
          fmt(m.report.shardsTotal / wall, 0),
          usPerSample(coordCpu, samples),
          usPerSample(m.natsCpuMicros, samples),
          usPerSample(cpuMicros(m.fleet.cpu), samples),
          fmt((100 * allCpu) / 1e6 / (CORES * wall), 0),
          fmt(coordPerCore, 0),
          fmt(need / coordPerCore, 2),
          fixed ? `${fmt(fixed.start / 1000)}+${fmt(fixed.end / 1000)}` : "n/a",
        ]);
      }
      const coordPerCore = median(runs.map((r) => r.coordPerCore));
      const spread = runs.map((r) => fmt(r.coordPerCore, 0)).join(", ");
      let line =
        `   tasks of ${shard}: one coordinator core carries ~${fmt(coordPerCore, 0)} samples/s (median of ` +
        `${spread}); ${fmt(FLEET_GPUS)} GPUs x ${FLEET_IMAGES_PER_GPU} images/s = ${fmt(need)} samples/s needs ` +
        `${fmt((100 * need) / coordPerCore, 0)} % of one coordinator core`;
      const natsRuns = runs.map((r) => r.natsPerCore);
      if (natsRuns.every((n) => n !== undefined)) {
        line += ` and ${fmt((100 * need) / median(natsRuns as number[]), 0)} % of one nats-server core`;
      }
      const shares = runs.map((r) => r.fixedShare);
      if (shares.every((f) => f !== undefined)) {
        line += `; outside the job's flow it spent a median ${fmt(100 * median(shares as number[]), 1)} % of its CPU`;
      }
      const warned = runs.reduce((a, r) => a + r.warnings, 0);
      lines.push(`${line}${warned > 0 ? ` (${warned} warnings)` : ""}.`);
    }
  } finally {
    await stopFleet(fleet);
  }
  console.log(
    [
      "   job samples/s: samples / (submit -> SUCCEEDED) with every process of the path on this machine's " +
        `${CORES} cores;`,
      "   CPU us: CPU microseconds per sample; all CPU % cores: coordinator + nats-server + workers / (cores x job" +
        " time);",
      "   coord samples/s: samples per second of coordinator CPU (one core's worth), all of its CPU over the job;" +
        " coord cores: what the",
      "   fleet below needs; coord outside: coordinator CPU from submit to the first batch off a device (spec," +
        " count, first tasks), and from the",
      "   last one to SUCCEEDED (last results, metadata.jsonl: a file read per shard, so not a fixed cost).",
      ...lines,
    ].join("\n"),
  );
  if (warnings.length > 0) console.log(`   last warnings:\n     ${warnings.slice(-3).join("\n     ")}`);
}

/** Milliseconds of each of `n` calls of `op`, one at a time. */
async function latencies(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    ms.push(performance.now() - t);
  }
  return ms.sort((a, b) => a - b);
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function replicasPart(dir: string, counts: number[]): Promise<void> {
  const shard = capacityShardSizes[0];
  const tasks = Math.ceil(capacitySamples / shard);
  const per = Math.ceil(capacityWorkers / capacityProcesses);
  console.log(
    `\n3. Replicas. A three-node nats-server cluster on this machine (loopback); for each replica count, the ` +
      `capacity job (~${fmt(capacitySamples)} samples in tasks of ${shard}, ${capacityWorkers} workers), and ` +
      "300 writes one at a time of each kind.",
  );
  const print = table([8, 9, 7, 7, 7, 9, 9, 9, 9]);
  print(["", "job", "", "CPU us", "CPU us", "KV upd", "KV upd", "publish", "publish"]);
  print(["replicas", "samples/s", "tasks/s", "coord", "nats", "p50 ms", "p99 ms", "p50 ms", "p99 ms"]);
  const cluster = await startLoopbackCluster(
    findNatsServer(process.env.LF_NATS_SERVER_BIN),
    join(dir, "cluster"),
  );
  const nc = await connect({ servers: cluster.urls.split(",") });
  try {
    const jsm = await clusterJetStream(nc);
    for (const r of counts) {
      for (const stream of [TASKS_STREAM, RESULTS_STREAM, DEAD_LETTERS_STREAM, `KV_${JOBS_BUCKET}`]) {
        await jsm.streams.delete(stream).catch(() => undefined);
      }
      const { jobs } = await ensureTopology(jsm.jetstream(), jsm, { replicas: r });
      const kvRevision = await jobs.put("bench.latency", "0");
      let revision = kvRevision;
      const kvMs = await latencies(300, async (i) => {
        revision = await jobs.update("bench.latency", String(i), revision);
      });
      const js = jsm.jetstream();
      const pubMs = await latencies(300, (i) => js.publish(resultSubject("bench-latency"), String(i)));
      const coord: Coordinator = Child.start(
        `coordinator r${r}`,
        "coordinator-process",
        [cluster.urls, String(r)],
        coordinatorEnv,
      );
      await coord.next();
      const settings: StandInSettings = { batchMs: 0, batchSize: capacityBatchSize, durable, replicas: r };
      const fleet = await startFleet(cluster.urls, capacityWorkers, per, settings, `r${r}`);
      try {
        await runJob(
          coord,
          cluster.nodes,
          dir,
          fleet,
          Math.max(capacityWorkers, Math.ceil(tasks / 10)),
          shard,
        );
        const m = await runJob(coord, cluster.nodes, dir, fleet, tasks, shard);
        const samples = m.report.samplesDone;
        const wall = m.report.wallMs / 1000;
        print([
          String(r),
          fmt(samples / wall, 0),
          fmt(m.report.shardsTotal / wall, 0),
          usPerSample(cpuMicros(m.report.cpu), samples),
          usPerSample(m.natsCpuMicros, samples),
          fmt(quantile(kvMs, 0.5), 2),
          fmt(quantile(kvMs, 0.99), 2),
          fmt(quantile(pubMs, 0.5), 2),
          fmt(quantile(pubMs, 0.99), 2),
        ]);
      } finally {
        await stopFleet(fleet);
        await coord.next({ type: "stop" }).catch(() => undefined);
        await coord.exit();
      }
    }
  } finally {
    await nc.close();
    await cluster.stop();
  }
  console.log(
    "   CPU us nats: all three nodes together, per sample; KV upd: a compare-and-set update of the job bucket;" +
      " publish: one message to LF_RESULTS, until its stream ack.",
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "lf-bench-dispatch-"));
  let nats: EmbeddedNatsServer | undefined;
  let coord: Coordinator | undefined;
  try {
    nats = await startEmbeddedNatsServer({
      bin: findNatsServer(process.env.LF_NATS_SERVER_BIN),
      storeDir: join(dir, "nats"),
    });
    coord = Child.start("coordinator", "coordinator-process", [nats.url], coordinatorEnv);
    await coord.next();
    console.log(
      `bench/dispatch on ${CORES} cores (${cpus()[0]?.model ?? "?"}), Node ${process.version}: nats-server ` +
        `(JetStream, file store under ${tmpdir()}), the coordinator in its own process, workers in worker hosts.`,
    );
    console.log(
      "Stand-in engine (bench only): a fixed time per batch on a simulated device, whatever the batch's size; no " +
        "model, no engine thread, no copies between threads. Everything else is the real worker: NATS pulls, " +
        `batcher, one ${imageSize}x${imageSize} PNG encoded and written per sample (tmp + rename; fsync ` +
        `${durable ? "ON" : "OFF, --fsync turns it on"}), shard metadata, result publish, ack. Log lines are ` +
        "formatted at info level, then dropped.",
    );
    if (!values["skip-scaling"]) await scaling(coord, nats, dir);
    if (!values["skip-capacity"]) await capacity(coord, nats, dir);
    if (replicaCounts.length > 0) await replicasPart(dir, replicaCounts);
  } finally {
    if (coord) {
      await coord.next({ type: "stop" }).catch(() => undefined);
      await coord.exit();
    }
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
