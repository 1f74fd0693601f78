/**
 * Chaos: jobs of over 2,000 samples on a fleet of real processes (nats-server with file storage, the
 * coordinator, three or more workers running the bundled model at 16x16, one step), while faults are
 * injected at moments drawn from a seeded random stream (printed; LF_CHAOS_SEED=<seed> repeats them):
 * workers killed with SIGKILL and replaced, nats-server stopped and started again on its port and store,
 * the coordinator killed and restarted, poison samples, the output disk full and then read-only, and (as
 * root, with network namespaces) a worker cut off from NATS for longer than the ack window.
 *
 * After each fault the job must end with every sample in metadata.jsonl exactly once (or named with its
 * reason in errors.jsonl, for the poison samples alone), every file a valid PNG, no temporary files left.
 * A table of the faults and their outcomes is printed at the end. Every wait is bounded; processes,
 * mounts, namespaces and folders are removed in afterAll, also when a test fails.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Job } from "../../src/common/proto/generated/latentfleet/v1/Job.js";
import { Fleet, seededRandom } from "./fleet.js";
import { type ChaosJob, checkOutput, templateSampleId, writeChaosJob } from "./job-output.js";
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

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const noNetns = netnsUnavailable();

function between(lo: number, hi: number): number {
  return lo + (hi - lo) * random();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function describeEnd(job: Job, check: { rows: number; failed: number }): string {
  const state = job.state.replace("JOB_STATE_", "");
  const failed = check.failed > 0 ? `, ${check.failed} failed as expected (errors.jsonl)` : "";
  return `${state}; ${check.rows}/${Number(job.samples_total)} in metadata once, PNGs valid, no tmp files${failed}`;
}

function progressOf(job: Job | undefined): string {
  return job ? `${Number(job.samples_done) + Number(job.samples_failed)}/${Number(job.samples_total)}` : "?";
}

/** Submits, runs `inject` while the job runs, waits for the end, checks the output, records a table row. */
async function chaosRun(
  fleet: Fleet,
  run: { fault: string; job: ChaosJob; out: string; expect?: "JOB_STATE_SUCCEEDED" | "JOB_STATE_FAILED" },
  inject: (jobId: string) => Promise<string>,
): Promise<void> {
  const { fault, job, out } = run;
  const expectState = run.expect ?? "JOB_STATE_SUCCEEDED";
  const t0 = Date.now();
  const jobId = await (await fleet.client()).submit(job.spec, { out });
  const injected = await inject(jobId);
  const end = await fleet.waitForEnd(jobId, JOB_TIMEOUT_MS);
  const seconds = Math.round((Date.now() - t0) / 100) / 10;
  let outcome: string;
  try {
    expect(end.state, end.error).toBe(expectState);
    expect(Number(end.samples_done)).toBe(job.total - job.failing.size);
    expect(Number(end.samples_failed)).toBe(job.failing.size);
    outcome = describeEnd(end, await checkOutput(out, job));
  } catch (err) {
    faults.push({
      fault,
      injected,
      outcome: `FAILED CHECK: ${(err as Error).message.split("\n")[0]}`,
      seconds,
    });
    throw err;
  }
  faults.push({ fault, injected, outcome, seconds });
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
    fleet = await Fleet.start({ root, coordinatorFlags: ["--shard-size", String(SHARD_SIZE)] });
    await fleet.startCoordinator();
    await startWorkers(3);
  });

  afterAll(async () => {
    await fleet?.stop();
    if (mounted) spawnSync("umount", ["-l", mounted]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("kills workers with SIGKILL at random moments and starts new ones", async () => {
    const job = await writeChaosJob(join(root, "spec-kill"), { rows: ROWS, perPrompt: PER_PROMPT });
    const moments = [random(), random(), random()].map((f) => 0.1 + 0.6 * f).sort((a, b) => a - b);
    const starting: Promise<void>[] = [];
    const out = join(root, "out-kill");
    await chaosRun(fleet, { fault: "worker SIGKILL x3", job, out }, async (id) => {
      const done: string[] = [];
      for (const f of moments) {
        await fleet.waitForProgress(id, Math.floor(f * job.total));
        const alive = fleet.startedWorkers();
        const victim = alive[Math.floor(random() * alive.length)];
        const at = progressOf(await fleet.getJob(id));
        await fleet.killWorker(victim);
        done.push(`${victim} at ${at}`);
        // The replacement starts while the job goes on (loading the model takes a second or two).
        starting.push(startWorkers(1));
      }
      await Promise.all(starting);
      return `killed ${done.join(", ")}; each replaced by a new worker`;
    });
  });

  it("stops nats-server for several seconds and starts it again on its port and store", async () => {
    const job = await writeChaosJob(join(root, "spec-nats"), { rows: ROWS, perPrompt: PER_PROMPT });
    const f = between(0.2, 0.5);
    const downMs = Math.round(between(3_000, 6_000));
    await chaosRun(fleet, { fault: "nats-server down", job, out: join(root, "out-nats") }, async (id) => {
      await fleet.waitForProgress(id, Math.floor(f * job.total));
      const at = progressOf(await fleet.getJob(id));
      await fleet.nats.stop();
      await sleep(downMs);
      await fleet.nats.restart();
      return `stopped (SIGTERM) at ${at} for ${(downMs / 1000).toFixed(1)} s, same port and store`;
    });
  });

  it("kills the coordinator with SIGKILL and starts it again", async () => {
    const job = await writeChaosJob(join(root, "spec-coord"), { rows: ROWS, perPrompt: PER_PROMPT });
    const f = between(0.15, 0.6);
    const downMs = Math.round(between(1_000, 3_000));
    await chaosRun(fleet, { fault: "coordinator SIGKILL", job, out: join(root, "out-coord") }, async (id) => {
      await fleet.waitForProgress(id, Math.floor(f * job.total));
      const at = progressOf(await fleet.getJob(id));
      await fleet.killCoordinator();
      await sleep(downMs);
      await fleet.startCoordinator();
      return `killed at ${at}, restarted after ${(downMs / 1000).toFixed(1)} s`;
    });
  });

  it("fills the output disk, then makes it read-only, for a while each; the job completes", async () => {
    const outRoot = join(root, "disk");
    await mkdir(outRoot, { recursive: true });
    const job = await writeChaosJob(join(root, "spec-disk"), { rows: ROWS, perPrompt: PER_PROMPT });
    const out = join(outRoot, "out");
    let filler: string | undefined;
    if (isRoot) {
      // A small file system of its own: 2,400 tiny files take a 4 KiB page each.
      const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=48m", "lf-chaos", outRoot], {
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`cannot mount a tmpfs: ${r.stderr}`);
      mounted = outRoot;
      filler = join(outRoot, "filler");
    }
    const fullMs = Math.round(between(4_000, 7_000));
    const roMs = Math.round(between(3_000, 5_000));
    await chaosRun(fleet, { fault: "output disk full, then read-only", job, out }, async (id) => {
      await fleet.waitForProgress(id, Math.floor(between(0.15, 0.3) * job.total));
      const at1 = progressOf(await fleet.getJob(id));
      if (!filler) return "skipped: needs root for a tmpfs";
      await fillDisk(filler);
      await sleep(fullMs);
      await rm(filler, { force: true });
      await fleet.waitForProgress(id, Math.floor(between(0.45, 0.6) * job.total), 60_000);
      const at2 = progressOf(await fleet.getJob(id));
      const ro = await remount(outRoot, "ro");
      await sleep(roMs);
      await remount(outRoot, "rw");
      return (
        `disk full at ${at1} for ${(fullMs / 1000).toFixed(1)} s; ` +
        (ro ? `read-only at ${at2} for ${(roMs / 1000).toFixed(1)} s` : "read-only remount refused (busy)")
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
    // The engine refuses an LCM run longer than the model's original_inference_steps (50), every time.
    const lcm = {
      id: "poison-lcm",
      prompt: "a red circle on a white background",
      scheduler: "lcm",
      steps: 60,
    };
    const good = (i: number) => ({ id: `good-${i}`, prompt: "a blue square on a black background", seed: i });
    // A folder where one image must go: writing the shard fails on every delivery, so it is dead-lettered.
    const deadShard = 25;
    const deadRows = [100, 101, 102, 103];
    const failing = new Map<string, RegExp>([["poison-lcm-0", /LCM steps \(60\) must not exceed/]]);
    // The reason is the worker's write error when its report of the last delivery lands first, or the
    // dead letter's when the coordinator folds the max-deliveries advisory first; both name the samples.
    for (const r of deadRows)
      for (let k = 0; k < PER_PROMPT; k++)
        failing.set(templateSampleId(r, k), /EISDIR|cannot write|dead-lettered after \d+ deliveries/);
    const job = await writeChaosJob(join(root, "spec-poison"), {
      rows: ROWS,
      perPrompt: PER_PROMPT,
      extra: [
        { ...good(1), images_per_prompt: 1 },
        { ...lcm, images_per_prompt: 1 },
        { ...good(2), images_per_prompt: 1 },
      ],
      failing,
    });
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
        { fault: "poison samples", job, out, expect: "JOB_STATE_FAILED" },
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
      // "task received" lines: the cut must come while the victim holds a task.
      workerEnv: { ...process.env, LF_LOG_LEVEL: "debug" },
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
    const job = await writeChaosJob(join(root, "spec-cut"), { rows: ROWS, perPrompt: PER_PROMPT });
    const cutMs = Math.round(between(7_000, 9_000));
    const victim = "h1";
    await chaosRun(f, { fault: "network partition", job, out: join(root, "out-cut") }, async (id) => {
      await f.waitForProgress(id, Math.floor(between(0.1, 0.3) * job.total));
      const host = f.hostOf(victim);
      const proc = f.workers.get(victim);
      if (!host || !proc) throw new Error(`${victim} runs on no test host`);
      // Cut while the victim holds a task it received from now on (one it has not finished): a worker
      // between tasks, or waiting on its pull, would have nothing to lapse.
      const from = proc.output().length;
      const shardsOf = (text: string, msg: string) =>
        new Set([...text.matchAll(new RegExp(`"msg":"${msg}"[^\n]*"shard":"?(\\d+)`, "g"))].map((m) => m[1]));
      const holding = () => {
        const text = proc.output().slice(from);
        const done = shardsOf(text, "task done");
        return [...shardsOf(text, "task received")].some((shard) => !done.has(shard));
      };
      for (let i = 0; i < 2000 && !holding(); i++) await sleep(5);
      net.setLink(host, false);
      const at = progressOf(await f.getJob(id));
      await sleep(cutMs);
      net.setLink(host, true);
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

/** Writes a file until the file system is full (ENOSPC). */
async function fillDisk(path: string): Promise<void> {
  const fh = await open(path, "w");
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (let i = 0; i < 4096; i++) await fh.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** `mount -o remount,<mode>`; a remount read-only is refused while a file is open for writing: retried. */
async function remount(dir: string, mode: "ro" | "rw"): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    const r = spawnSync("mount", ["-o", `remount,${mode}`, dir], { encoding: "utf8" });
    if (r.status === 0) return true;
    await sleep(20);
  }
  if (mode === "rw") throw new Error(`cannot remount ${dir} read-write`);
  return false;
}
