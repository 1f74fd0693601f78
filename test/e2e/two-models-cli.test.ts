/**
 * One fleet, two models: a tiny-shapes worker and a tiny-shapes-flow worker on one nats-server and one
 * coordinator, one job for each model submitted at once. Each worker pulls only its model's tasks, and
 * both jobs give every expected sample.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import descriptor from "protobufjs/ext/descriptor/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/common/child-process.js";
import type { JobStatsFile } from "../../src/common/contract/job.js";
import { decodePng } from "../../src/engine/png.js";
import { defaultRowId } from "../../src/manifest/ids.js";
import {
  type CliProcess,
  readMetadata,
  runCli,
  startCli,
  stopAll,
  waitUntilServing,
} from "../helpers/cli-processes.js";
import { startNatsServer, type TestNatsServer } from "../helpers/nats-server.js";
import { TINY_SHAPES, TINY_SHAPES_FLOW } from "../helpers/paths.js";
import { healthStatus, reflectionAnswer } from "../helpers/worker-fixtures.js";
import { tasksDone } from "../helpers/worker-log.js";

const PROMPTS = [
  "a red circle on a white background",
  "a blue square on a black background",
  "a green triangle on a gray background",
  "a yellow circle on a black background",
];
const PER_PROMPT = 2;
const SHARD_SIZE = 2;
const TASKS = (PROMPTS.length * PER_PROMPT) / SHARD_SIZE;

let nats: TestNatsServer;
let tmp: string;
let coordinatorAddress: string;
const processes: CliProcess[] = [];

async function startWorker(id: string, model: string): Promise<CliProcess> {
  const p = startCli(id, [
    "worker",
    "--nats",
    nats.url,
    "--model",
    model,
    "--threads",
    "1",
    "--worker-id",
    id,
  ]);
  processes.push(p);
  await p.waitForOutput(/"msg":"worker started"/, 30_000);
  return p;
}

async function writeSpec(name: string, model: string, scheduler: string): Promise<string> {
  const file = join(tmp, "client", `${name}.yaml`);
  await mkdir(join(tmp, "client"), { recursive: true });
  await writeFile(
    file,
    [
      `model: ${model}`,
      "seed: 11",
      `images_per_prompt: ${PER_PROMPT}`,
      `defaults: { steps: 4, guidance_scale: 4.0, scheduler: ${scheduler}, width: 64, height: 64 }`,
      "prompts:",
      ...PROMPTS.map((p) => `  - "${p}"`),
    ].join("\n"),
  );
  return file;
}

/** The samples the spec asks for: row id, image number and prompt. */
function expectedSamples(): string[] {
  return PROMPTS.flatMap((p, r) =>
    Array.from({ length: PER_PROMPT }, (_, k) => `${defaultRowId(r)}-${k} ${p}`),
  ).sort();
}

beforeAll(async () => {
  tmp = join(tmpdir(), `lf-two-models-${process.pid}-${Date.now()}`);
  await mkdir(join(tmp, "shared"), { recursive: true });
  nats = await startNatsServer();
  coordinatorAddress = `127.0.0.1:${await freePort("127.0.0.1")}`;
  const coordinator = startCli("coordinator", [
    "coordinator",
    ...["--nats", nats.url, "--grpc", coordinatorAddress],
    ...["--allow-path", join(tmp, "shared"), "--shard-size", String(SHARD_SIZE)],
  ]);
  processes.push(coordinator);
  await waitUntilServing(coordinator, Number(coordinatorAddress.split(":")[1]));
});

afterAll(async () => {
  await stopAll(processes);
  await nats?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

describe("a fleet serving two models", () => {
  it("runs a job for each model at once; each worker takes only its own model's tasks", async () => {
    const [epsWorker, flowWorker] = await Promise.all([
      startWorker("w-shapes", TINY_SHAPES),
      startWorker("w-flow", TINY_SHAPES_FLOW),
    ]);
    const jobs = [
      { name: "eps", model: TINY_SHAPES, scheduler: "euler", worker: epsWorker, other: flowWorker },
      {
        name: "flow",
        model: TINY_SHAPES_FLOW,
        scheduler: "flow_euler",
        worker: flowWorker,
        other: epsWorker,
      },
    ];
    const specs = await Promise.all(jobs.map((j) => writeSpec(j.name, j.model, j.scheduler)));
    const outs = jobs.map((j) => join(tmp, "shared", j.name));
    const submitted = await Promise.all(
      jobs.map((_, i) =>
        runCli(["submit", specs[i], "--out", outs[i], "--coordinator", coordinatorAddress], {
          timeoutMs: 30_000,
        }),
      ),
    );
    for (const s of submitted) expect(s.code, s.output).toBe(0);
    const ids = submitted.map((s) => s.output.trim());
    const watched = await Promise.all(
      ids.map((id) => runCli(["watch", id, "--coordinator", coordinatorAddress], { timeoutMs: 60_000 })),
    );
    const total = PROMPTS.length * PER_PROMPT;
    for (const [i, w] of watched.entries()) {
      expect(w.code, w.output).toBe(0);
      expect(w.output).toMatch(new RegExp(`SUCCEEDED, ${total}/${total} done, 0 failed`));
      const rows = await readMetadata(outs[i]);
      expect(rows.map((r) => `${r.id} ${r.prompt}`).sort()).toEqual(expectedSamples());
      for (const row of rows) {
        const png = decodePng(await readFile(join(outs[i], row.file_name)));
        expect([png.width, png.height]).toEqual([64, 64]);
      }
      // The job's samples came from its own model's worker only, by the coordinator's count and both logs.
      const stats = JSON.parse(await readFile(join(outs[i], "_stats.json"), "utf8")) as JobStatsFile;
      expect(stats.workers).toEqual({ [jobs[i].worker.name]: total });
      expect(tasksDone(jobs[i].worker.output(), ids[i])).toHaveLength(TASKS);
      expect(tasksDone(jobs[i].other.output(), ids[i])).toEqual([]);
    }
    await stopAll([epsWorker, flowWorker]);
    for (const w of [epsWorker, flowWorker]) expect((await w.exited).code).toBe(0);
  });

  it("serves gRPC health and reflection from the installed command, as grpcurl and probes use them", async () => {
    const port = Number(coordinatorAddress.split(":")[1]);
    expect(await healthStatus(port, "latentfleet.v1.Coordinator")).toBe("SERVING");
    const listed = await reflectionAnswer(port, { list_services: "" });
    expect(listed.list_services_response?.service.map((s) => s.name).sort()).toEqual([
      "latentfleet.v1.Coordinator",
    ]);
    const files = await reflectionAnswer(port, { file_containing_symbol: "latentfleet.v1.Coordinator" });
    const defined = (files.file_descriptor_response?.file_descriptor_proto ?? []).map(
      (d) =>
        descriptor.FileDescriptorProto.decode(d) as unknown as {
          package: string;
          service: { name: string; method: { name: string }[] }[];
        },
    );
    const service = defined
      .filter((f) => f.package === "latentfleet.v1")
      .flatMap((f) => f.service)
      .find((s) => s.name === "Coordinator");
    expect(service?.method.map((m) => m.name)).toContain("SubmitJob");
  });
});
