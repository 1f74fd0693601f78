/**
 * The live job page's server without a browser: its routes over a real imagefolder and a real webdataset
 * output on disk (made here with the formats' own file layouts), paging in manifest order, images by key,
 * and what it refuses: traversal, encoded slashes, links, another job's keys, foreign hosts, cancelling
 * without the token.
 */

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ERRORS_FILE,
  type ErrorRow,
  imageFileName,
  type MetadataRow,
  STATS_FILE,
  shardMetadataFile,
} from "../../../src/common/contract/job.js";
import { LatentFleetError } from "../../../src/common/errors.js";
import { createLogger } from "../../../src/common/log.js";
import { Lru } from "../../../src/common/lru.js";
import { LocalStorage, type ObjectStorage } from "../../../src/common/storage/index.js";
import { S3Storage } from "../../../src/common/storage/s3-storage.js";
import { readTarIndex, writeTar } from "../../../src/common/tar.js";
import type { JobDetails } from "../../../src/coordinator/job-manager.js";
import type { JobSnapshot } from "../../../src/coordinator/job-snapshot.js";
import { startUiServer, type UiJobSource, type UiServer } from "../../../src/coordinator/ui/server.js";
import { composeContactSheet } from "../../../src/eval/contact-sheet.js";
import { webdatasetSampleImage, webdatasetShardSamples } from "../../../src/outputs/webdataset/samples.js";
import {
  parquetShardName,
  type ShardSampleRecord,
  sampleKey,
  tarShardName,
  writeShardIndex,
} from "../../../src/outputs/webdataset/shard-index.js";
import { ROOT } from "../../helpers/paths.js";
import { startS3Server, type TestS3Server } from "../../helpers/s3-server.js";
import { makeTestPki, type TestPki } from "../../integration/security/certs.js";

/** Where the build puts the page, script and styles (the server reads them there). */
const BUILT_PAGE = join(ROOT, "dist", "ui");

let tmp: string;
let folderOut: string;
let wdsOut: string;
let doneOut: string;
let readOnly: UiServer;
let withToken: UiServer;
const cancelled: string[] = [];
const listeners = new Map<string, () => void>();
/** job-s3: the webdataset shard of job-b, on a real S3-compatible server. */
const S3_OUT = "s3://lf-ui/jobs/wds";
let s3: TestS3Server;
const savedEnv: Record<string, string | undefined> = {};

function png(width: number, height: number, shade: number): Buffer {
  const img = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) img.data.set([shade, 255 - shade, 64, 255], i * 4);
  return PNG.sync.write(img);
}

function row(shard: number, id: string, prompt: string): MetadataRow {
  return {
    file_name: imageFileName(shard, id),
    id,
    prompt,
    text: prompt,
    negative_prompt: "",
    seed: 7,
    steps: 4,
    guidance_scale: 2,
    scheduler: "ddim",
    width: 200,
    height: 100,
    model: "tiny-shapes",
  };
}

function snapshot(jobId: string, output: string): JobSnapshot {
  return {
    jobId,
    state: "RUNNING",
    model: "tiny-shapes",
    output,
    samplesTotal: 6,
    samplesDone: 5,
    samplesFailed: 1,
    shardsTotal: 2,
    shardsPublished: 2,
    shardsDone: 2,
    shardsReused: 0,
    samplesReused: 0,
    rowsRejected: 1,
    imagesPerSecond: 1,
    etaSeconds: 1,
    createdAtMs: 1,
    finishedAtMs: null,
    error: "",
    maxFailed: "0",
  };
}

