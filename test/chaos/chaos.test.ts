/**
 * Chaos: jobs of over 2,000 samples on a fleet of real processes (nats-server with file storage, the
 * coordinator, three or more workers running the bundled model at 16x16, one step), while faults are
 * injected at moments drawn from a seeded random stream (printed; LF_CHAOS_SEED=<seed> repeats them):
 * workers killed with SIGKILL and replaced, nats-server stopped and started again on its port and store,
 * the coordinator killed and restarted, poison samples, the output disk full and then read-only, and (as
 * root, with network namespaces) a worker cut off from NATS for longer than the ack window.
 *
 * Each fault must hit a running job: the job is RUNNING with samples left at the fault's moment, a killed or
 * cut-off worker held a task it had not finished (its "task received" debug lines), and a worker met the
 * full (ENOSPC) and the read-only (EROFS) disk. After each fault the job must end with every sample in
 * metadata.jsonl exactly once (or named with its reason in errors.jsonl, for the poison samples alone),
 * every file a valid PNG, no temporary files left, and the same samples (ids, seeds, file names, PNG
 * bytes) as a fault-free run of the same spec: one reference run per spec, shared by the tests using it.
 * A table of the faults and their outcomes is printed at the end. Every wait is bounded; processes,
 * mounts, namespaces and folders are removed in afterAll, also when a test fails.
 *
 * The disk and partition steps need root (tmpfs mounts, network namespaces); where they cannot inject,
 * vitest reports them skipped, with the reason. LF_CHAOS_AS_USER=1 makes the suite behave as if not root,
 * to see those steps reported skipped.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Job } from "../../src/common/proto/generated/latentfleet/v1/Job.js";
import type { CliProcess } from "../helpers/cli-processes.js";
import { outageCodes, type TaskDelivery, tasksDone, tasksHeld } from "../helpers/worker-log.js";
import {
  diskFaultsUnavailable,
  fillDisk,
  makeReadOnly,
  makeWritable,
  mountTmpfs,
  signalLive,
} from "./disk-faults.js";
import { Fleet, seededRandom } from "./fleet.js";
import {
  type ChaosJob,
  checkOutput,
  compareWithReference,
  digestOutput,
  type OutputDigest,
  templateSampleId,
  writeChaosJob,
} from "./job-output.js";
import { netnsUnavailable, TestNetwork } from "./netns.js";

const SEED = Number(process.env.LF_CHAOS_SEED ?? Date.now() % 1_000_000_000);
const random = seededRandom(SEED);
const SHARD_SIZE = 16;
/** 600 template rows x 4 images: 2,400 samples in 150 tasks. */
const ROWS = 600;
const PER_PROMPT = 4;
const JOB_TIMEOUT_MS = 90_000;
/** Every worker of the fleet sets the model's consumer: a lost task comes back after 3 s. */
const WORKER_FLAGS = ["--ack-wait", "3", "--max-deliver", "5"];

interface FaultRow {
  fault: string;
  injected: string;
  outcome: string;
  seconds: number;
}
const faults: FaultRow[] = [];

/** Why a step cannot inject its fault here (computed up front: vitest then reports it skipped). */
const AS_USER = "LF_CHAOS_AS_USER=1 (as if not root)";
const asUser = process.env.LF_CHAOS_AS_USER === "1";
const noDisk = asUser ? AS_USER : await diskFaultsUnavailable();
const noNetns = asUser ? AS_USER : netnsUnavailable();
/** Workers log "task received" at debug level: a fault must hit a worker holding a task. */
const DEBUG_ENV = { ...process.env, LF_LOG_LEVEL: "debug" };

