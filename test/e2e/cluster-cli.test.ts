/**
 * The fleet as separate processes, as on separate machines: a real nats-server, `latent-fleet coordinator`,
 * `latent-fleet worker` processes and the client commands, each started from the built CLI. Workers are
 * killed, drained and replaced while jobs run; every job must still give every sample exactly once.
 */
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/common/child-process.js";
import { shardMetadataFile } from "../../src/common/contract/job.js";
import { TASKS_STREAM } from "../../src/common/nats/names.js";
import { decodePng } from "../../src/engine/png.js";
import {
  type CliProcess,
  listFiles,
  readMetadata,
  runCli,
  startCli,
  stopAll,
  waitUntilServing,
} from "../helpers/cli-processes.js";
import { startNatsServer, type TestNatsServer } from "../helpers/nats-server.js";
import { TINY_SHAPES } from "../helpers/paths.js";
import { waitFor } from "../helpers/worker-fixtures.js";

let nats: TestNatsServer;
let nc: NatsConnection;
let tmp: string;
let coordinatorAddress: string;
let coordinator: CliProcess;
const processes: CliProcess[] = [];

function track(p: CliProcess): CliProcess {
  processes.push(p);
  return p;
}

async function startCoordinator(extra: string[] = []): Promise<CliProcess> {
  const port = Number(coordinatorAddress.split(":")[1]);
  const cwd = join(tmp, "coordinator-machine");
  await mkdir(cwd, { recursive: true });
  const p = track(
    startCli(
      "coordinator",
      [
        "coordinator",
        ...["--nats", nats.url, "--grpc", coordinatorAddress],
        // The folder the workers share; the coordinator's own working folder is elsewhere.
        ...["--allow-path", join(tmp, "shared-storage")],
        ...extra,
      ],
      {
        cwd,
      },
    ),
  );
  await waitUntilServing(p, port);
  return p;
}

async function startWorker(id: string, extra: string[] = []): Promise<CliProcess> {
  const p = track(
    startCli(id, [
      "worker",
      "--nats",
      nats.url,
      "--model",
      TINY_SHAPES,
      "--threads",
      "1",
      "--worker-id",
      id,
      ...extra,
    ]),
  );
  await p.waitForOutput(/"msg":"worker started"/, 60_000);
  return p;
}

/** A job spec on the client's machine: a template of colours x shapes, the given defaults. */
async function writeSpec(name: string, over: { count: 8 | 16 | 48; defaults: string }): Promise<string> {
  const dir = join(tmp, "client-machine", name);
  await mkdir(dir, { recursive: true });
  const colors = ["red", "green", "blue", "yellow", "orange", "purple"];
  const shapes = over.count === 48 ? ["circle", "square", "triangle", "circle"] : ["circle", "square"];
  const perPrompt = over.count === 8 ? 1 : over.count === 16 ? 2 : 2;
  const colorList = colors.slice(0, over.count === 48 ? 6 : 4);
  await writeFile(
    join(dir, "job.yaml"),
    [
      `model: ${TINY_SHAPES}`,
      `seed: 7`,
      `images_per_prompt: ${perPrompt}`,
      `defaults: ${over.defaults}`,
      "prompts:",
      '  - template: "a {color} {shape} on a white background"',
      `    vars: { color: [${colorList.join(", ")}], shape: [${shapes.join(", ")}] }`,
    ].join("\n"),
  );
  return dir;
}

/** Every sample once, in order, each a valid PNG of the given size; no temporary files anywhere. */
async function expectComplete(out: string, count: number, size: number): Promise<void> {
  const rows = await readMetadata(out);
  expect(rows).toHaveLength(count);
  expect(new Set(rows.map((r) => r.id)).size).toBe(count);
  for (const row of rows) {
    const png = decodePng(await readFile(join(out, row.file_name)));
    expect([png.width, png.height]).toEqual([size, size]);
  }
  const files = await listFiles(out);
  expect(files.filter((f) => f.endsWith(".png"))).toHaveLength(count);
  expect(files.filter((f) => f.includes(".tmp"))).toEqual([]);
  await expect(stat(join(out, "errors.jsonl"))).rejects.toMatchObject({ code: "ENOENT" });
}

/** `submit` without --watch: prints the job id. */
async function submitJob(specDir: string, out: string): Promise<string> {
  const r = await runCli([
    "submit",
    join(specDir, "job.yaml"),
    "--out",
    out,
    "--coordinator",
    coordinatorAddress,
  ]);
  expect(r.code, r.output).toBe(0);
  return r.output.trim();
}

async function jobIdOf(submit: CliProcess): Promise<string> {
  await submit.waitForOutput(/^\S+\n/, 30_000);
  return submit.output().split("\n")[0].trim();
}

async function tasksStreamLastSeq(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(TASKS_STREAM)).state.last_seq;
}

