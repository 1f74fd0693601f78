/**
 * `latent-fleet run` when a worker process dies: it is restarted and the job completes with every sample
 * once; a worker that dies at every start ends the run with one message naming it and its log.
 */
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expandSpec, loadSpec } from "../../src/manifest/index.js";
import { childRunning, listFiles, readMetadata, startCli } from "../helpers/cli-processes.js";
import { TINY_SHAPES } from "../helpers/paths.js";
import { waitFor } from "../helpers/worker-fixtures.js";
import { tasksDone, tasksHeld } from "../helpers/worker-log.js";

/** 8 colours x 8 shapes x 5 images: 320 tiny samples, long enough for a worker to be killed mid-job. */
const COLORS = ["red", "green", "blue", "yellow", "orange", "purple", "black", "gray"];
const SHAPES = ["circle", "square", "triangle", "star", "ring", "cross", "dot", "bar"];

describe("latent-fleet run with a crashing worker", () => {
  let tmp: string;
  let spec: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-run-restart-"));
    spec = join(tmp, "job.yaml");
    await writeFile(
      spec,
      [
        `model: ${TINY_SHAPES}`,
        "output: out",
        "seed: 7",
        "defaults: { steps: 1, guidance_scale: 1, width: 16, height: 16 }",
        "prompts:",
        '  - template: "a {color} {shape} on a white background"',
        `    vars: { color: [${COLORS.join(", ")}], shape: [${SHAPES.join(", ")}] }`,
        "    images_per_prompt: 5",
      ].join("\n"),
    );
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("restarts a worker killed mid-job (SIGKILL); the job completes with every sample once", async () => {
    const out = join(tmp, "killed");
    // `run` keeps its children's logs under TMPDIR: the test reads worker-1's to kill it holding a task.
    const runTmp = join(tmp, "run-tmp");
    await mkdir(runTmp);
    const env = { ...process.env, TMPDIR: runTmp, LF_LOG_LEVEL: "debug" };
    const p = startCli(
      "run",
      ["run", spec, "--out", out, "--workers", "3", "--batch-size", "2", "--shard-size", "4", "--keep-logs"],
      {
        env,
      },
    );
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 200_000);
    try {
      await p.waitForOutput(/job \S+: writing to/, 90_000);
      const jobId = /job (\S+): writing to/.exec(p.output())?.[1] as string;
      const runPid = p.child.pid as number;
      const worker = childWith(runPid, "worker-1");
      expect(worker, "worker-1's process").toBeDefined();
      const logFile = join(
        runTmp,
        (await readdir(runTmp)).find((d) => d.startsWith("latent-fleet-run-")) ?? "",
        "logs",
        "worker-1.log",
      );
      const holding = await waitFor(() => readText(logFile).includes('"msg":"task received"'), 60_000);
      expect(holding, `worker-1 received no task:\n${p.output()}`).toBe(true);
      process.kill(worker as number, "SIGKILL");
      // What it held when it died (its restart, 0.5 s later, takes longer than this to receive anything).
      await new Promise((r) => setTimeout(r, 200));
      const held = tasksHeld(readText(logFile), jobId);
      expect(held.length, "worker-1 held no task when killed: nothing to redeliver").toBeGreaterThan(0);

      const exit = await p.exited;
      const output = p.output();
      expect(exit.code, output).toBe(0);
      expect(output).toMatch(/worker-1 killed by SIGKILL; restarting it in 0\.5 s/);
      expect(output).toMatch(/SUCCEEDED, 320\/320 done, 0 failed, worker-1 killed by SIGKILL and restarted/);
      expect(output).not.toMatch(/\n\s+at /);
      // Each task it held was done again, by a later delivery.
      const logs = dirname(logFile);
      const done = (await readdir(logs))
        .filter((f) => f.startsWith("worker-"))
        .flatMap((f) => tasksDone(readText(join(logs, f)), jobId));
      for (const task of held) {
        expect(
          done.some((d) => d.shard === task.shard && d.delivery > task.delivery),
          `shard ${task.shard}`,
        ).toBe(true);
      }
    } finally {
      clearTimeout(timer);
    }

    await expectEverySampleOnce(spec, out);
  }, 240_000);

  /**
   * Runs the job on 2 workers, SIGKILLs the process `pick` finds among run's children once worker-0 has
   * done a task (mid-job), and expects exit 0, the restart in the output, and every sample once.
   */
  async function killMidJob(
    name: string,
    pick: (runPid: number) => number | undefined,
    restartLine: RegExp,
  ): Promise<void> {
    const out = join(tmp, `${name}-killed`);
    const runTmp = join(tmp, `run-tmp-${name}`);
    await mkdir(runTmp);
    const p = startCli(
      "run",
      ["run", spec, "--out", out, "--workers", "2", "--batch-size", "2", "--shard-size", "4"],
      { env: { ...process.env, TMPDIR: runTmp } },
    );
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 200_000);
    try {
      await p.waitForOutput(/job \S+: writing to/, 90_000);
      const victim = pick(p.child.pid as number);
      expect(victim, `the ${name} process`).toBeDefined();
      const logs = join(
        runTmp,
        (await readdir(runTmp)).find((d) => d.startsWith("latent-fleet-run-")) ?? "",
        "logs",
      );
      // Mid-job: a task is done and the job is not.
      const started = await waitFor(
        () => readText(join(logs, "worker-0.log")).includes('"msg":"task done"'),
        60_000,
      );
      expect(started, `worker-0 finished no task:\n${p.output()}`).toBe(true);
      process.kill(victim as number, "SIGKILL");
      const exit = await p.exited;
      const output = p.output();
      expect(exit.code, output).toBe(0);
      expect(output).toMatch(restartLine);
      expect(output).toMatch(
        new RegExp(`SUCCEEDED, 320/320 done, 0 failed, ${name} killed by SIGKILL and restarted`),
      );
    } finally {
      clearTimeout(timer);
    }
    await expectEverySampleOnce(spec, out);
  }

  it("restarts a coordinator killed mid-job (SIGKILL); it resumes the job, which completes with every sample once", async () => {
    await killMidJob(
      "coordinator",
      (runPid) => childWith(runPid, undefined),
      /coordinator killed by SIGKILL; restarting it in 0\.5 s/,
    );
  }, 240_000);

  it("restarts its nats-server killed mid-job (SIGKILL) on the same port and store; the job completes", async () => {
    await killMidJob(
      "nats-server",
      (runPid) => childRunning(runPid, (argv) => basename(argv[0]) === "nats-server"),
      /nats-server killed by SIGKILL; restarting it on the same port and store in 0\.5 s/,
    );
  }, 240_000);

  it("stops with one message naming the worker and its log when it dies at every start", async () => {
    // worker-0's metrics port (the one after the coordinator's) is taken by another program.
    const { server, first } = await takenPortAfterFreeOne();
    try {
      const p = startCli("run", [
        "run",
        spec,
        "--out",
        join(tmp, "never-ready"),
        "--metrics-port",
        String(first),
      ]);
      const timer = setTimeout(() => p.child.kill("SIGKILL"), 120_000);
      const exit = await p.exited;
      clearTimeout(timer);
      const output = p.output();
      expect(exit.code, output).toBe(1);
      expect(output).toMatch(
        /worker-0 exited with code [1-9]\d*: not restarted again, it crashed at start-up 3 times in a row; its last lines:/,
      );
      expect(output).toMatch(
        /its last lines:\n.*cannot serve metrics on 127\.0\.0\.1:\d+: listen EADDRINUSE/,
      );
      // Its last lines are shown once, in the message.
      expect(output).not.toMatch(/--- worker-0 \(last lines\) ---/);
      expect(output).toMatch(/its log: \S+\/worker-0\.log \[PROCESS_FAILED\]/);
      expect(output.match(/restarting it in/g)).toHaveLength(2);
      expect(output).not.toMatch(/\n\s+at /);
    } finally {
      server.close();
    }
  }, 150_000);
});