const source: UiJobSource = {
  async list() {
    return [snapshot("job-a", folderOut), snapshot("job-b", wdsOut)];
  },
  async details(jobId): Promise<JobDetails> {
    // An ended job that another coordinator ran: what the page knows of it comes from its _stats.json.
    if (jobId === "job-done")
      return {
        snapshot: { ...snapshot(jobId, doneOut), state: "SUCCEEDED" },
        outputFormat: "imagefolder",
        live: null,
      };
    const output = { "job-a": folderOut, "job-b": wdsOut, "job-s3": S3_OUT }[jobId];
    if (output === undefined) throw new LatentFleetError("JOB_NOT_FOUND", `no job ${jobId}`);
    return {
      snapshot: snapshot(jobId, output),
      outputFormat: jobId === "job-a" ? "imagefolder" : "webdataset",
      live: { workers: { w1: 5 }, failures: { ENGINE_FAILED: 1 } },
    };
  },
  recentJobs() {
    return [snapshot("job-a", folderOut)];
  },
  subscribe(jobId, listener) {
    listeners.set(jobId, listener);
    return () => listeners.delete(jobId);
  },
  async cancel(jobId) {
    cancelled.push(jobId);
    return { ...snapshot(jobId, folderOut), state: "CANCELLED" };
  },
};

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request with the path sent as written (no normalisation of dot segments or escapes). */
function raw(
  server: UiServer,
  path: string,
  init: { method?: string; headers?: Record<string, string> } = {},
) {
  return new Promise<Reply>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: server.port, path, method: init.method ?? "GET", headers: init.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function getJson<T>(server: UiServer, path: string): Promise<T> {
  const r = await raw(server, path);
  expect(r.status, r.body.toString()).toBe(200);
  return JSON.parse(r.body.toString()) as T;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "lf-ui-"));
  folderOut = join(tmp, "folder");
  wdsOut = join(tmp, "wds");
  doneOut = join(tmp, "done");
  await new LocalStorage(doneOut).put(
    STATS_FILE,
    Buffer.from(JSON.stringify({ failures: { ENGINE_FAILED: 2 }, workers: { "w-b": 7, "w-a": 3 } })),
  );
  await writeFile(join(tmp, "secret.txt"), "not for the page");
  // imagefolder: two shards of three samples; one "image" is a link to a file outside the output.
  const folder = new LocalStorage(folderOut);
  for (const shard of [0, 1]) {
    const rows = [0, 1, 2].map((i) =>
      row(shard, `s${shard}-${i}`, i === 2 ? "a red circle" : "a blue square"),
    );
    for (const [i, r] of rows.entries()) await folder.put(r.file_name, png(200, 100, 40 * shard + 10 * i));
    if (shard === 1) rows.push(row(1, "link", "linked"));
    await folder.put(
      shardMetadataFile(shard),
      Buffer.from(rows.map((r) => `${JSON.stringify(r)}\n`).join("")),
    );
  }
  await symlink(join(tmp, "secret.txt"), join(folderOut, imageFileName(1, "link")));
  await symlink(join(tmp, "secret.txt"), join(folderOut, imageFileName(0, "unlisted")));
  const errors: ErrorRow[] = [
    { where: "prompts.jsonl:3", id: "s9-0", code: "ENGINE_FAILED", error: "the engine failed" },
    { where: "prompts.jsonl:5", field: "seed", error: "seed must be an integer" },
  ];
  await writeFile(join(folderOut, ERRORS_FILE), errors.map((e) => `${JSON.stringify(e)}\n`).join(""));
  // webdataset: one shard, the second sample failed.
  const records: ShardSampleRecord[] = [0, 1, 2].map((i) => ({
    ...row(0, `w-${i}`, `wds prompt ${i}`),
    key: sampleKey(0, i),
    shard: 0,
    index: i,
    status: i === 1 ? "failed" : "success",
    error_message: i === 1 ? "the engine failed" : "",
    error_code: i === 1 ? "ENGINE_FAILED" : "",
  }));
  const members = records
    .filter((r) => r.status === "success")
    .flatMap((r, n) => [
      { name: `${r.key}.png`, data: png(64, 64, 100 + 50 * n) },
      { name: `${r.key}.txt`, data: Buffer.from(r.prompt) },
      { name: `${r.key}.json`, data: Buffer.from(JSON.stringify(r)) },
    ]);
  const tar = writeTar(members);
  const wds = new LocalStorage(wdsOut);
  await wds.put(tarShardName(0), tar);
  // Where each PNG lies in the tar, as the writer records it.
  const tarMembers = readTarIndex(tar);
  const images = records.map((r) => tarMembers.find((m) => m.name === `${r.key}.png`));
  await wds.put(parquetShardName(0), await writeShardIndex(records, tar, images));
  // The same shard on S3: the page reaches it through the AWS_* environment, as a coordinator does.
  s3 = await startS3Server(["lf-ui"]);
  for (const [k, v] of Object.entries(s3.env)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  const onS3 = new S3Storage(S3_OUT, s3.settings);
  await onS3.put(tarShardName(0), tar);
  await onS3.put(parquetShardName(0), await writeShardIndex(records, tar, images));
  onS3.close();
  const log = createLogger({}, { write: () => undefined });
  readOnly = await startUiServer(source, {
    address: "127.0.0.1:0",
    log,
    pollMs: 100,
    composeSheet: (tiles) => composeContactSheet(tiles, { columns: 4, scale: 1 }),
  });
  withToken = await startUiServer(source, { address: "127.0.0.1:0", log, token: "s3cret", pollMs: 100 });
});

