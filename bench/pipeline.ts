/**
 * bench/pipeline: `latent-fleet run` with one worker against the engine alone in-process, side by side in one
 * run: how much of the engine's throughput the whole pipeline (NATS, coordinator, worker process, batcher,
 * sink, result/ack path) delivers. Goal: run/engine >= 0.95.
 *
 * Both sides make the same images: the spec is expanded by the coordinator's own manifest code and each
 * sample resolved as a worker resolves a task's sample, so prompts, seeds, steps, guidance, scheduler, size
 * and batch composition match (the PNGs are compared byte for byte after each round).
 * - engine: EngineHost started in this process (model load included) with the thread count `run` gives
 *   its worker (unset with one worker: ONNX Runtime's choice), driven as the worker's batcher drives it (two batches handed over, so the
 *   engine thread never waits for this one), PNGs encoded on this thread while the next batch runs; no
 *   files are written.
 * - run: `node bin/latent-fleet.js run <spec> --out DIR --workers 1 --batch-size B` as a user starts it
 *   (plus --keep-logs, so its processes' logs can date start-up and tail).
 *
 * Two figures: (a) end-to-end wall time, launch to exit (run: nats-server, processes, model load, job
 * submission and teardown included; engine: thread start and model load to close), with run's fixed costs
 * beside it: its start (launch to the first task pulled, less the model load as the engine side times it in
 * the same round; and, as the goal states it, less nats-server's own start and the model load as a fresh
 * worker process pays it, ONNX Runtime's start in the process included, both timed alone each round) and
 * its end (last image to exit); (b) steady state, from
 * the end of the first batch to the last image: the same window on both sides, start-up and first-run
 * warm-up excluded. A run's image times are its PNG files' mtimes (the sink writes each file, then fsyncs
 * and renames it: mtime is when its bytes were written); the engine's are when each PNG is encoded.
 * Rounds alternate which side goes first; the table gives medians, ratios are medians of per-round ratios.
 *
 * Usage: npm run bench:pipeline -- [--samples 192] [--batch-size 8] [--rounds 3] [--steps 20]
 *        [--guidance 4] [--scheduler euler] [--size 64] [--threads N] [--model DIR] [--skip-warmup]
 *        (BENCH_ROUNDS=N sets the default of --rounds)
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { runWorkerThreads } from "../src/cli/inference-threads.js";
import { float32ToDecimal } from "../src/common/contract/floats.js";
import type { SampleRequest } from "../src/common/contract/sample.js";
import { startEmbeddedNatsServer } from "../src/common/nats/embedded-server.js";
import { findNatsServer } from "../src/common/nats/server-binary.js";
import { bundledModelDir, packageRoot } from "../src/common/package-root.js";
import { DEFAULT_SHARD_SIZE } from "../src/coordinator/sharder.js";
import { parseDevice } from "../src/engine/device.js";
import { type EngineBatch, EngineHost } from "../src/engine/engine-host.js";
import { encodePng } from "../src/engine/png.js";
import { expandSpec, loadSpec, type ManifestSample } from "../src/manifest/index.js";
import { resolveSample } from "../src/worker/resolve.js";
import { ProcTreeCpu, reapedChildrenCpuSeconds } from "./proc-cpu.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: bundledModelDir() },
    samples: { type: "string", default: "192" },
    "batch-size": { type: "string", default: "8" },
    rounds: { type: "string", default: process.env.BENCH_ROUNDS ?? "3" },
    steps: { type: "string", default: "20" },
    guidance: { type: "string", default: "4" },
    scheduler: { type: "string", default: "euler" },
    size: { type: "string", default: "64" },
    threads: { type: "string" },
    "skip-warmup": { type: "boolean", default: false },
  },
});
const modelDir = resolve(values.model);
const sampleCount = Number(values.samples);
const batchSize = Number(values["batch-size"]);
const rounds = Number(values.rounds);
// The engine side gets the thread count `run` gives its one worker (unset: ONNX Runtime's choice) unless --threads.
const threads = values.threads ? Number(values.threads) : runWorkerThreads(1);
const cli = join(packageRoot(), "bin", "latent-fleet.js");
for (const [name, v] of [
  ["--samples", sampleCount],
  ["--batch-size", batchSize],
  ["--rounds", rounds],
  ["--threads", threads ?? 1],
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
}
if (sampleCount <= batchSize) throw new Error("--samples must be larger than --batch-size");

const COLORS = ["red", "green", "blue", "yellow", "purple", "orange"];
const SHAPES = ["circle", "square", "triangle"];
const BACKGROUNDS = ["white", "black", "gray"];

/** One side's figures for one round; times in seconds, relative to launch unless said otherwise. */
interface Side {
  wall: number;
  /** Launch to the end of the first batch. */
  firstBatch: number;
  /** End of the first batch to the last image. */
  steady: number;
  /** Last image to exit (run) or to the engine closed (engine). */
  tail: number;
  /** Launch to the first task pulled (run) or to the model loaded (engine). */
  start: number;
  /** Milestones from logs and output, seconds from launch. */
  marks: Map<string, number>;
  /** Interval between consecutive batch ends, split by whether the later batch starts a new task (shard). */
  innerGaps: number[];
  boundaryGaps: number[];
  /** CPU seconds per process role, in the steady window and over the whole run. */
  cpuSteady: Map<string, number>;
  cpuTotal: number;
  /** sha256 of each PNG, by sample id. */
  hashes: Map<string, string>;
}