/** The spec's 320 sample ids, each once in metadata.jsonl, and exactly their images in the output. */
async function expectEverySampleOnce(spec: string, out: string): Promise<void> {
  const expected: string[] = [];
  for await (const e of expandSpec(await loadSpec(spec, { outputOverride: out }))) {
    if (e.type === "sample") expected.push(e.sample.sampleId);
  }
  expect(expected).toHaveLength(320);
  const rows = await readMetadata(out);
  const ids = rows.map((row) => row.id);
  expect([...ids].sort()).toEqual([...expected].sort());
  const images = (await listFiles(out)).filter((f) => f.endsWith(".png")).map((f) => basename(f));
  expect(images.sort()).toEqual(rows.map((row) => basename(row.file_name)).sort());
  expect((await listFiles(out)).filter((f) => f.includes(".tmp"))).toEqual([]);
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** The child of `parentPid` started as `latent-fleet worker ... --worker-id <workerId>`, or the coordinator. */
function childWith(parentPid: number, workerId: string | undefined): number | undefined {
  return childRunning(parentPid, (argv) => {
    const at = argv.indexOf("--worker-id");
    return workerId === undefined ? argv.includes("coordinator") : at >= 0 && argv[at + 1] === workerId;
  });
}

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** A listening server on port P+1 where P was free a moment ago: --metrics-port P makes worker-0's taken. */
async function takenPortAfterFreeOne(): Promise<{ server: Server; first: number }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = await listen(0);
    if (!server) continue;
    const addr = server.address();
    const taken = typeof addr === "object" && addr ? addr.port : 0;
    const probe = taken > 1 ? await listen(taken - 1) : undefined;
    if (probe) {
      await new Promise((r) => probe.close(r));
      return { server, first: taken - 1 };
    }
    server.close();
  }
  throw new Error("found no free port just below a taken one in 20 tries");
}
