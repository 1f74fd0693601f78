/**
 * bench/dispatch: the dispatch path (coordinator -> NATS JetStream -> workers -> results -> coordinator)
 * with the real coordinator, a real nats-server and real workers, whose engine is a fixed-latency stand-in
 * (bench/dispatch/stand-in-engine.ts). Two parts:
 *
 * 1. Scaling: the same per-worker load at N = 1, 8, 64, 256 workers; a job sized to run about --seconds
 *    per point, so each point pays the same start and end of a job. efficiency(N) = samples/s(N) / (N x
 *    samples/s(1)).
 * 2. Capacity: near-zero latency stand-ins and enough of them that the path itself is the limit; the most
 *    samples/s it sustains here, and the coordinator's CPU seconds per sample (process.cpuUsage in its own
 *    process), set against a fleet of 10,000 GPUs x 2 images/s.
 *
 * Each part runs a warm-up job on its workers before the measured one (JIT, first pulls). Workers live in
 * child processes of --per-process workers each; the coordinator in its own; nats-server is a child with a
 * temporary file store. Usage:
 *   npm run bench:dispatch -- [--workers 1,8,64,256] [--seconds S] [--batch-ms MS] [--batch-size B]
 *     [--shard-size K] [--capacity-samples N] [--capacity-workers N] [--capacity-shard-size K] [--fsync]
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { bundledModelDir } from "../src/common/package-root.js";
import { type EmbeddedNatsServer, startEmbeddedNatsServer } from "../src/common/nats/embedded-server.js";
import { findNatsServer } from "../src/common/nats/server-binary.js";
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

const { values } = parseArgs({
  options: {
    workers: { type: "string", default: "1,8,64,256" },
    seconds: { type: "string", default: "15" },
    "batch-ms": { type: "string", default: "1000" },
    "batch-size": { type: "string", default: "4" },
    "shard-size": { type: "string", default: "4" },
    "capacity-samples": { type: "string", default: "20000" },
    "capacity-workers": { type: "string", default: "32" },
    "capacity-batch-size": { type: "string", default: "8" },
    "capacity-shard-size": { type: "string", default: "32" },
    "per-process": { type: "string", default: "64" },
    size: { type: "string", default: "64" },
    fsync: { type: "boolean", default: false },
    "skip-scaling": { type: "boolean", default: false },
    "skip-capacity": { type: "boolean", default: false },
    model: { type: "string", default: bundledModelDir() },
  },
});

function positiveInt(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${text}`);
  return n;
}

const workerCounts = values.workers.split(",").map((w) => positiveInt("workers", w));
const seconds = Number(values.seconds);
const batchMs = positiveInt("batch-ms", values["batch-ms"], 0);
const batchSize = positiveInt("batch-size", values["batch-size"]);
const shardSize = positiveInt("shard-size", values["shard-size"]);
const capacitySamples = positiveInt("capacity-samples", values["capacity-samples"]);
const capacityWorkers = positiveInt("capacity-workers", values["capacity-workers"]);
const capacityBatchSize = positiveInt("capacity-batch-size", values["capacity-batch-size"]);
const capacityShardSize = positiveInt("capacity-shard-size", values["capacity-shard-size"]);
const perProcess = positiveInt("per-process", values["per-process"]);
const imageSize = positiveInt("size", values.size, 8);
const durable = values.fsync;
if (!(seconds > 0)) throw new Error(`--seconds must be positive, got ${values.seconds}`);

/** The fleet the capacity figure is set against. */
const FLEET_GPUS = 10_000;
const FLEET_IMAGES_PER_GPU = 2;

// Children run from the same build as this file (dist/bench/*.js, or *.ts under a TypeScript loader).
const ext = fileURLToPath(import.meta.url).endsWith(".ts") ? "ts" : "js";
const childPath = (name: string) => fileURLToPath(new URL(`./dispatch/${name}.${ext}`, import.meta.url));

/** One child process answering one request at a time over IPC. */
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

  static start<Req, Rep extends { type: string }>(name: string, script: string, args: string[] = []) {
    return new Child<Req, Rep>(fork(childPath(script), args, { stdio: ["ignore", "inherit", "inherit", "ipc"] }), name);
  }

  /** The next message; sends `msg` first when given. */
  next(msg?: Req): Promise<Rep> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise<Rep>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (msg !== undefined) this.proc.send(msg as object);
    });
  }

  /** Resolves once the process has exited (killing it after `ms`). */
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
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / 100;
  } catch {
    return undefined;
  }
}

const cpuMicros = (c: Cpu) => c.user + c.system;

interface Fleet {
  hosts: Host[];
  count: number;
}