afterAll(async () => {
  await readOnly?.stop();
  await withToken?.stop();
  await s3?.stop();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("the live page's server", () => {
  it("serves the page and its files with headers that allow nothing from elsewhere", async () => {
    const page = await raw(readOnly, "/");
    expect(page.status).toBe(200);
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    const html = page.body.toString();
    // Scripts only by src from this server: no inline script, nothing third-party.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc="\/static\/)[^>]*>/);
    // Nor what the policy's 'self' blocks as inline too: handler attributes, style elements and attributes.
    expect(html).not.toMatch(/<[^>]+\s(on[a-z]+|style)=/i);
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/https?:\/\//);
    // What it sends is the build's (scripts/bundle.mjs compiles src/coordinator/ui/page into dist/ui).
    expect(page.body.equals(readFileSync(join(BUILT_PAGE, "index.html"))), "run `npm run build`").toBe(true);
    const app = await raw(readOnly, "/static/app.js");
    expect(app.body.equals(readFileSync(join(BUILT_PAGE, "app.js")))).toBe(true);
    // The script parses (a syntax error would leave the page blank in a browser), in ASCII as the bundle.
    const check = spawnSync(process.execPath, ["--input-type=module", "--check"], { input: app.body });
    expect(check.status, check.stderr?.toString()).toBe(0);
    expect(app.body.toString().match(/[\u0080-\uffff]/)?.[0]).toBeUndefined();
    const css = await raw(readOnly, "/static/style.css");
    expect(css.body.equals(readFileSync(join(BUILT_PAGE, "style.css")))).toBe(true);
    expect(app.headers["content-type"]).toMatch(/javascript/);
    expect(app.body.length + css.body.length).toBeLessThan(100 * 1024);
    expect((await raw(readOnly, "/api/jobs", { headers: { Host: "evil.example:80" } })).status).toBe(421);
  });

  it("lists the jobs with their failures by reason, and one job's failed samples and rejected rows", async () => {
    const { jobs } = await getJson<{ jobs: { jobId: string; failures: Record<string, number> }[] }>(
      readOnly,
      "/api/jobs",
    );
    expect(jobs.map((j) => j.jobId).sort()).toEqual(["job-a", "job-b"]);
    expect(jobs[0].failures).toEqual({ ENGINE_FAILED: 1 });
    const errors = await getJson<{ failed: ErrorRow[]; rejected: ErrorRow[] }>(
      readOnly,
      "/api/jobs/job-a/errors",
    );
    expect(errors.failed.map((e) => e.where)).toEqual(["prompts.jsonl:3"]);
    expect(errors.rejected.map((e) => e.where)).toEqual(["prompts.jsonl:5"]);
    expect((await raw(readOnly, "/api/jobs/job-z")).status).toBe(404);
  });

  it("shows an ended job's workers and failures from its _stats.json", async () => {
    const d = await getJson<{ job: { failures: Record<string, number> }; workers: unknown[] }>(
      readOnly,
      "/api/jobs/job-done",
    );
    expect(d.job.failures).toEqual({ ENGINE_FAILED: 2 });
    expect(d.workers).toEqual([
      { worker: "w-a", done: 3, rate: null },
      { worker: "w-b", done: 7, rate: null },
    ]);
  });

  it("pages through a job in manifest order, filters by text and shows the newest first", async () => {
    type Page = { samples: { key: string; shard: number }[]; next: { shard: number; at: number } | null };
    const first = await getJson<Page>(readOnly, "/api/jobs/job-a/samples?limit=4");
    expect(first.samples.map((s) => s.key)).toEqual(["s0-0", "s0-1", "s0-2", "s1-0"]);
    expect(first.next).toEqual({ shard: 1, at: 1 });
    const second = await getJson<Page>(readOnly, "/api/jobs/job-a/samples?limit=4&shard=1&at=1");
    expect(second.samples.map((s) => s.key)).toEqual(["s1-1", "s1-2", "link"]);
    expect(second.next).toBeNull();
    const red = await getJson<Page>(readOnly, "/api/jobs/job-a/samples?q=RED");
    expect(red.samples.map((s) => s.key)).toEqual(["s0-2", "s1-2"]);
    const newest = await getJson<Page>(readOnly, "/api/jobs/job-a/newest?limit=2");
    expect(newest.samples.map((s) => s.key)).toEqual(["link", "s1-2"]);
    expect((await raw(readOnly, "/api/jobs/job-a/samples?limit=100000")).status).toBe(400);
  });

  it("serves an image and a small thumbnail by key, from an imagefolder and from a webdataset tar", async () => {
    const full = await raw(readOnly, "/api/jobs/job-a/shards/1/samples/s1-2/image.png");
    expect(full.status).toBe(200);
    expect(full.headers["content-type"]).toBe("image/png");
    expect(PNG.sync.read(full.body).width).toBe(200);
    const thumb = PNG.sync.read(
      (await raw(readOnly, "/api/jobs/job-a/shards/1/samples/s1-2/thumb.png")).body,
    );
    expect([thumb.width, thumb.height]).toEqual([160, 80]);
    const wds = await raw(readOnly, `/api/jobs/job-b/shards/0/samples/${sampleKey(0, 2)}/image.png`);
    expect(wds.status).toBe(200);
    const img = PNG.sync.read(wds.body);
    expect([img.width, img.data[0]]).toEqual([64, 150]);
    const sheet = await raw(readOnly, "/api/jobs/job-b/contact-sheet.png");
    expect(sheet.headers["content-disposition"]).toMatch(/^attachment; filename="contact-sheet-job-b\.png"$/);
    expect(PNG.sync.read(sheet.body).width).toBeGreaterThan(2 * 64);
    expect((await raw(withToken, "/api/jobs/job-b/contact-sheet.png")).status).toBe(404);
    // The failed sample has no image.
    expect(
      (await raw(readOnly, `/api/jobs/job-b/shards/0/samples/${sampleKey(0, 1)}/image.png`)).status,
    ).toBe(404);
  });

  it("serves a webdataset job's images and thumbnails from S3, by their offsets in the index", async () => {
    const page = await getJson<{ samples: { key: string; shard: number; ok: boolean }[] }>(
      readOnly,
      "/api/jobs/job-s3/samples?limit=10",
    );
    expect(page.samples.map((s) => [s.key, s.ok])).toEqual([
      [sampleKey(0, 0), true],
      [sampleKey(0, 1), false],
      [sampleKey(0, 2), true],
    ]);
    const local = await raw(readOnly, `/api/jobs/job-b/shards/0/samples/${sampleKey(0, 2)}/image.png`);
    const remote = await raw(readOnly, `/api/jobs/job-s3/shards/0/samples/${sampleKey(0, 2)}/image.png`);
    expect(remote.status).toBe(200);
    expect(remote.body.equals(local.body)).toBe(true);
    const thumb = await raw(readOnly, `/api/jobs/job-s3/shards/0/samples/${sampleKey(0, 0)}/thumb.png`);
    expect(thumb.status).toBe(200);
    expect(PNG.sync.read(thumb.body).width).toBe(64);
    expect(
      (await raw(readOnly, `/api/jobs/job-s3/shards/0/samples/${sampleKey(0, 1)}/image.png`)).status,
    ).toBe(404);
  });

  it("reads one tar member by its offset in the Parquet index, never the whole shard", async () => {
    const storage = new LocalStorage(wdsOut);
    const tarReads: [number, number][] = [];
    const guarded = new Proxy(storage, {
      get(target, prop, receiver) {
        if (prop === "get") {
          return (key: string) => {
            if (key.endsWith(".tar")) throw new Error("read the whole tar");
            return target.get(key);
          };
        }
        if (prop === "getRange") {
          return (key: string, offset: number, length: number) => {
            if (key.endsWith(".tar")) tarReads.push([offset, length]);
            return target.getRange(key, offset, length);
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as ObjectStorage;
    const image = await webdatasetSampleImage(guarded, 0, sampleKey(0, 2));
    expect(image && PNG.sync.read(image).width).toBe(64);
    // One read: the member's data, where the index says it is.
    expect(tarReads).toHaveLength(1);
    expect(tarReads[0][0] % 512).toBe(0);
    expect(tarReads[0][1]).toBe(image?.length);
    // A shard indexed before the index recorded offsets: its headers are walked, 512 bytes at a time.
    tarReads.length = 0;
    const listed = (await webdatasetShardSamples(guarded, 0)) ?? [];
    expect(listed.filter((s) => s.imageAt !== undefined)).toHaveLength(2);
    const legacy = listed.map(({ imageAt: _, ...s }) => s);
    expect(await webdatasetSampleImage(guarded, 0, sampleKey(0, 2), legacy)).toEqual(image);
    expect(tarReads.filter(([, length]) => length === 512).length).toBeGreaterThanOrEqual(2);
  });

  it("refuses traversal, encoded slashes, links, unlisted files and another job's keys", async () => {
    const refused = [
      "/static/../package.json",
      "/static/..%2F..%2Fpackage.json",
      "/static/server.ts",
      "/api/jobs/job-a/shards/0/samples/..%2F..%2F..%2Fsecret.txt/image.png",
      "/api/jobs/job-a/shards/0/samples/%2e%2e/image.png",
      "/api/jobs/job-a/shards/0/samples/s0-0%00/image.png",
      "/api/jobs/..%2Fjob-a/shards/0/samples/s0-0/image.png",
      "/api/jobs/job-a/shards/0/samples/..%5Csecret.txt/image.png",
      // A link listed in the index, pointing outside the output; a link no index lists.
      "/api/jobs/job-a/shards/1/samples/link/image.png",
      "/api/jobs/job-a/shards/0/samples/unlisted/image.png",
      // A key of the other job, and a key in another shard than its own.
      `/api/jobs/job-a/shards/0/samples/${sampleKey(0, 0)}/image.png`,
      "/api/jobs/job-b/shards/0/samples/s0-0/image.png",
      "/api/jobs/job-a/shards/1/samples/s0-0/image.png",
    ];
    for (const path of refused) {
      const r = await raw(readOnly, path);
      expect([path, r.status]).toEqual([path, 404]);
      expect(r.body.toString()).not.toContain("not for the page");
    }
    expect((await raw(readOnly, "/api/jobs/job-a/shards/0/samples/s0-0/image.png")).status).toBe(200);
  });

  it("cancels a job only with the token it was given", async () => {
    expect((await raw(readOnly, "/api/jobs/job-a/cancel", { method: "POST" })).status).toBe(403);
    expect((await raw(withToken, "/api/jobs/job-a/cancel", { method: "POST" })).status).toBe(401);
    const wrong = { Authorization: "Bearer nope" };
    expect((await raw(withToken, "/api/jobs/job-a/cancel", { method: "POST", headers: wrong })).status).toBe(
      401,
    );
    expect((await raw(withToken, "/api/jobs/job-a/cancel")).status).toBe(405);
    expect(cancelled).toEqual([]);
    const right = { Authorization: "Bearer s3cret" };
    expect((await raw(withToken, "/api/jobs/job-a/cancel", { method: "POST", headers: right })).status).toBe(
      200,
    );
    expect(cancelled).toEqual(["job-a"]);
    expect(await getJson(readOnly, "/api/config")).toMatchObject({ cancel: false });
    expect(await getJson(withToken, "/api/config")).toMatchObject({ cancel: true });
  });

  it("streams job updates as server-sent events, with a reconnect delay", async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: readOnly.port, path: "/api/events" }, (res) => {
        expect(res.headers["content-type"]).toMatch(/text\/event-stream/);
        let got = "";
        res.on("data", (c: Buffer) => {
          got += c.toString();
          if (got.includes("event: jobs")) {
            req.destroy();
            resolve(got);
          }
        });
      });
      req.on("error", reject);
      req.end();
    });
    expect(text).toMatch(/^retry: \d+/);
    const data = /data: (.*)\n/.exec(text)?.[1] ?? "{}";
    expect((JSON.parse(data) as { jobs: { jobId: string }[] }).jobs.map((j) => j.jobId)).toEqual(["job-a"]);
  });

  it("refuses an address that is not HOST:PORT, and keeps a bounded cache of thumbnails", async () => {
    const log = createLogger({}, { write: () => undefined });
    await expect(startUiServer(source, { address: "8080", log })).rejects.toThrow(/--ui must be HOST:PORT/);
    const lru = new Lru<number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.get("a");
    lru.set("c", 3);
    expect([lru.get("a"), lru.get("b"), lru.get("c"), lru.size]).toEqual([1, undefined, 3, 2]);
  });
});

describe("the live page over HTTPS (--ui-tls)", () => {
  let pki: TestPki;
  let httpsOnly: UiServer;
  let mutual: UiServer;
  beforeAll(async () => {
    pki = makeTestPki();
    const log = createLogger({}, { write: () => undefined });
    httpsOnly = await startUiServer(source, {
      address: "127.0.0.1:0",
      log,
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey },
    });
    mutual = await startUiServer(source, {
      address: "127.0.0.1:0",
      log,
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.caCert },
    });
  });
  afterAll(async () => {
    await httpsOnly?.stop();
    await mutual?.stop();
    pki?.cleanup();
  });

  /** An HTTPS request that trusts the test CA, with a client certificate when given one. */
  function secure(server: UiServer, path: string, method = "GET", client?: { cert: string; key: string }) {
    return new Promise<Reply>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port: server.port,
          path,
          method,
          ca: readFileSync(pki.caCert),
          ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  it("serves the page over HTTPS, read-only without a client CA", async () => {
    expect(httpsOnly.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    expect(JSON.parse((await secure(httpsOnly, "/api/config")).body.toString())).toMatchObject({
      cancel: false,
    });
    expect((await secure(httpsOnly, "/api/jobs/job-b/cancel", "POST")).status).toBe(403);
    // Plain HTTP is not answered as a page.
    await expect(raw(httpsOnly, "/api/config")).rejects.toThrow();
  });

  it("with the client CA, answers only clients it vouches for, and lets them cancel without a token", async () => {
    const client = { cert: pki.clientCert, key: pki.clientKey };
    await expect(secure(mutual, "/api/config")).rejects.toThrow();
    await expect(
      secure(mutual, "/api/config", "GET", { cert: pki.otherClientCert, key: pki.otherClientKey }),
    ).rejects.toThrow();
    expect(JSON.parse((await secure(mutual, "/api/config", "GET", client)).body.toString())).toMatchObject({
      cancel: true,
      cancelNeedsToken: false,
    });
    const before = cancelled.length;
    expect((await secure(mutual, "/api/jobs/job-b/cancel", "POST", client)).status).toBe(200);
    expect(cancelled.slice(before)).toEqual(["job-b"]);
  });
});