/** A spec with `n` rows (prompts repeat every 54 rows, so the text-embedding cache works as in real jobs). */
async function writeSpec(dir: string, name: string, n: number): Promise<string> {
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const prompt = `a ${COLORS[i % 6]} ${SHAPES[Math.floor(i / 6) % 3]} on a ${BACKGROUNDS[Math.floor(i / 18) % 3]} background`;
    rows.push(JSON.stringify({ prompt }));
  }
  const promptsPath = join(dir, `${name}.jsonl`);
  await writeFile(promptsPath, `${rows.join("\n")}\n`);
  const specPath = join(dir, `${name}.yaml`);
  const size = Number(values.size);
  await writeFile(
    specPath,
    [
      `model: ${JSON.stringify(modelDir)}`,
      `output: ${JSON.stringify(join(dir, `${name}-out`))}`,
      "seed: 42",
      `defaults: { steps: ${Number(values.steps)}, guidance_scale: ${Number(values.guidance)}, ` +
        `scheduler: ${values.scheduler}, width: ${size}, height: ${size} }`,
      "prompts:",
      `  - file: ${JSON.stringify(promptsPath)}`,
      "",
    ].join("\n"),
  );
  return specPath;
}

/** The job's samples, in manifest order, exactly as the coordinator expands them. */
async function expand(specPath: string): Promise<ManifestSample[]> {
  const out: ManifestSample[] = [];
  for await (const e of expandSpec(await loadSpec(specPath))) {
    if (e.type === "sample") out.push(e.sample);
    else if (e.type === "row_error") throw new Error(`${e.where}: ${e.message}`);
  }
  return out;
}