async function startFleet(natsUrl: string, count: number, settings: StandInSettings, tag: string): Promise<Fleet> {
  const hosts: Host[] = [];
  try {
    for (let left = count, i = 0; left > 0; i++) {
      const n = Math.min(perProcess, left);
      left -= n;
      const host: Host = Child.start(`worker host ${i}`, "worker-host");
      hosts.push(host);
    }
    let left = count;
    await Promise.all(
      hosts.map((host, i) => {
        const n = Math.min(perProcess, left);
        left -= n;
        return host.next({ type: "start", natsUrl, modelDir: values.model, count: n, prefix: `${tag}-h${i}`, settings });
      }),
    );
  } catch (err) {
    for (const h of hosts) h.proc.kill("SIGKILL");
    throw err;
  }
  return { hosts, count };
}

async function stopFleet(fleet: Fleet): Promise<number> {
  let warnings = 0;
  await Promise.all(
    fleet.hosts.map(async (h) => {
      const r = await h.next({ type: "stop" });
      if (r.type === "stopped") warnings += r.log.warnings;
      await h.exit();
    }),
  );
  return warnings;
}

interface FleetStats extends HostStats {
  warnings: number;
  lastWarnings: string[];
}

/** Counters summed over the fleet's hosts; the per-batch and per-worker windows restart at each call. */
async function fleetStats(fleet: Fleet): Promise<FleetStats> {
  const sum: FleetStats = {
    batches: 0,
    samples: 0,
    busyMs: 0,
    cpu: { user: 0, system: 0 },
    batchEnds: [],
    batchSizes: [],
    perWorker: [],
    warnings: 0,
    lastWarnings: [],
  };
  for (const r of await Promise.all(fleet.hosts.map((h) => h.next({ type: "stats" })))) {
    if (r.type !== "stats") continue;
    sum.batches += r.stats.batches;
    sum.samples += r.stats.samples;
    sum.busyMs += r.stats.busyMs;
    sum.cpu.user += r.stats.cpu.user;
    sum.cpu.system += r.stats.cpu.system;
    sum.batchEnds.push(...r.stats.batchEnds);
    sum.batchSizes.push(...r.stats.batchSizes);
    sum.perWorker.push(...r.stats.perWorker);
    sum.warnings += r.log.warnings;
    sum.lastWarnings.push(...r.log.last);
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
/** Outputs of finished jobs, removed before the next job starts (the coordinator tidies a job up after its final state). */
const finishedOutputs: string[] = [];

function removeFinishedOutputs(): void {
  for (const out of finishedOutputs.splice(0)) rmSync(out, { recursive: true, force: true, maxRetries: 5 });
}

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
}

async function runJob(
  coord: Coordinator,
  nats: EmbeddedNatsServer,
  dir: string,
  fleet: Fleet,
  tasks: number,
  shard: number,
): Promise<Measured> {
  removeFinishedOutputs();
  const name = `job${++jobCounter}`;
  const spec = writeSpec(dir, name, tasks, shard);
  const before = await fleetStats(fleet);
  const nats0 = procCpuMicros(nats.pid);
  const reply = await coord.next({ type: "job", id: jobCounter, spec, shardSize: shard });
  const nats1 = procCpuMicros(nats.pid);
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
      batches: after.batches - before.batches,
      samples: after.samples - before.samples,
      busyMs: after.busyMs - before.busyMs,
      cpu: { user: after.cpu.user - before.cpu.user, system: after.cpu.system - before.cpu.system },
      batchEnds: after.batchEnds,
      batchSizes: after.batchSizes,
      perWorker: after.perWorker,
      warnings: after.warnings - before.warnings,
      lastWarnings: after.lastWarnings,
    },
    natsCpuMicros: nats0 === undefined || nats1 === undefined ? undefined : nats1 - nats0,
  };
}

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pad = (s: string, w: number) => s.padStart(w);
const usPerSample = (micros: number | undefined, samples: number) =>
  micros === undefined ? "n/a" : fmt(micros / samples, 0);

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => pad(c, widths[i])).join("  ");
}

/** Submit -> first device start, and last device end -> final state, in seconds. */
function lags(m: Measured, deviceMs: number): string {
  if (m.fleet.batchEnds.length === 0) return "n/a";
  const first = Math.min(...m.fleet.batchEnds) - deviceMs;
  const last = Math.max(...m.fleet.batchEnds);
  return `${fmt((first - m.report.submittedAt) / 1000, 2)}+${fmt((m.report.finishedAt - last) / 1000, 2)}`;
}

