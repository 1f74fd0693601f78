/**
 * A worker killed in the middle of a shard upload to an S3-compatible server leaves no visible broken
 * object: the shard (a tar of about 7 MB, uploaded in 5 MiB parts through a proxy that slows it down) is
 * absent until another worker, after the task's redelivery, uploads it whole.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/common/child-process.js";
import { S3Storage } from "../../src/common/storage/s3-storage.js";
import { readShardIndex } from "../../src/outputs/webdataset/shard-index.js";
import { type CliProcess, runCli, startCli, stopAll } from "../helpers/cli-processes.js";
import { startNatsServer, type TestNatsServer } from "../helpers/nats-server.js";
import { FIXTURE_MODELS } from "../helpers/paths.js";
import { startS3Server, type TestS3Server } from "../helpers/s3-server.js";
import { type SlowProxy, startSlowProxy } from "../helpers/slow-proxy.js";
import { healthStatus, waitFor } from "../helpers/worker-fixtures.js";

const MODEL = join(FIXTURE_MODELS, "reference");
const SAMPLES = 48;

describe("a worker killed during a shard upload to S3", () => {
  let tmp: string;
  let nats: TestNatsServer;
  let s3: TestS3Server;
  let proxy: SlowProxy;
  const processes: CliProcess[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-s3-kill-"));
    nats = await startNatsServer();
    s3 = await startS3Server(["datasets"]);
    // About 7 MB at 1.5 MB/s: the upload takes seconds, time enough to kill the worker in its middle.
    proxy = await startSlowProxy(s3.port, 1_500_000);
  });
  afterAll(async () => {
    await stopAll(processes, 5_000);
    await proxy?.close();
    await s3?.stop();
    await nats?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  function worker(id: string, endpoint: string): CliProcess {
    const env = {
      ...process.env,
      ...s3.env,
      AWS_ENDPOINT_URL_S3: endpoint,
      LATENT_FLEET_S3_PART_SIZE_MB: "5",
    };
    const args = ["worker", "--nats", nats.url, "--model", MODEL, "--worker-id", id, "--threads", "1"];
    const p = startCli(id, [...args, "--batch-size", "8", "--ack-wait", "3"], { env });
    processes.push(p);
    return p;
  }

  it("leaves no object of the shard, then exactly one whole shard after the redelivery", async () => {
    const port = await freePort("127.0.0.1");
    const address = `127.0.0.1:${port}`;
    const env = { ...process.env, ...s3.env };
    const cwd = join(tmp, "coordinator");
    await mkdir(cwd, { recursive: true });
    const coordinator = startCli(
      "coordinator",
      ["coordinator", "--nats", nats.url, "--grpc", address, "--shard-size", String(SAMPLES)],
      { env, cwd },
    );
    processes.push(coordinator);
    const up = await waitFor(async () => (await healthStatus(port).catch(() => "")) === "SERVING", 30_000);
    expect(up, coordinator.output()).toBe(true);

    const first = worker("worker-a", `http://127.0.0.1:${proxy.port}`);
    await first.waitForOutput(/"msg":"worker started"/, 60_000);
    const spec = join(tmp, "job.yaml");
    await writeFile(
      spec,
      [
        `model: ${MODEL}`,
        "output: { dir: s3://datasets/kill, format: webdataset }",
        "images_per_prompt: 2",
        "defaults: { steps: 1, guidance_scale: 1, width: 256, height: 256 }",
        "prompts:",
        '  - template: "a {color} {shape}"',
        "    vars: { color: [red, green, blue, yellow, orange, purple], shape: [circle, square, star, moon] }",
      ].join("\n"),
    );
    const submitted = await runCli(["submit", spec, "--coordinator", address], { env });
    expect(submitted.code, submitted.output).toBe(0);
    const jobId = submitted.output.trim().split("\n").pop() ?? "";

    // The upload is under way once bytes go through the proxy (a first delivery sends nothing before it).
    const uploading = await waitFor(() => proxy.sent > 2_500_000, 180_000);
    expect(uploading, first.output()).toBe(true);
    first.child.kill("SIGKILL");
    await first.exited;

    const storage = new S3Storage("s3://datasets/kill", s3.settings);
    try {
      expect(await storage.list("")).toEqual([]);
      // What the killed worker left: an unfinished multipart upload (s3rver keeps its parts apart).
      const unfinished = await readdir(join(s3.directory, "datasets", "._S3rver_uploads")).catch(() => []);
      expect(unfinished.length).toBeGreaterThan(0);

      worker("worker-b", s3.endpoint);
      const watched = await runCli(["watch", jobId, "--coordinator", address], { env, timeoutMs: 180_000 });
      expect(watched.code, watched.output).toBe(0);

      const objects = await storage.list("");
      expect(objects.map((o) => o.key)).toEqual(["00000.parquet", "00000.tar", "_stats.json"]);
      const tar = (await storage.get("00000.tar")) ?? Buffer.alloc(0);
      expect(tar.length).toBeGreaterThan(5 * 1024 * 1024); // more than one part: a multipart upload
      const index = await readShardIndex((await storage.get("00000.parquet")) ?? Buffer.alloc(0));
      expect(index.tar?.bytes).toBe(tar.length);
      await writeFile(join(tmp, "00000.tar"), tar);
      const members = execFileSync("tar", ["-tf", join(tmp, "00000.tar")], { encoding: "utf8" })
        .trim()
        .split("\n");
      expect(members).toHaveLength(3 * SAMPLES);
      expect(new Set(members).size).toBe(members.length);
    } finally {
      storage.close();
    }
  });
});