/** A sample as a worker resolves it from its task: guidance through a proto float32 and back to decimal. */
function asWorkerRequest(s: ManifestSample, model: EngineHost["model"]): SampleRequest {
  return resolveSample(
    {
      prompt: s.prompt,
      negative_prompt: s.negativePrompt,
      seed: s.seed,
      steps: s.steps,
      guidance_scale: float32ToDecimal(Math.fround(s.guidanceScale)),
      scheduler: s.scheduler ?? "",
      width: s.width ?? 0,
      height: s.height ?? 0,
    },
    model,
  );
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** Steady window and batch intervals from per-sample completion times (ms) in manifest order. */
function timeline(
  doneMs: number[],
  shardOf: (index: number) => number,
): { first: number; last: number; inner: number[]; boundary: number[] } {
  const sorted = [...doneMs].sort((a, b) => a - b);
  const ends: number[] = [];
  for (let i = 0; i < doneMs.length; i += batchSize) ends.push(Math.max(...doneMs.slice(i, i + batchSize)));
  const inner: number[] = [];
  const boundary: number[] = [];
  for (let k = 1; k < ends.length; k++) {
    const startsTask = shardOf(k * batchSize) !== shardOf(k * batchSize - 1);
    // A short last batch says nothing about per-batch cost.
    if (k * batchSize + batchSize > doneMs.length) continue;
    (startsTask ? boundary : inner).push(ends[k] - ends[k - 1]);
  }
  return { first: sorted[batchSize - 1], last: sorted[sorted.length - 1], inner, boundary };
}

async function engineSide(samples: ManifestSample[], opts: { measure: boolean }): Promise<Side> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const engine = await EngineHost.start({ modelDir, device: parseDevice("cpu"), intraOpThreads: threads });
  const tReady = performance.now();
  const requests = samples.map((s) => asWorkerRequest(s, engine.model));
  const doneMs = new Array<number>(samples.length).fill(0);
  const pngs = new Array<Uint8Array>(samples.length);
  const inFlight: Promise<EngineBatch>[] = [];
  const submit = () => {
    const from = inFlight.length * batchSize;
    if (from < requests.length) inFlight.push(engine.generate(requests.slice(from, from + batchSize)));
  };
  submit();
  submit();
  let cpuFirst = cpu0;
  for (let b = 0; b * batchSize < requests.length; b++) {
    const result = await inFlight[b];
    submit();
    result.samples.forEach((s, i) => {
      const index = b * batchSize + i;
      pngs[index] = encodePng(s.rgb, s.width, s.height);
      doneMs[index] = performance.now();
    });
    if (b === 0) cpuFirst = process.cpuUsage();
  }
  const cpuLast = process.cpuUsage();
  await engine.close();
  const tEnd = performance.now();
  const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
  const tl = timeline(doneMs, (i) => Math.floor(i / DEFAULT_SHARD_SIZE));
  const hashes = new Map<string, string>();
  if (opts.measure) for (const [i, s] of samples.entries()) hashes.set(s.sampleId, sha256(pngs[i]));
  return {
    wall: (tEnd - t0) / 1000,
    firstBatch: (tl.first - t0) / 1000,
    steady: (tl.last - tl.first) / 1000,
    tail: (tEnd - tl.last) / 1000,
    start: (tReady - t0) / 1000,
    marks: new Map([["model loaded", (tReady - t0) / 1000]]),
    innerGaps: tl.inner,
    boundaryGaps: tl.boundary,
    cpuSteady: new Map([["engine", cpuSeconds(cpuLast) - cpuSeconds(cpuFirst)]]),
    cpuTotal: cpuSeconds(process.cpuUsage(cpu0)),
    hashes,
  };
}

function roleOf(argv: string[], isRoot: boolean): string {
  if (isRoot) return "run";
  if (argv.some((a) => basename(a) === "nats-server")) return "nats-server";
  if (argv.includes("coordinator")) return "coordinator";
  if (argv.includes("worker")) return "worker";
  return "other";
}

/** Epoch ms of the first log line with this message, if any. */
function logTime(lines: string[], msg: string): number | undefined {
  for (const line of lines) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      return Date.parse((JSON.parse(line) as { time: string }).time);
    } catch {}
  }
  return undefined;
}