async function scaling(coord: Coordinator, nats: EmbeddedNatsServer, dir: string): Promise<void> {
  const settings: StandInSettings = { batchMs, batchSize, durable };
  const rate = batchMs > 0 ? (batchSize * 1000) / batchMs : Number.POSITIVE_INFINITY;
  const taskSeconds = shardSize / rate;
  const tasksPerWorker = Math.max(2, Math.round(seconds / taskSeconds));
  console.log(
    `\n1. Scaling: stand-in device ${batchMs} ms per batch of up to ${batchSize} -> at most ${fmt(rate, 1)} images/s per worker; ` +
      `tasks of ${shardSize} samples (${fmt(taskSeconds, 2)} s of device time), ${tasksPerWorker} tasks per worker per job ` +
      `(~${fmt(tasksPerWorker * taskSeconds, 0)} s).`,
  );
  const widths = [7, 7, 6, 9, 6, 9, 6, 6, 9, 7, 6, 6, 7, 7, 4];
  console.log(
    row(
      ["", "", "job", "job", "job", "steady", "steady", "device", "lag s", "tasks/", "CPU us", "CPU us", "CPU us", "all CPU", ""],
      widths,
    ),
  );
  console.log(
    row(
      ["workers", "samples", "s", "samples/s", "eff", "samples/s", "eff", "busy %", "start+end", "worker", "coord", "nats", "workers", "% cores", "warn"],
      widths,
    ),
  );
  let base: { job: number; steady: number | undefined } | undefined;
  const warnings: string[] = [];
  for (const n of workerCounts) {
    const fleet = await startFleet(nats.url, n, settings, `s${n}`);
    try {
      await runJob(coord, nats, dir, fleet, n, shardSize);
      const m = await runJob(coord, nats, dir, fleet, n * tasksPerWorker, shardSize);
      const samples = m.report.samplesDone;
      const job = samples / (m.report.wallMs / 1000);
      const steady = steadyRate(m.fleet.batchEnds, m.fleet.batchSizes, batchMs);
      if (n === 1) base = { job, steady };
      const eff = (v: number | undefined, b: number | undefined) =>
        v === undefined || b === undefined ? "n/a" : fmt(v / (n * b), 3);
      const busy = batchMs > 0 ? fmt((100 * m.fleet.busyMs) / (n * m.report.wallMs), 1) : "n/a";
      const tasks = m.fleet.perWorker.map((x) => x / shardSize);
      const allCpu = cpuMicros(m.report.cpu) + (m.natsCpuMicros ?? 0) + cpuMicros(m.fleet.cpu);
      console.log(
        row(
          [
            String(n),
            fmt(samples),
            fmt(m.report.wallMs / 1000, 2),
            fmt(job, 1),
            eff(job, base?.job),
            steady === undefined ? "n/a" : fmt(steady, 1),
            eff(steady, base?.steady),
            busy,
            lags(m, batchMs),
            `${Math.min(...tasks)}-${Math.max(...tasks)}`,
            usPerSample(cpuMicros(m.report.cpu), samples),
            usPerSample(m.natsCpuMicros, samples),
            usPerSample(cpuMicros(m.fleet.cpu), samples),
            fmt((100 * allCpu) / 1e6 / (cpus().length * (m.report.wallMs / 1000)), 0),
            String(m.coordLog.warnings + m.fleet.warnings),
          ],
          widths,
        ),
      );
      warnings.push(...m.coordLog.last, ...m.fleet.lastWarnings);
    } finally {
      await stopFleet(fleet);
    }
  }
  console.log(
    `   job samples/s: samples / (submit -> SUCCEEDED, metadata.jsonl written); eff: samples/s(N) / (N x samples/s(1)), ideal ${fmt(rate, 1)} x N;\n` +
      "   steady: between 10 % and 90 % of the samples done on the devices (no job start or tail); device busy %: stand-in\n" +
      "   device time / (workers x job time); lag: submit -> first batch on a device, last batch off a device -> SUCCEEDED;\n" +
      "   tasks/worker: fewest-most tasks one worker ran; CPU us: CPU microseconds per\n" +
      "   sample of the coordinator, nats-server and all worker processes over the job; all CPU % cores: their sum / (cores x\n" +
      "   job time): near 100 the machine, not the dispatch path, sets the pace; warn: log lines at warn or above.",
  );
  if (warnings.length > 0) console.log(`   last warnings:\n     ${warnings.slice(-3).join("\n     ")}`);
}