function between(lo: number, hi: number): number {
  return lo + (hi - lo) * random();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The plain job: template rows only, every sample succeeds. */
function plainJob(dir: string): Promise<ChaosJob> {
  return writeChaosJob(dir, { rows: ROWS, perPrompt: PER_PROMPT });
}

/** The engine refuses an LCM run longer than the model's original_inference_steps (50), every time. */
const LCM_REFUSED = new Map<string, RegExp>([["poison-lcm-0", /LCM steps \(60\) must not exceed/]]);

/** The template rows and three rows of a file, one of them a sample the engine refuses. */
function poisonJob(dir: string, failing = LCM_REFUSED): Promise<ChaosJob> {
  const lcm = { id: "poison-lcm", prompt: "a red circle on a white background", scheduler: "lcm", steps: 60 };
  const good = (i: number) => ({ id: `good-${i}`, prompt: "a blue square on a black background", seed: i });
  return writeChaosJob(dir, {
    rows: ROWS,
    perPrompt: PER_PROMPT,
    extra: [
      { ...good(1), images_per_prompt: 1 },
      { ...lcm, images_per_prompt: 1 },
      { ...good(2), images_per_prompt: 1 },
    ],
    failing,
  });
}

type Shape = "plain" | "poison";
const references = new Map<Shape, Promise<OutputDigest>>();

/**
 * The output of a fault-free run of a spec shape: run once, on the fleet of the first test that asks (the
 * same spec gives the same samples on any fleet), and shared by every test of that shape.
 */
function reference(shape: Shape, fleet: Fleet, root: string): Promise<OutputDigest> {
  let digest = references.get(shape);
  if (!digest) {
    digest = (async () => {
      const job = await (shape === "plain" ? plainJob : poisonJob)(join(root, `spec-ref-${shape}`));
      const out = join(root, `out-ref-${shape}`);
      const expectState = job.failing.size > 0 ? "JOB_STATE_FAILED" : "JOB_STATE_SUCCEEDED";
      await chaosRun(
        fleet,
        { fault: `none (${shape} reference)`, job, out, expect: expectState },
        async () => "-",
      );
      return digestOutput(out);
    })();
    references.set(shape, digest);
  }
  return digest;
}

function describeEnd(job: Job, check: { rows: number; failed: number }, compared?: number): string {
  const state = job.state.replace("JOB_STATE_", "");
  const failed = check.failed > 0 ? `, ${check.failed} failed as expected (errors.jsonl)` : "";
  const same = compared === undefined ? "" : `; ${compared} = fault-free run (id, seed, file, PNG bytes)`;
  return `${state}; ${check.rows}/${Number(job.samples_total)} in metadata once, PNGs valid, no tmp files${failed}${same}`;
}

function progressOf(job: Job | undefined): string {
  return job ? `${Number(job.samples_done) + Number(job.samples_failed)}/${Number(job.samples_total)}` : "?";
}

/** A job under way: its tasks are still being published, or all are out and being run. */
const UNDER_WAY = ["JOB_STATE_PUBLISHING", "JOB_STATE_RUNNING"];

/** The job's progress at a fault's moment; fails unless the job is under way with samples still to make. */
async function runningAt(fleet: Fleet, jobId: string): Promise<string> {
  const job = await fleet.getJob(jobId);
  const at = progressOf(job);
  expect(UNDER_WAY, `the job's state at the fault's moment (${at})`).toContain(job?.state);
  const made = Number(job?.samples_done) + Number(job?.samples_failed);
  expect(made, `the job had no samples left at the fault's moment (${at})`).toBeLessThan(
    Number(job?.samples_total),
  );
  return at;
}

/** Waits (bounded) until the worker holds a task of the job it has not finished. */
async function untilHolding(p: CliProcess, jobId: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (tasksHeld(p.output(), jobId).length === 0) {
    if (Date.now() > deadline)
      throw new Error(`${p.name} held no task of job ${jobId} within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** How far each worker's output goes now, to read only what comes after. */
function logOffsets(fleet: Fleet): Map<string, number> {
  return new Map([...fleet.workers].map(([id, p]) => [id, p.output().length]));
}

/** Waits (bounded) for a worker's unusable-output warning with a code matching `code`, written after `from`. */
async function untilOutageLogged(
  fleet: Fleet,
  from: Map<string, number>,
  code: RegExp,
  timeoutMs: number,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const [id, p] of fleet.workers) {
      const seen = outageCodes(p.output().slice(from.get(id) ?? 0)).find((c) => code.test(c));
      if (seen) return `${id} logged ${seen}`;
    }
    if (Date.now() > deadline) return undefined;
    await sleep(100);
  }
}

/**
 * Submits, runs `inject` while the job runs, waits for the end, checks the output (against the fault-free
 * `reference` when given), records a table row.
 */
async function chaosRun(
  fleet: Fleet,
  run: {
    fault: string;
    job: ChaosJob;
    out: string;
    expect?: "JOB_STATE_SUCCEEDED" | "JOB_STATE_FAILED";
    reference?: OutputDigest;
  },
  inject: (jobId: string) => Promise<string>,
): Promise<void> {
  const { fault, job, out } = run;
  const expectState = run.expect ?? "JOB_STATE_SUCCEEDED";
  const t0 = Date.now();
  const seconds = () => Math.round((Date.now() - t0) / 100) / 10;
  const firstLine = (err: unknown) => (err as Error).message.split("\n")[0];
  const jobId = await (await fleet.client()).submit(job.spec, { out });
  let injected: string;
  try {
    injected = await inject(jobId);
  } catch (err) {
    faults.push({ fault, injected: `NOT INJECTED: ${firstLine(err)}`, outcome: "-", seconds: seconds() });
    throw err;
  }
  let outcome: string;
  try {
    const end = await fleet.waitForEnd(jobId, JOB_TIMEOUT_MS);
    expect(end.state, end.error).toBe(expectState);
    expect(Number(end.samples_done)).toBe(job.total - job.failing.size);
    expect(Number(end.samples_failed)).toBe(job.failing.size);
    const check = await checkOutput(out, job);
    const compared = run.reference ? await compareWithReference(out, job, run.reference) : undefined;
    outcome = describeEnd(end, check, compared);
  } catch (err) {
    faults.push({ fault, injected, outcome: `FAILED CHECK: ${firstLine(err)}`, seconds: seconds() });
    throw err;
  }
  faults.push({ fault, injected, outcome, seconds: seconds() });
}

function printTable(): void {
  if (faults.length === 0) return;
  const header = ["fault", "injected", "outcome", "s"];
  const rows = faults.map((f) => [f.fault, f.injected, f.outcome, String(f.seconds)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(
    [
      `chaos seed ${SEED} (LF_CHAOS_SEED=${SEED} repeats the fault moments)`,
      line(header),
      `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
      ...rows.map(line),
    ].join("\n"),
  );
}

afterAll(() => printTable());

if (noDisk !== undefined) console.log(`chaos: the output disk test is skipped: ${noDisk}`);
const diskTitle = `fills the output disk, then makes it read-only, for a while each; the job completes${
  noDisk ? ` (skipped: ${noDisk})` : ""
}`;

describe("chaos: a fleet of processes on this host", () => {
  let root: string;
  let fleet: Fleet;
  let mounted: string | undefined;
  let workerSeq = 0;

  async function startWorkers(n: number, flags = WORKER_FLAGS): Promise<void> {
    fleet.opts.workerFlags = flags;
    await Promise.all(Array.from({ length: n }, () => fleet.startWorker(`w${++workerSeq}`)));
  }

  beforeAll(async () => {
    console.log(`chaos seed ${SEED}`);
    root = await mkdtemp(join(tmpdir(), "lf-chaos-"));
    fleet = await Fleet.start({
      root,
      coordinatorFlags: ["--shard-size", String(SHARD_SIZE)],
      workerEnv: DEBUG_ENV,
    });
    await fleet.startCoordinator();
    await startWorkers(3);
  });

  afterAll(async () => {
    await fleet?.stop();
    if (mounted) spawnSync("umount", ["-l", mounted]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("kills workers with SIGKILL at random moments and starts new ones", async () => {
    const ref = await reference("plain", fleet, root);
    const job = await plainJob(join(root, "spec-kill"));
    const moments = [random(), random(), random()].map((f) => 0.1 + 0.6 * f).sort((a, b) => a - b);
    const starting: Promise<void>[] = [];
    const out = join(root, "out-kill");
    const victims: { victim: string; held: TaskDelivery[] }[] = [];
    let jobId = "";
    await chaosRun(fleet, { fault: "worker SIGKILL x3", job, out, reference: ref }, async (id) => {
      jobId = id;
      const done: string[] = [];
      for (const f of moments) {
        await fleet.waitForProgress(id, Math.floor(f * job.total));
        const alive = fleet.startedWorkers();
        const victim = alive[Math.floor(random() * alive.length)];
        const proc = fleet.workers.get(victim);
        if (!proc) throw new Error(`no worker ${victim}`);
        const at = await runningAt(fleet, id);
        // Killed while it holds a task it has not finished: one between tasks would lose nothing.
        await untilHolding(proc, id);
        const held = tasksHeld(await fleet.killWorker(victim), id);
        expect(
          held.length,
          `${victim} held no unfinished task of the job when it was killed`,
        ).toBeGreaterThan(0);
        victims.push({ victim, held });
        done.push(`${victim} at ${at} holding ${held.length} unfinished task(s)`);
        // The replacement starts while the job goes on (loading the model takes a second or two).
        starting.push(startWorkers(1));
      }
      await Promise.all(starting);
      return `killed ${done.join(", ")}; each replaced by a new worker`;
    });
    // A task a victim held came back: another worker finished it on a later delivery.
    for (const { victim, held } of victims) {
      const others = fleet.processes
        .filter((p) => p.name !== victim && p.name !== "coordinator")
        .flatMap((p) => tasksDone(p.output(), jobId));
      const redone = held.filter((h) => others.some((o) => o.shard === h.shard && o.delivery > h.delivery));
      expect(redone.length, `no task ${victim} held was finished on a later delivery`).toBeGreaterThan(0);
    }
  });

  it("stops nats-server for several seconds and starts it again on its port and store", async () => {
    const ref = await reference("plain", fleet, root);
    const job = await plainJob(join(root, "spec-nats"));
    const f = between(0.2, 0.5);
    const downMs = Math.round(between(3_000, 6_000));
    const out = join(root, "out-nats");
    await chaosRun(fleet, { fault: "nats-server down", job, out, reference: ref }, async (id) => {
      await fleet.waitForProgress(id, Math.floor(f * job.total));
      const at = await runningAt(fleet, id);
      await fleet.nats.stop();
      await sleep(downMs);
      await fleet.nats.restart();
      return `stopped (SIGTERM) at ${at} for ${(downMs / 1000).toFixed(1)} s, same port and store`;
    });
  });

  it("kills the coordinator with SIGKILL and starts it again", async () => {
    const ref = await reference("plain", fleet, root);
    const job = await plainJob(join(root, "spec-coord"));
    const f = between(0.15, 0.6);
    const downMs = Math.round(between(1_000, 3_000));
    const out = join(root, "out-coord");
    await chaosRun(fleet, { fault: "coordinator SIGKILL", job, out, reference: ref }, async (id) => {
      await fleet.waitForProgress(id, Math.floor(f * job.total));
      const at = await runningAt(fleet, id);
      await fleet.killCoordinator();
      await sleep(downMs);
      await fleet.startCoordinator();
      return `killed at ${at}, restarted after ${(downMs / 1000).toFixed(1)} s`;
    });
  });

  it.skipIf(noDisk !== undefined)(diskTitle, async () => {
    const ref = await reference("plain", fleet, root);
    const outRoot = join(root, "disk");
    await mkdir(outRoot, { recursive: true });
    // A small file system of its own: 2,400 tiny files take a 4 KiB page each.
    mountTmpfs(outRoot, "48m");
    mounted = outRoot;
    const filler = join(outRoot, "filler");
    const job = await plainJob(join(root, "spec-disk"));
    const out = join(outRoot, "out");
    const fullMs = Math.round(between(4_000, 7_000));
    const roMs = Math.round(between(3_000, 5_000));
    const fault = "output disk full, then read-only";
    await chaosRun(fleet, { fault, job, out, reference: ref }, async (id) => {
      // Early in the job: the fleet runs it in a few seconds, and a loaded machine can starve this process for as long.
      await fleet.waitForProgress(id, Math.floor(between(0.05, 0.15) * job.total));
      let from = logOffsets(fleet);
      let at1: string;
      let enospc: string | undefined;
      try {
        // The fleet's processes are stopped while the disk fills: on a loaded machine this process can wait
        // seconds for a core while they run the job to its end, and the fault would then miss the job.
        const paused = fleet.pids();
        signalLive(paused, "SIGSTOP");
        try {
          await fillDisk(filler);
        } finally {
          signalLive(paused, "SIGCONT");
        }
        const since = Date.now();
        at1 = await runningAt(fleet, id);
        enospc = await untilOutageLogged(fleet, from, /ENOSPC/, 20_000);
        await sleep(fullMs - (Date.now() - since));
      } finally {
        await rm(filler, { force: true });
      }
      if (!enospc) throw new Error("no worker logged ENOSPC while the disk was full");

      await fleet.waitForProgress(id, Math.floor(between(0.3, 0.45) * job.total), 60_000);
      from = logOffsets(fleet);
      makeReadOnly(outRoot, fleet.pids());
      let at2: string;
      let erofs: string | undefined;
      try {
        const since = Date.now();
        at2 = await runningAt(fleet, id);
        erofs = await untilOutageLogged(fleet, from, /EROFS/, 20_000);
        await sleep(roMs - (Date.now() - since));
      } finally {
        makeWritable(outRoot);
      }
      if (!erofs) throw new Error("no worker logged EROFS while the disk was read-only");
      return (
        `disk full at ${at1} for ${(fullMs / 1000).toFixed(1)} s (${enospc}); ` +
        `read-only at ${at2} for ${(roMs / 1000).toFixed(1)} s (${erofs})`
      );
    });
    if (mounted) {
      spawnSync("umount", ["-l", outRoot]);
      mounted = undefined;
    }
  });

  it("reports poison samples with their reasons and completes the rest", async () => {
    // Dead-lettering needs a short max_deliver: the workers set it on the model's consumer when they start.
    await fleet.stopWorkers();
    await startWorkers(3, ["--ack-wait", "3", "--max-deliver", "3"]);
    // The fault-free run of this spec: the LCM sample alone fails.
    const ref = await reference("poison", fleet, root);
    // A folder where one image must go: writing the shard fails on every delivery, so it is dead-lettered.
    const deadShard = 25;
    const deadRows = [100, 101, 102, 103];
    const failing = new Map(LCM_REFUSED);
    // The reason is the worker's write error when its report of the last delivery lands first, or the
    // dead letter's when the coordinator folds the max-deliveries advisory first; both name the samples.
    for (const r of deadRows)
      for (let k = 0; k < PER_PROMPT; k++)
        failing.set(templateSampleId(r, k), /EISDIR|cannot write|dead-lettered after \d+ deliveries/);
    const job = await poisonJob(join(root, "spec-poison"), failing);
    const out = join(root, "out-poison");
    const obstacle = join(
      out,
      "images",
      String(deadShard).padStart(6, "0"),
      `${templateSampleId(100, 0)}.png`,
    );
    await mkdir(obstacle, { recursive: true });
    try {
      await chaosRun(
        fleet,
        { fault: "poison samples", job, out, expect: "JOB_STATE_FAILED", reference: ref },
        async () =>
          `a sample the engine refuses (lcm, 60 steps); shard ${deadShard} unwritable (a folder in the way)`,
      );
    } finally {
      await rm(obstacle, { recursive: true, force: true });
    }
  });
});

if (noNetns !== undefined) console.log(`chaos: the network partition test is skipped: ${noNetns}`);
const netTitle = `chaos: workers and NATS on test hosts of their own${noNetns ? ` (skipped: ${noNetns})` : ""}`;

describe.skipIf(noNetns !== undefined)(netTitle, () => {
  let root: string;
  let network: TestNetwork | undefined;
  let fleet: Fleet | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "lf-chaos-net-"));
    network = TestNetwork.create();
    fleet = await Fleet.start({
      root,
      network,
      coordinatorFlags: ["--shard-size", String(SHARD_SIZE)],
      workerFlags: WORKER_FLAGS,
      workerEnv: DEBUG_ENV,
    });
    await fleet.startCoordinator();
    const hosts = [1, 2, 3].map((k) => (network as TestNetwork).addWorkerHost(k));
    await Promise.all(hosts.map((h, i) => (fleet as Fleet).startWorker(`h${i + 1}`, h)));
  });

  afterAll(async () => {
    await fleet?.stop();
    network?.removeAll();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("cuts a worker off for longer than the ack window; its late result and ack change nothing", async () => {
    const f = fleet as Fleet;
    const net = network as TestNetwork;
    const ref = await reference("plain", f, root);
    const job = await plainJob(join(root, "spec-cut"));
    const cutMs = Math.round(between(7_000, 9_000));
    const victim = "h1";
    const out = join(root, "out-cut");
    await chaosRun(f, { fault: "network partition", job, out, reference: ref }, async (id) => {
      await f.waitForProgress(id, Math.floor(between(0.1, 0.3) * job.total));
      const host = f.hostOf(victim);
      const proc = f.workers.get(victim);
      if (!host || !proc) throw new Error(`${victim} runs on no test host`);
      // Cut while the victim holds a task it has not finished: a worker between tasks, or waiting on its
      // pull, would have nothing to lapse.
      await untilHolding(proc, id);
      net.setLink(host, false);
      let at: string;
      try {
        at = await runningAt(f, id);
        await sleep(cutMs);
      } finally {
        net.setLink(host, true);
      }
      return `${victim}'s link down at ${at} for ${(cutMs / 1000).toFixed(1)} s (ack window 3 s)`;
    });
    // The job may end before the cut-off worker has heard back from NATS (its result publishes time out
    // first): give it time to decide about the tasks it held.
    const back = f.workers.get(victim);
    await back?.waitForOutput(/"msg":"task left to its redelivery/, 30_000).catch(() => undefined);
    await sleep(1_000);
    const logs = new Map([...f.workers].map(([id, p]) => [id, p.output()]));
    const cutLog = logs.get(victim) ?? "";
    // The cut-off worker had tasks in hand: it left them to their redelivery instead of acking them.
    const lapsed = [...cutLog.matchAll(/"msg":"task left to its redelivery[^\n]*"shard":"?(\d+)/g)].map(
      (m) => m[1],
    );
    expect(lapsed.length, cutLog.slice(-3000)).toBeGreaterThan(0);
    // Each was finished by another worker on a later delivery, and no task needed a third delivery
    // (a late nak or ack of the cut-off worker would have caused one, or lost the task).
    for (const shard of lapsed) {
      const others = [...logs]
        .filter(([id]) => id !== victim)
        .map(([, log]) => log)
        .join("\n");
      expect(others).toMatch(new RegExp(`"msg":"task done"[^\\n]*"shard":"?${shard}"?[^\\n]*"delivery":2`));
    }
    const deliveries = [
      ...[...logs.values()].join("\n").matchAll(/"msg":"task done"[^\n]*"delivery":(\d+)/g),
    ];
    expect(Math.max(...deliveries.map((m) => Number(m[1])))).toBeLessThanOrEqual(2);
  });
});