async function runSide(specPath: string, samples: ManifestSample[], outDir: string): Promise<Side> {
  const args = [cli, "run", specPath, "--out", outDir, "--workers", "1", "--batch-size", String(batchSize)];
  if (values.threads) args.push("--threads", String(threads));
  args.push("--keep-logs");
  const reaped0 = reapedChildrenCpuSeconds();
  const t0 = Date.now();
  // Debug level: the worker logs when it pulls a task.
  const env = { ...process.env, LF_LOG_LEVEL: "debug" };
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
  const sampler = new ProcTreeCpu(child.pid ?? -1, roleOf);
  sampler.start();
  let stderr = "";
  // When `run` printed its result (the job ended) and its log folder (everything stopped).
  let printedAt: number | undefined;
  let stoppedAt: number | undefined;
  child.stdout.setEncoding("utf8").on("data", () => {
    printedAt ??= Date.now();
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
    if (/^logs: /m.test(d)) stoppedAt ??= Date.now();
  });
  const code = await new Promise<number | null>((res) => child.once("close", (c) => res(c)));
  const tEnd = Date.now();
  sampler.stop();
  const cpuTotal = reapedChildrenCpuSeconds() - reaped0;
  const logDir = /^logs: (.+)$/m.exec(stderr)?.[1];
  const logs = async (name: string) =>
    logDir ? (await readFile(join(logDir, `${name}.log`), "utf8").catch(() => "")).split("\n") : [];
  const coordinatorLog = await logs("coordinator");
  const workerLog = await logs("worker-0");
  // --keep-logs leaves `run`'s temporary folder (logs only); it is ours to remove.
  if (logDir && basename(dirname(logDir)).startsWith("latent-fleet-run-")) {
    await rm(dirname(logDir), { recursive: true, force: true });
  }
  if (code !== 0) throw new Error(`latent-fleet run exited with ${code}:\n${stderr.slice(-2000)}`);

  const indexOf = new Map(samples.map((s, i) => [s.sampleId, i]));
  const doneMs = new Array<number>(samples.length).fill(Number.NaN);
  const shard = new Array<number>(samples.length).fill(-1);
  const hashes = new Map<string, string>();
  const imagesDir = join(outDir, "images");
  for (const shardDir of await readdir(imagesDir)) {
    for (const name of await readdir(join(imagesDir, shardDir))) {
      if (!name.endsWith(".png")) continue;
      const id = name.slice(0, -4);
      const i = indexOf.get(id);
      if (i === undefined) throw new Error(`unexpected image ${shardDir}/${name}`);
      const path = join(imagesDir, shardDir, name);
      doneMs[i] = Number((await stat(path, { bigint: true })).mtimeNs) / 1e6;
      shard[i] = Number(shardDir);
      hashes.set(id, sha256(await readFile(path)));
    }
  }
  const missing = doneMs.filter(Number.isNaN).length;
  if (missing > 0) throw new Error(`latent-fleet run left ${missing} of ${samples.length} images unwritten`);
  const tl = timeline(doneMs, (i) => shard[i]);
  const marks = new Map<string, number>();
  const mark = (label: string, t: number | undefined) => {
    if (t !== undefined) marks.set(label, (t - t0) / 1000);
  };
  mark("coordinator up", logTime(coordinatorLog, "coordinator started"));
  mark("job submitted", logTime(coordinatorLog, "job submitted"));
  mark("worker up", logTime(workerLog, "worker started"));
  const firstPulled = logTime(workerLog, "task received");
  mark("first task pulled", firstPulled);
  mark("job ended", logTime(coordinatorLog, "job ended"));
  mark("coordinator stopping", logTime(coordinatorLog, "coordinator stopping"));
  mark("worker stopped", logTime(workerLog, "worker stopped"));
  mark("result printed", printedAt);
  mark("all stopped", stoppedAt);
  return {
    wall: (tEnd - t0) / 1000,
    firstBatch: (tl.first - t0) / 1000,
    steady: (tl.last - tl.first) / 1000,
    tail: (tEnd - tl.last) / 1000,
    start: firstPulled === undefined ? Number.NaN : (firstPulled - t0) / 1000,
    marks,
    innerGaps: tl.inner,
    boundaryGaps: tl.boundary,
    cpuSteady: sampler.between(tl.first, tl.last),
    cpuTotal,
    hashes,
  };
}

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
const e2eRate = (s: Side) => sampleCount / s.wall;
/** Run's start beyond the model load: launch to the first task pulled, less the engine side's model load. */
const startCostMs = (run: Side, engine: Side) => (run.start - engine.start) * 1000;
const steadyRate = (s: Side) => (sampleCount - batchSize) / s.steady;
const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
const signed = (x: number, digits = 2) =>
  Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${x.toFixed(digits)}` : "-";

/**
 * The model load as a worker process pays it: EngineHost.start in a fresh Node process (the thread's start,
 * ONNX Runtime's own start in the process, the sessions), timed inside it. The engine side's load runs in
 * this process, where ONNX Runtime started long ago, so it leaves that part out.
 */
async function freshProcessLoadMs(temp: string): Promise<number> {
  const host = join(packageRoot(), "dist", "src", "engine", "engine-host.js");
  const device = join(packageRoot(), "dist", "src", "engine", "device.js");
  const script = [
    `const { EngineHost } = await import(${JSON.stringify(host)});`,
    `const { parseDevice } = await import(${JSON.stringify(device)});`,
    "const t = performance.now();",
    `const e = await EngineHost.start({ modelDir: ${JSON.stringify(modelDir)}, device: parseDevice("cpu"), intraOpThreads: ${threads ?? "undefined"} });`,
    "process.stdout.write(String(performance.now() - t));",
    "await e.close();",
  ].join("\n");
  // A file, not --eval: the engine thread would inherit --input-type.
  const file = join(temp, "fresh-load.mjs");
  await writeFile(file, script);
  const child = spawn(process.execPath, [file], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  const code = await new Promise<number | null>((res) => child.once("close", (c) => res(c)));
  if (code !== 0) throw new Error(`the fresh-process model load exited with ${code}`);
  return Number(out);
}

/** nats-server's own start as `run` has it: spawn to listening, with a store of its own. */
async function natsServerStartMs(temp: string, r: number): Promise<number> {
  const t = performance.now();
  const server = await startEmbeddedNatsServer({ bin: findNatsServer(), storeDir: join(temp, `nats-${r}`) });
  const ms = performance.now() - t;
  await server.kill();
  return ms;
}

async function main(): Promise<void> {
  const temp = await mkdtemp(join(tmpdir(), "lf-bench-pipeline-"));
  try {
    const specPath = await writeSpec(temp, "job", sampleCount);
    const samples = await expand(specPath);
    if (samples.length !== sampleCount) throw new Error(`the spec expanded to ${samples.length} samples`);
    console.log(
      `pipeline: \`latent-fleet run --workers 1\` against the engine in-process, ${rounds} round(s), sides alternating`,
    );
    console.log(
      `model ${basename(modelDir)}, ${sampleCount} samples, ${values.steps} steps, ${values.scheduler}, ` +
        `CFG ${values.guidance}, ${values.size}x${values.size}, batch ${batchSize}, cpu, ${threads ?? "ONNX Runtime's choice of"} ORT thread(s) ` +
        `each, ${availableParallelism()} cores`,
    );
    // Other load skews the two sides differently: besides taking cores, with Linux autogroup scheduling
    // the run's processes (a session of their own) get a CPU share apart from this process's.
    const load = loadavg()[0];
    if (load > availableParallelism() / 4) {
      console.log(
        `warning: load average ${load.toFixed(2)} on ${availableParallelism()} cores; take figures on a quiet machine`,
      );
    }
    if (!values["skip-warmup"]) {
      // Untimed: brings the model, native libraries and nats-server into the page cache for both sides.
      const warmSpec = await writeSpec(temp, "warmup", 2 * batchSize);
      const warmSamples = await expand(warmSpec);
      await runSide(warmSpec, warmSamples, join(temp, "warmup-out"));
      await engineSide(warmSamples, { measure: false });
    }
    const engine: Side[] = [];
    const run: Side[] = [];
    const freshLoads: number[] = [];
    const natsStarts: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // The two parts of the start that the goal leaves out, measured alone each round (before its sides).
      freshLoads.push(await freshProcessLoadMs(temp));
      natsStarts.push(await natsServerStartMs(temp, r));
      const outDir = join(temp, `out-${r}`);
      const engineFirst = r % 2 === 0;
      const first = engineFirst
        ? await engineSide(samples, { measure: true })
        : await runSide(specPath, samples, outDir);
      const second = engineFirst
        ? await runSide(specPath, samples, outDir)
        : await engineSide(samples, { measure: true });
      const [e, p] = engineFirst ? [first, second] : [second, first];
      await rm(outDir, { recursive: true, force: true });
      engine.push(e);
      run.push(p);
      let same = 0;
      for (const [id, h] of e.hashes) if (p.hashes.get(id) === h) same++;
      console.log(
        `round ${r + 1} (${engineFirst ? "engine" : "run"} first): ` +
          `engine ${fmt(e.wall, 1)} s, ${fmt(e2eRate(e))} img/s e2e, ${fmt(steadyRate(e))} steady | ` +
          `run ${fmt(p.wall, 1)} s, ${fmt(e2eRate(p))} img/s e2e, ${fmt(steadyRate(p))} steady | ` +
          `ratio e2e ${fmt(e2eRate(p) / e2eRate(e), 3)}, steady ${fmt(steadyRate(p) / steadyRate(e), 3)} | ` +
          `run's fixed costs: start ${fmt(startCostMs(p, e), 0)} ms ` +
          `(${fmt(p.start * 1000 - natsStarts[r] - freshLoads[r], 0)} beyond nats-server's start and a fresh process's load), ` +
          `end ${fmt(p.tail * 1000, 0)} ms | ` +
          `identical PNGs ${same}/${sampleCount}`,
      );
    }
    report(engine, run, freshLoads, natsStarts);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