async function capacity(coord: Coordinator, nats: EmbeddedNatsServer, dir: string): Promise<void> {
  const settings: StandInSettings = { batchMs: 0, batchSize: capacityBatchSize, durable };
  const tasks = Math.ceil(capacitySamples / capacityShardSize);
  console.log(
    `\n2. Capacity: ${capacityWorkers} workers, stand-in device returns at once (next event-loop turn), batches of up to ` +
      `${capacityBatchSize}, tasks of ${capacityShardSize} samples, a job of ${fmt(tasks * capacityShardSize)} samples.`,
  );
  const fleet = await startFleet(nats.url, capacityWorkers, settings, "cap");
  let m: Measured;
  try {
    await runJob(coord, nats, dir, fleet, Math.max(2 * capacityWorkers, Math.ceil(tasks / 10)), capacityShardSize);
    m = await runJob(coord, nats, dir, fleet, tasks, capacityShardSize);
  } finally {
    await stopFleet(fleet);
  }
  const samples = m.report.samplesDone;
  const wall = m.report.wallMs / 1000;
  const perSecond = samples / wall;
  const coordCpu = cpuMicros(m.report.cpu) / 1e6;
  const natsCpu = m.natsCpuMicros === undefined ? undefined : m.natsCpuMicros / 1e6;
  const workerCpu = cpuMicros(m.fleet.cpu) / 1e6;
  const coordPerSample = coordCpu / samples;
  const oneCore = 1 / coordPerSample;
  const need = FLEET_GPUS * FLEET_IMAGES_PER_GPU;
  const widths = [16, 10, 12, 14, 16];
  console.log(row(["process", "CPU s", "CPU share %", "CPU us/sample", "samples/s/core"], widths));
  const line = (what: string, cpu: number | undefined) =>
    console.log(
      row(
        [
          what,
          cpu === undefined ? "n/a" : fmt(cpu, 2),
          cpu === undefined ? "n/a" : fmt((100 * cpu) / wall, 0),
          cpu === undefined ? "n/a" : fmt((1e6 * cpu) / samples, 1),
          cpu === undefined ? "n/a" : fmt(samples / cpu, 0),
        ],
        widths,
      ),
    );
  line("coordinator", coordCpu);
  line("nats-server", natsCpu);
  line(`workers (${capacityWorkers})`, workerCpu);
  console.log(
    `   sustained: ${fmt(perSecond, 0)} samples/s (${fmt(samples)} samples, ${fmt(m.report.shardsTotal)} tasks, ` +
      `${fmt(wall, 2)} s submit -> SUCCEEDED) on ${cpus().length} cores shared by all of the above; ` +
      `CPU share % = CPU s / job s (100 = one core).`,
  );
  console.log(
    `   coordinator: ${fmt(coordPerSample * 1e6, 1)} us CPU per sample -> one core carries ~${fmt(oneCore, 0)} samples/s; ` +
      `a fleet of ${fmt(FLEET_GPUS)} GPUs x ${FLEET_IMAGES_PER_GPU} images/s needs ${fmt(need)} samples/s = ` +
      `${fmt(need / oneCore, 2)} coordinator cores (${fmt((100 * need) / oneCore, 0)} % of one) at ${capacityShardSize} samples per task.`,
  );
  if (natsCpu !== undefined) {
    const natsCore = samples / natsCpu;
    console.log(
      `   nats-server: one core carries ~${fmt(natsCore, 0)} samples/s here -> ${fmt(need / natsCore, 2)} cores for that fleet.`,
    );
  }
  const warnings = m.coordLog.warnings + m.fleet.warnings;
  if (warnings > 0) console.log(`   ${warnings} warning log lines; last: ${[...m.coordLog.last, ...m.fleet.lastWarnings].slice(-2).join(" | ")}`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "lf-bench-dispatch-"));
  let nats: EmbeddedNatsServer | undefined;
  let coord: Coordinator | undefined;
  try {
    nats = await startEmbeddedNatsServer({ bin: findNatsServer(process.env.LF_NATS_SERVER_BIN), storeDir: join(dir, "nats") });
    coord = Child.start("coordinator", "coordinator-process", [nats.url]);
    await coord.next();
    console.log(
      `bench/dispatch: coordinator (own process), nats-server (file store in ${tmpdir()}), workers in processes of up to ` +
        `${perProcess}; ${cpus().length} CPU cores (${cpus()[0]?.model ?? "?"}), Node ${process.version}.`,
    );
    console.log(
      `Stand-in engine: fixed latency per batch, no model, no engine thread; each sample is a ${imageSize}x${imageSize} RGB ` +
        `image encoded as PNG and written by the worker's sink (tmp + rename), fsync ${durable ? "ON" : "OFF (--fsync turns it on)"}. ` +
        "Logs are formatted at info level and discarded.",
    );
    if (!values["skip-scaling"]) await scaling(coord, nats, dir);
    if (!values["skip-capacity"]) await capacity(coord, nats, dir);
  } finally {
    if (coord) {
      await coord.next({ type: "stop" }).catch(() => undefined);
      await coord.exit();
    }
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