beforeAll(async () => {
  tmp = join(tmpdir(), `lf-cluster-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  coordinatorAddress = `127.0.0.1:${await freePort("127.0.0.1")}`;
  coordinator = await startCoordinator(["--shard-size", "4"]);
});

afterAll(async () => {
  await stopAll(processes);
  await nc?.close();
  await nats?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

describe("coordinator, workers and client as separate processes", () => {
  it("runs a job submitted with `submit --watch` on two workers", async () => {
    const workers = await Promise.all([startWorker("w-a"), startWorker("w-b")]);
    const dir = await writeSpec("watch", {
      count: 16,
      defaults: "{ steps: 4, guidance_scale: 4.0, scheduler: euler, width: 64, height: 64 }",
    });
    const out = join(tmp, "shared-storage", "watch");
    // Relative spec path from the client's folder: the coordinator gets the spec by upload, not from disk.
    const r = await runCli(
      ["submit", "job.yaml", "--out", out, "--watch", "--coordinator", coordinatorAddress],
      { cwd: dir, timeoutMs: 120_000 },
    );
    expect(r.output).not.toMatch(/\n\s+at /);
    expect(r.code, r.output).toBe(0);
    const lines = r.output.trim().split("\n");
    const jobId = lines[0];
    expect(lines.at(-1)).toMatch(new RegExp(`^${jobId} SUCCEEDED, 16/16 done, 0 failed`));
    await expectComplete(out, 16, 64);

    const status = await runCli(["status", jobId, "--coordinator", coordinatorAddress]);
    expect(status.code).toBe(0);
    expect(status.output).toMatch(/SUCCEEDED, 16\/16 done/);
    expect(status.output).toContain(`output ${out}`);
    // An output folder outside the ones the coordinator may write is refused, with one clear line.
    const refused = await runCli(
      ["submit", "job.yaml", "--out", join(tmp, "elsewhere"), "--coordinator", coordinatorAddress],
      { cwd: dir },
    );
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/elsewhere is outside the folders this coordinator writes outputs in/);
    expect(refused.output).toMatch(/\[PATH_NOT_ALLOWED\]/);
    expect(refused.output).not.toMatch(/\n\s+at /);
    const jobs = await runCli(["jobs", "--coordinator", coordinatorAddress, "--json"]);
    expect((JSON.parse(jobs.output) as { job_id: string }[]).map((j) => j.job_id)).toContain(jobId);

    await stopAll(workers);
    for (const w of workers) expect((await w.exited).code).toBe(0);
  });

  it("completes a job whose worker is killed with SIGKILL in the middle of a task", async () => {
    // Short ack window, so the killed worker's task comes back within the test.
    const first = await startWorker("w-killed", ["--batch-size", "2", "--ack-wait", "2"]);
    const dir = await writeSpec("sigkill", {
      count: 16,
      defaults: "{ steps: 40, guidance_scale: 4.0, scheduler: euler, width: 64, height: 64 }",
    });
    const out = join(tmp, "shared-storage", "sigkill");
    const submit = track(
      startCli("submit", [
        "submit",
        join(dir, "job.yaml"),
        "--out",
        out,
        "--coordinator",
        coordinatorAddress,
      ]),
    );
    await jobIdOf(submit);

    // Mid-task: some image of a shard is written, its shard metadata (written last) is not.
    let killedShard = -1;
    const midTask = await waitFor(async () => {
      for (const f of await listFiles(join(out, "images"))) {
        const m = /images\/(\d{6})\//.exec(f);
        if (!m || !f.endsWith(".png")) continue;
        const shard = Number(m[1]);
        const done = await stat(join(out, shardMetadataFile(shard))).then(
          () => true,
          () => false,
        );
        if (!done) {
          killedShard = shard;
          return true;
        }
      }
      return false;
    }, 60_000);
    expect(midTask).toBe(true);
    first.child.kill("SIGKILL");
    expect((await first.exited).signal).toBe("SIGKILL");
    await expect(stat(join(out, shardMetadataFile(killedShard)))).rejects.toMatchObject({ code: "ENOENT" });

    const second = await startWorker("w-after", ["--batch-size", "4"]);
    const jobId = submit.output().split("\n")[0].trim();
    const watch = await runCli(["watch", jobId, "--coordinator", coordinatorAddress], { timeoutMs: 120_000 });
    expect(watch.code, watch.output).toBe(0);
    await expectComplete(out, 16, 64);
    // The killed worker's shard was finished by the other worker, on a later delivery.
    expect(second.output()).toMatch(/"msg":"task done"/);
    await stopAll([second]);
  });

  it("drains a worker on SIGTERM: the batch in hand finishes, the rest is handed back at once", async () => {
    // A long ack window: tasks that were only handed back after it would not finish within this test.
    const first = await startWorker("w-drained", ["--batch-size", "4", "--ack-wait", "120"]);
    const dir = await writeSpec("drain", {
      count: 48,
      defaults: "{ steps: 10, guidance_scale: 4.0, scheduler: euler, width: 64, height: 64 }",
    });
    const out = join(tmp, "shared-storage", "drain");
    const jobId = await submitJob(dir, out);
    await waitFor(async () => (await listFiles(join(out, "images"))).length >= 4, 60_000);

    first.child.kill("SIGTERM");
    const exit = await first.exited;
    expect(exit.code, first.output()).toBe(0);
    const drainedLine = /"msg":"drained"[^\n]*/.exec(first.output());
    expect(drainedLine).not.toBeNull();
    console.log(`drained worker: ${drainedLine?.[0]}`);
    // What it finished before leaving is complete: every shard it reported has all its images.
    expect((await listFiles(out)).filter((f) => f.includes(".tmp"))).toEqual([]);

    const t0 = Date.now();
    const second = await startWorker("w-takes-over", ["--batch-size", "8"]);
    const watch = await runCli(["watch", jobId, "--coordinator", coordinatorAddress], { timeoutMs: 110_000 });
    expect(watch.code, watch.output).toBe(0);
    expect(Date.now() - t0).toBeLessThan(110_000);
    await expectComplete(out, 48, 64);
    await stopAll([second]);
  });

  it("cancels a running job from the command line: its queued tasks are skipped", async () => {
    const worker = await startWorker("w-cancel", ["--batch-size", "4"]);
    const dir = await writeSpec("cancel", {
      count: 48,
      defaults: "{ steps: 30, guidance_scale: 4.0, scheduler: euler, width: 64, height: 64 }",
    });
    const out = join(tmp, "shared-storage", "cancel");
    const jobId = await submitJob(dir, out);
    const watch = track(startCli("watch", ["watch", jobId, "--coordinator", coordinatorAddress]));
    await waitFor(async () => (await listFiles(join(out, "images"))).length >= 4, 60_000);

    const cancel = await runCli(["cancel", jobId, "--coordinator", coordinatorAddress]);
    expect(cancel.code, cancel.output).toBe(0);
    expect(cancel.output).toMatch(new RegExp(`^${jobId} CANCELLED`));
    const watched = await watch.exited;
    expect(watched.code).toBe(1);
    expect(watch.output()).toMatch(/ended CANCELLED/);
    expect(watch.output()).not.toMatch(/\n\s+at /);

    // The worker skips the job's queued tasks; what it had in hand is at most a batch or two.
    await worker.waitForOutput(/"msg":"task of a cancelled job skipped"/, 30_000);
    const jsm = await jetstreamManager(nc);
    const drained = await waitFor(async () => (await jsm.streams.info(TASKS_STREAM)).state.messages === 0);
    expect(drained).toBe(true);
    const images = (await listFiles(join(out, "images"))).length;
    expect(images).toBeLessThan(48);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await listFiles(join(out, "images"))).length).toBe(images);
    await stopAll([worker]);
  });

  it("resumes a job whose coordinator was killed in the middle of publishing, without duplicates", async () => {
    // One sample per task and one publish in flight: 600 publishes, so the kill lands in the middle.
    await stopAll([coordinator]);
    const flags = ["--shard-size", "1", "--max-in-flight", "1"];
    const first = await startCoordinator(flags);
    const dir = join(tmp, "client-machine", "restart");
    await mkdir(dir, { recursive: true });
    const values = (n: number, p: string) =>
      `[${Array.from({ length: n }, (_, i) => `${p}${i}`).join(", ")}]`;
    await writeFile(
      join(dir, "job.yaml"),
      [
        `model: ${TINY_SHAPES}`,
        "defaults: { steps: 1, guidance_scale: 1, scheduler: euler, width: 16, height: 16 }",
        "prompts:",
        '  - template: "a {a} {b} shape"',
        `    vars: { a: ${values(30, "colour")}, b: ${values(20, "kind")} }`,
      ].join("\n"),
    );
    const out = join(tmp, "shared-storage", "restart");
    const seqBefore = await tasksStreamLastSeq();
    const jobId = await submitJob(dir, out);
    const started = await waitFor(async () => (await tasksStreamLastSeq()) - seqBefore >= 30, 30_000);
    expect(started).toBe(true);
    first.child.kill("SIGKILL");
    await first.exited;
    const publishedBeforeKill = (await tasksStreamLastSeq()) - seqBefore;
    expect(publishedBeforeKill).toBeLessThan(600);
    console.log(`coordinator killed with ${publishedBeforeKill} of 600 tasks published`);

    coordinator = await startCoordinator(flags);
    const workers = await Promise.all([
      startWorker("w-r1", ["--batch-size", "32"]),
      startWorker("w-r2", ["--batch-size", "32"]),
    ]);
    const watch = await runCli(["watch", jobId, "--coordinator", coordinatorAddress], { timeoutMs: 150_000 });
    expect(watch.code, watch.output).toBe(0);
    expect(watch.output).toMatch(/SUCCEEDED, 600\/600 done, 0 failed/);
    await expectComplete(out, 600, 16);
    // Every task was stored in the stream once: the republished overlap was dropped as duplicates.
    expect((await tasksStreamLastSeq()) - seqBefore).toBe(600);
    expect(coordinator.output()).toMatch(/"msg":"resuming job"/);
    await stopAll(workers);
  });
});