function report(engine: Side[], run: Side[], freshLoads: number[], natsStarts: number[]): void {
  const med = (sides: Side[], f: (s: Side) => number) => median(sides.map(f));
  const ratio = (f: (s: Side) => number) => median(run.map((p, i) => f(p) / f(engine[i])));
  const diff = (f: (s: Side) => number) => median(run.map((p, i) => f(p) - f(engine[i])));
  // End to end, start-up included: >= 0.9 on a short job (the default 192 samples), >= 0.95 on a job of
  // about a minute or more; the steady rate >= 0.95 on any.
  const e2eGoal = med(engine, (s) => s.wall) >= 45 ? 0.95 : 0.9;
  const goal = (x: number, g: number) => `(goal ${g}: ${x >= g ? "met" : "NOT met"})`;
  const rows: [string, string, string, string][] = [];
  const rate = (label: string, f: (s: Side) => number, g = 0.95) => {
    const r = ratio(f);
    rows.push([label, fmt(med(engine, f)), fmt(med(run, f)), `${fmt(r, 3)} ${goal(r, g)}`]);
  };
  const time = (label: string, f: (s: Side) => number, digits = 2) =>
    rows.push([label, fmt(med(engine, f), digits), fmt(med(run, f), digits), signed(diff(f), digits)]);
  time("(a) end-to-end wall, s", (s) => s.wall);
  rate("(a) end-to-end img/s", e2eRate, e2eGoal);
  const startCost = median(run.map((p, i) => startCostMs(p, engine[i])));
  rows.push([
    "  run's start: launch to 1st task pulled, ms",
    fmt(med(engine, (s) => s.start) * 1000, 0),
    fmt(med(run, (s) => s.start) * 1000, 0),
    `${fmt(startCost, 0)} beyond the model load (engine: its load)`,
  ]);
  // The issue's measure: beyond nats-server's own start and the model load as a worker process pays it.
  const beyond = median(run.map((p, i) => p.start * 1000 - natsStarts[i] - freshLoads[i]));
  rows.push([
    "    less nats-server's start and a fresh load, ms",
    `${fmt(median(natsStarts), 0)} + ${fmt(median(freshLoads), 0)}`,
    "",
    `${fmt(beyond, 0)} (goal: well under a second)`,
  ]);
  rows.push([
    "  run's end: last image to exit, ms",
    fmt(med(engine, (s) => s.tail) * 1000, 0),
    fmt(med(run, (s) => s.tail) * 1000, 0),
    "(engine: its close)",
  ]);
  rate("(b) steady img/s (1st batch end to last image)", steadyRate);
  rows.push(["where the wall time goes:", "", "", "run - engine"]);
  time("  launch to end of 1st batch, s", (s) => s.firstBatch);
  time("  steady window, s", (s) => s.steady);
  time("  last image to exit, s", (s) => s.tail);
  // Run only: the tail in steps (the engine's tail is its close).
  const since = (from: string | undefined, to: string | undefined) => (s: Side) => {
    const last = s.firstBatch + s.steady;
    const a = from === undefined ? last : (s.marks.get(from) ?? Number.NaN);
    const b = to === undefined ? s.wall : (s.marks.get(to) ?? Number.NaN);
    return b - a;
  };
  time("    last image to result printed (job ended), s", since(undefined, "result printed"));
  time("    result printed to all processes stopped, s", since("result printed", "all stopped"));
  time("    all stopped to `run` exited, s", since("all stopped", undefined));
  const gap = (f: (s: Side) => number[]) => (s: Side) => mean(f(s));
  time(
    "  batch interval inside a task, ms",
    gap((s) => s.innerGaps),
    0,
  );
  time(
    "  batch interval starting a new task, ms",
    gap((s) => s.boundaryGaps),
    0,
  );
  const cpu = (role: string) => (s: Side) => s.cpuSteady.get(role) ?? 0;
  const cpuOf = (s: Side) => [...s.cpuSteady.values()].reduce((a, b) => a + b, 0);
  time("  CPU s in the steady window, all processes", cpuOf);
  time("  CPU s in the whole run, all processes", (s) => s.cpuTotal);

  console.log(`\nmedians over ${run.length} round(s)`);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c].length), c === 0 ? 0 : 8));
  const line = (r: string[]) =>
    console.log(
      `${r[0].padEnd(widths[0])} | ${r[1].padStart(widths[1])} | ${r[2].padStart(widths[2])} | ${r[3]}`,
    );
  line(["", "engine", "run", "run/engine"]);
  for (const r of rows) line(r);

  const roles = ["worker", "coordinator", "nats-server", "run", "other"];
  const perRole = roles
    .map((role) => [role, median(run.map(cpu(role)))] as const)
    .filter(([, v]) => v > 0.005)
    .map(([role, v]) => `${role} ${fmt(v)}`)
    .join(", ");
  const steadyS = med(run, (s) => s.steady);
  console.log(
    `\nCPU s in the steady window: engine process ${fmt(med(engine, cpu("engine")))} ` +
      `(${fmt(med(engine, cpu("engine")) / med(engine, (s) => s.steady))} cores busy); ` +
      `run: ${perRole || "n/a (no /proc)"} (${fmt(med(run, cpuOf) / steadyS)} cores busy)`,
  );
  const marks = (sides: Side[]) => {
    const labels = [...new Set(sides.flatMap((s) => [...s.marks.keys()]))];
    return labels
      .map((l) => [l, median(sides.map((s) => s.marks.get(l) ?? Number.NaN))] as const)
      .sort((a, b) => a[1] - b[1])
      .map(([l, t]) => `${l} ${fmt(t)}`)
      .join(", ");
  };
  console.log(
    `milestones, s from launch: engine: ${marks(engine)}, 1st batch ${fmt(med(engine, (s) => s.firstBatch))}`,
  );
  console.log(
    `  run: ${marks(run)}; 1st batch ${fmt(med(run, (s) => s.firstBatch))}, last image ${fmt(med(run, (s) => s.firstBatch + s.steady))}, exit ${fmt(med(run, (s) => s.wall))}`,
  );
}

await main();
