/**
 * The coordinator's gRPC service and the CLI's client: SubmitJob with streamed source files, a bad spec,
 * unknown jobs, WatchJob to the end, cancel, an unreachable coordinator, and the client commands.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type ServiceError, status } from "@grpc/grpc-js";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerJobClientCommands } from "../../../src/cli/commands/jobs-client.js";
import { CoordinatorClient } from "../../../src/cli/coordinator-client.js";
import type { MetadataRow } from "../../../src/common/contract/job.js";
import { silentLogger } from "../../../src/common/log.js";
import type { CoordinatorClient as RawClient } from "../../../src/common/proto/generated/latentfleet/v1/Coordinator.js";
import type { Job } from "../../../src/common/proto/generated/latentfleet/v1/Job.js";
import type { SubmitJobChunk__Input } from "../../../src/common/proto/generated/latentfleet/v1/SubmitJobChunk.js";
import { coordinatorProto } from "../../../src/common/proto/load.js";
import { type RunningCoordinator, startCoordinator } from "../../../src/coordinator/index.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { FakeWorker, readJsonl, waitFor } from "./fake-worker.js";

let server: TestNatsServer;
let coordinator: RunningCoordinator;
let address: string;
let client: CoordinatorClient;
let raw: RawClient;
const workers: FakeWorker[] = [];
const dir = mkdtempSync(join(tmpdir(), "lf-coord-grpc-"));

beforeAll(async () => {
  server = await startNatsServer();
  coordinator = await startCoordinator({
    natsUrl: server.url,
    grpcAddress: "127.0.0.1:0",
    shardSize: 2,
    log: silentLogger,
  });
  address = `127.0.0.1:${coordinator.grpcPort}`;
  client = await CoordinatorClient.connect(address);
  raw = new (coordinatorProto().latentfleet.v1.Coordinator)(address, credentials.createInsecure());
  workers.push(await FakeWorker.start({ natsUrl: server.url, model: "tiny-shapes" }));
});

afterAll(async () => {
  client?.close();
  raw?.close();
  await coordinator?.stop();
  for (const w of workers) await w.stop();
  await server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** SubmitJob with the given messages, as any gRPC client could send them. */
function rawSubmit(chunks: SubmitJobChunk__Input[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const call = raw.SubmitJob({ deadline: Date.now() + 10_000 }, (err, res) =>
      err ? reject(err) : resolve(res?.job_id ?? ""),
    );
    for (const c of chunks) call.write(c);
    call.end();
  });
}

const SPEC = [
  "model: models/tiny-shapes",
  "prompts:",
  "  - file: prompts.jsonl",
  '  - "inline one"',
  "",
].join("\n");

describe("coordinator gRPC service", () => {
  it("runs a job whose prompt file was streamed, not read from the coordinator's disk", async () => {
    const out = join(dir, "streamed");
    // The spec names a folder that does not exist here: prompts.jsonl can only come from the stream.
    const jobId = await rawSubmit([
      { spec: { name: "/client-machine/jobs/job.yaml", content: Buffer.from(SPEC), output: out } },
      { file: { path: "prompts.jsonl", data: Buffer.from('{"prompt": "streamed one"}\n'), last: false } },
      {
        file: {
          path: "prompts.jsonl",
          data: Buffer.from('{"prompt": "streamed two", "id": "two"}\n'),
          last: true,
        },
      },
    ]);
    const seen: Job[] = [];
    for await (const job of client.watchJob(jobId)) seen.push(job);
    expect(seen.at(-1)).toMatchObject({
      state: "JOB_STATE_SUCCEEDED",
      samples_done: "3",
      samples_total: "3",
    });
    const meta = await readJsonl<MetadataRow>(join(out, "metadata.jsonl"));
    expect(meta.map((r) => [r.id, r.prompt])).toEqual([
      ["r000000000-0", "streamed one"],
      ["two-0", "streamed two"],
      ["r000000002-0", "inline one"],
    ]);
    expect(existsSync(join(out, ".job"))).toBe(false);
  });

  it("submits a local spec with its files through the CLI client and watches it to the end", async () => {
    const jobDir = join(dir, "local");
    mkdirSync(jobDir, { recursive: true });
    writeFileSync(join(jobDir, "job.yaml"), SPEC);
    writeFileSync(join(jobDir, "prompts.jsonl"), '{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": "c"}\n');
    const sent: string[] = [];
    const jobId = await client.submit(join(jobDir, "job.yaml"), { onFile: (p) => sent.push(p) });
    expect(sent).toEqual([join(jobDir, "prompts.jsonl")]);
    const started = Date.now();
    const updates: Job[] = [];
    for await (const job of client.watchJob(jobId)) updates.push(job);
    expect(updates.at(-1)?.state).toBe("JOB_STATE_SUCCEEDED");
    // At most about 4 updates a second.
    expect(updates.length).toBeLessThanOrEqual(2 + ((Date.now() - started) / 1000) * 4);
    expect((await readJsonl<MetadataRow>(join(jobDir, "out", "job", "metadata.jsonl"))).length).toBe(4);
    expect(await client.getJob(jobId)).toMatchObject({
      job_id: jobId,
      state: "JOB_STATE_SUCCEEDED",
      samples_done: "4",
    });
  });

  it("answers INVALID_ARGUMENT with the manifest's message for a bad spec, and starts nothing", async () => {
    const before = (await client.listJobs()).length;
    const bad = rawSubmit([
      {
        spec: {
          name: join(dir, "bad", "job.yaml"),
          content: Buffer.from("model: m\nprompts:\n  - { prompt: x, steps: -3 }\n"),
        },
      },
    ]);
    await expect(bad).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    const err = (await bad.catch((e: unknown) => e)) as ServiceError;
    expect(err.details).toMatch(/job\.yaml:3: .*steps/);

    const missing = rawSubmit([
      {
        spec: {
          name: join(dir, "bad", "job.yaml"),
          content: Buffer.from("model: m\nprompts:\n  - file: nowhere.csv\n"),
        },
      },
    ]);
    await expect(missing).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/cannot find "/),
    });
    await expect(
      rawSubmit([{ file: { path: "x.jsonl", data: Buffer.from("{}"), last: true } }]),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/first message must be the spec/),
    });
    expect((await client.listJobs()).length).toBe(before);
    expect(existsSync(join(dir, "bad"))).toBe(false);
    // Through the CLI client the same error is a SPEC_INVALID LatentFleetError.
    const badFile = join(dir, "bad-spec.yaml");
    writeFileSync(badFile, "prompts: [a]\n");
    await expect(client.submit(badFile)).rejects.toMatchObject({
      code: "SPEC_INVALID",
      message: expect.stringMatching(/model is missing/),
    });
  });

  it("answers NOT_FOUND for unknown jobs", async () => {
    await expect(client.getJob("20200101-000000-000-aaaaaaaa")).rejects.toMatchObject({
      code: "JOB_NOT_FOUND",
    });
    await expect(client.cancelJob("nope")).rejects.toMatchObject({ code: "JOB_NOT_FOUND" });
    const watch = async () => {
      for await (const _ of client.watchJob("nope")) {
        // nothing
      }
    };
    await expect(watch()).rejects.toMatchObject({ code: "JOB_NOT_FOUND" });
  });

  it("cancels a running job: publishing stops, workers skip its tasks, watch ends CANCELLED", async () => {
    const slow = await FakeWorker.start({ natsUrl: server.url, model: "slow-model", taskMs: 40, batch: 1 });
    workers.push(slow);
    const jobDir = join(dir, "cancel");
    mkdirSync(jobDir, { recursive: true });
    writeFileSync(
      join(jobDir, "job.yaml"),
      [
        "model: models/slow-model",
        "prompts:",
        '  - template: "{a} {b}"',
        `    vars: { a: [${Array.from({ length: 20 }, (_, i) => `a${i}`).join(", ")}], b: [${Array.from({ length: 20 }, (_, i) => `b${i}`).join(", ")}] }`,
        "",
      ].join("\n"),
    );
    const jobId = await client.submit(join(jobDir, "job.yaml"));
    await waitFor("some shards to finish", async () => Number((await client.getJob(jobId)).shards_done) >= 3);
    const watching = (async () => {
      const seen: Job[] = [];
      for await (const job of client.watchJob(jobId)) seen.push(job);
      return seen;
    })();
    const cancelled = await client.cancelJob(jobId);
    expect(cancelled.state).toBe("JOB_STATE_CANCELLED");
    expect((await watching).at(-1)?.state).toBe("JOB_STATE_CANCELLED");
    await waitFor("the worker to skip a task", () => slow.skipped > 0);
    const ranBefore = slow.ran.length;
    expect(ranBefore).toBeLessThan(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(slow.ran.length).toBeLessThanOrEqual(ranBefore + 1);
    expect(existsSync(join(jobDir, "out", "job", "metadata.jsonl"))).toBe(false);
    expect(await client.getJob(jobId)).toMatchObject({ state: "JOB_STATE_CANCELLED", error: "cancelled" });
    // Cancelling again changes nothing.
    expect((await client.cancelJob(jobId)).state).toBe("JOB_STATE_CANCELLED");
  });

  it("the client commands print the job and exit non-zero unless it succeeded", async () => {
    const jobs = await client.listJobs();
    const succeeded = jobs.find((j) => j.state === "JOB_STATE_SUCCEEDED");
    const cancelled = jobs.find((j) => j.state === "JOB_STATE_CANCELLED");
    expect(succeeded && cancelled).toBeTruthy();
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const run = (args: string[]) => {
      const program = new Command("latent-fleet").exitOverride();
      registerJobClientCommands(program);
      return program.parseAsync(["node", "latent-fleet", ...args, "--coordinator", address]);
    };
    try {
      await run(["status", succeeded?.job_id ?? ""]);
      expect(out.join("")).toMatch(new RegExp(`^${succeeded?.job_id} SUCCEEDED, \\d+/\\d+ done, 0 failed`));
      out.length = 0;
      await run(["watch", succeeded?.job_id ?? ""]);
      expect(out).toHaveLength(1);
      out.length = 0;
      await expect(run(["watch", cancelled?.job_id ?? ""])).rejects.toMatchObject({
        code: "JOB_FAILED",
        message: expect.stringMatching(/ended CANCELLED/),
      });
      out.length = 0;
      await run(["jobs"]);
      expect(out.join("").trim().split("\n").length).toBe(jobs.length);
    } finally {
      spy.mockRestore();
    }
  });

  it("names the address when no coordinator answers", async () => {
    const started = Date.now();
    await expect(CoordinatorClient.connect("127.0.0.1:1", { connectTimeoutMs: 1000 })).rejects.toMatchObject({
      code: "COORDINATOR_UNAVAILABLE",
      message: expect.stringMatching(/cannot reach the coordinator at 127\.0\.0\.1:1 within 1 s/),
    });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("WatchJob's progress throttle", () => {
  it("holds progress back, but sends the final state at once", async () => {
    // Its own server and coordinator: one whose progress updates go out at most every 20 s.
    const ownServer = await startNatsServer();
    const own = await startCoordinator({
      natsUrl: ownServer.url,
      grpcAddress: "127.0.0.1:0",
      shardSize: 2,
      watchIntervalMs: 20_000,
      log: silentLogger,
    });
    const worker = await FakeWorker.start({ natsUrl: ownServer.url, model: "tiny-shapes" });
    const ownClient = await CoordinatorClient.connect(`127.0.0.1:${own.grpcPort}`);
    try {
      const jobDir = join(dir, "throttled");
      mkdirSync(jobDir, { recursive: true });
      writeFileSync(join(jobDir, "job.yaml"), SPEC);
      writeFileSync(join(jobDir, "prompts.jsonl"), '{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": "c"}\n');
      const jobId = await ownClient.submit(join(jobDir, "job.yaml"));
      const started = Date.now();
      const updates: Job[] = [];
      for await (const job of ownClient.watchJob(jobId)) updates.push(job);
      // The first update goes out at once, the final one did not wait out the 20 s throttle.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(updates.at(-1)?.state).toBe("JOB_STATE_SUCCEEDED");
      expect(updates.length).toBeLessThanOrEqual(3);
    } finally {
      ownClient.close();
      await own.stop();
      await worker.stop();
      await ownServer.cleanup();
    }
  });
});
