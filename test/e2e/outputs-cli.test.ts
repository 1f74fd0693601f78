/**
 * Dataset outputs as a user gets them from the CLI: WebDataset shards read back by GNU tar, Python's tarfile
 * and DuckDB, metadata.jsonl by DuckDB, re-runs that finish only what is missing or broken, `inspect` and its
 * contact sheets, and the same job into a local S3-compatible server.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, truncate, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobStatsFile } from "../../src/common/contract/job.js";
import { S3Storage } from "../../src/common/storage/s3-storage.js";
import { readTarIndex } from "../../src/common/tar.js";
import { decodePng } from "../../src/engine/png.js";
import { expandSpec, loadSpec, type ManifestSample } from "../../src/manifest/index.js";
import {
  readShardIndex,
  type ShardSampleRecord,
  sampleKey,
  tarShardName,
} from "../../src/outputs/webdataset/shard-index.js";
import { readMetadata, startCli } from "../helpers/cli-processes.js";
import { duckdbRows, hasPython, pythonTarSamples, sqlPath } from "../helpers/external-readers.js";
import { CLI, TINY_SHAPES } from "../helpers/paths.js";
import { startS3Server, type TestS3Server } from "../helpers/s3-server.js";
import { waitFor } from "../helpers/worker-fixtures.js";

function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 240_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI without blocking this process (which runs the S3 server the CLI talks to). */
function cliAsync(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function manifest(spec: string, out: string): Promise<ManifestSample[]> {
  const samples: ManifestSample[] = [];
  for await (const e of expandSpec(await loadSpec(spec, { outputOverride: out }))) {
    if (e.type === "sample") samples.push(e.sample);
  }
  return samples;
}

/** Every tar of a folder, read by GNU tar: member names per shard, and the members extracted. */
function readTarsWithGnuTar(dir: string, into: string): Map<string, string[]> {
  const byTar = new Map<string, string[]>();
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith(".tar"))
    .sort()) {
    const listed = execFileSync("tar", ["-tf", join(dir, name)], { encoding: "utf8" })
      .trim()
      .split("\n");
    byTar.set(name, listed);
    const target = join(into, name);
    mkdirSync(target, { recursive: true });
    execFileSync("tar", ["-xf", join(dir, name), "-C", target]);
  }
  return byTar;
}

/** Checks a webdataset folder against the manifest: each sample once, under its key, PNG valid, JSON equal. */
function checkShards(dir: string, expected: ManifestSample[], shardSize: number): void {
  const extracted = join(dir, "..", `${dir.split("/").pop()}-extracted`);
  const byTar = readTarsWithGnuTar(dir, extracted);
  const members = [...byTar.values()].flat();
  expect(new Set(members).size).toBe(members.length);
  expect(members).toHaveLength(expected.length * 3);
  for (const s of expected) {
    const shard = Math.floor(s.index / shardSize);
    const key = sampleKey(shard, s.index % shardSize);
    const folder = join(extracted, tarShardName(shard));
    const png = decodePng(readFileSync(join(folder, `${key}.png`)));
    expect([png.width, png.height]).toEqual([64, 64]);
    expect(readFileSync(join(folder, `${key}.txt`), "utf8")).toBe(s.prompt);
    const json = JSON.parse(readFileSync(join(folder, `${key}.json`), "utf8")) as ShardSampleRecord;
    expect(json).toEqual({
      key,
      shard,
      index: s.index,
      id: s.sampleId,
      prompt: s.prompt,
      text: s.prompt,
      negative_prompt: s.negativePrompt,
      seed: s.seed,
      steps: s.steps,
      guidance_scale: s.guidanceScale,
      scheduler: s.scheduler,
      width: s.width,
      height: s.height,
      model: "tiny-shapes",
      status: "success",
      error_message: "",
      error_code: "",
    });
  }
}

/** A sample as (id, prompt, caption, seed), JSON, for set comparisons across readers. */
function sampleTuple(id: unknown, prompt: unknown, text: unknown, seed: unknown): string {
  return JSON.stringify([id, prompt, text, String(seed)]);
}

/** The manifest's samples as tuples: the caption is the prompt. */
function manifestTuples(expected: readonly ManifestSample[]): Set<string> {
  return new Set(expected.map((s) => sampleTuple(s.sampleId, s.prompt, s.prompt, s.seed)));
}

/** What `inspect --contact-sheet FILE --json` prints. */
interface ContactSheetReport {
  file: string;
  width: number;
  height: number;
  columns: number;
  samples: {
    key: string;
    id: string;
    prompt: string;
    seed: number;
    cell: { x: number; y: number; width: number; height: number };
  }[];
}

/**
 * Checks a contact sheet of 64x64 samples: it shows exactly `shown` (key, id, prompt, seed), in order, in a
 * grid of the expected size, each cell the sample's own image doubled (`pngOf`), none of them blank.
 */
async function checkContactSheet(
  report: ContactSheetReport,
  shown: { key: string; id: string; prompt: string; seed: number }[],
  pngOf: (key: string) => Promise<Buffer>,
): Promise<void> {
  expect(report.samples.map(({ key, id, prompt, seed }) => ({ key, id, prompt, seed }))).toEqual(shown);
  // The layout: cells of 128 px (64 px doubled), 8 px apart, three caption lines of 9 px under each.
  const columns = Math.ceil(Math.sqrt(shown.length));
  const rows = Math.ceil(shown.length / columns);
  const sheet = decodePng(await readFile(report.file));
  expect([sheet.width, sheet.height]).toEqual([8 + columns * 136, 8 + rows * (128 + 29 + 8)]);
  expect([report.width, report.height, report.columns]).toEqual([sheet.width, sheet.height, columns]);
  for (const [i, s] of report.samples.entries()) {
    const cell = {
      x: 8 + (i % columns) * 136,
      y: 8 + Math.floor(i / columns) * 165,
      width: 128,
      height: 128,
    };
    expect(s.cell, s.key).toEqual(cell);
    const image = decodePng(await pngOf(s.key));
    expect(Math.max(...image.rgb) - Math.min(...image.rgb), `${s.key} is not blank`).toBeGreaterThan(32);
    let differ = 0;
    for (let y = 0; y < 128; y++) {
      for (let x = 0; x < 128; x++) {
        const at = ((cell.y + y) * sheet.width + cell.x + x) * 3;
        const from = ((y >> 1) * 64 + (x >> 1)) * 3;
        for (let c = 0; c < 3; c++) if (sheet.rgb[at + c] !== image.rgb[from + c]) differ++;
      }
    }
    expect(differ, `cell ${i} shows ${s.key}`).toBe(0);
  }
}

/** What a four-shard webdataset job leaves in its output, sorted: a tar and a Parquet file per shard, the stats. */
const FOUR_SHARD_WEBDATASET = [0, 1, 2, 3]
  .flatMap((k) => [`0000${k}.parquet`, `0000${k}.tar`])
  .concat("_stats.json");

describe("dataset outputs", () => {
  let tmp: string;
  let spec: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-outputs-"));
    spec = join(tmp, "job.yaml");
    await writeFile(
      spec,
      [
        `model: ${TINY_SHAPES}`,
        "output: { dir: out/wds, format: webdataset }",
        "seed: 7",
        "images_per_prompt: 2",
        "defaults: { steps: 2, guidance_scale: 4.0, scheduler: euler, width: 64, height: 64 }",
        "prompts:",
        '  - "a red circle on a white background"',
        '  - template: "a {color} {shape} on a {background} background"',
        "    vars: { color: [green, blue], shape: [square, triangle], background: [white] }",
      ].join("\n"),
    );
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("writes WebDataset shards GNU tar reads back: each sample once, valid PNG, JSON equal to the manifest", async () => {
    const out = join(tmp, "wds");
    const r = cli(["run", spec, "--out", out, "--workers", "2", "--shard-size", "3", "--no-metrics"]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code, r.stderr).toBe(0);
    const expected = await manifest(spec, out);
    expect(expected).toHaveLength(10);
    checkShards(out, expected, 3);
    // One Parquet file per shard with the same records, and the job's stats.
    const names = (await readdir(out)).sort();
    expect(names).toEqual(FOUR_SHARD_WEBDATASET);
    const index = await readShardIndex(await readFile(join(out, "00001.parquet")));
    expect(index.records.map((x) => x.id)).toEqual(expected.slice(3, 6).map((s) => s.sampleId));
    expect(index.tar?.bytes).toBe((await stat(join(out, "00001.tar"))).size);
    // The index says where each PNG lies in the tar: exactly the member's bytes.
    const tar = await readFile(join(out, "00001.tar"));
    const members = readTarIndex(tar);
    expect(index.images).toEqual(
      index.records.map((r) => {
        const m = members.find((e) => e.name === `${r.key}.png`);
        return m && { offset: m.offset, size: m.size };
      }),
    );
    expect(index.images.every((at) => at !== undefined)).toBe(true);
    const stats = JSON.parse(await readFile(join(out, "_stats.json"), "utf8")) as JobStatsFile;
    expect(stats).toMatchObject({
      state: "SUCCEEDED",
      format: "webdataset",
      samples: { total: 10, done: 10, failed: 0, generated: 10, reused: 0 },
      shards: { total: 4, done: 4, generated: 4, reused: 0 },
    });
    expect(stats.images_per_second).toBeGreaterThan(0);

    const inspect = cli(["inspect", out, "--verify", "--json"]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({
      format: "webdataset",
      samples: { done: 10, failed: 0 },
      shards: { complete: 4, incomplete: [] },
    });
    const one = cli(["inspect", out, "--extract", "000010002", "--to", join(tmp, "one.png")]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain(`"id": "${expected[5].sampleId}"`);
    expect(decodePng(await readFile(join(tmp, "one.png"))).width).toBe(64);
  });

  // The next three read the output of the first test.
  it("DuckDB's read_parquet sees exactly the manifest's samples in the Parquet files, the caption as text", async () => {
    const out = join(tmp, "wds");
    const expected = await manifest(spec, out);
    const rows = await duckdbRows(
      `SELECT id, prompt, text, seed FROM read_parquet(${sqlPath(join(out, "*.parquet"))}) WHERE status = 'success'`,
    );
    expect(new Set(rows.map((r) => sampleTuple(...(r as [unknown, unknown, unknown, unknown]))))).toEqual(
      manifestTuples(expected),
    );
    expect(rows).toHaveLength(expected.length); // and none twice
  });

  it.skipIf(!hasPython())(
    "Python's tarfile and json see exactly the manifest's samples in the tars: .txt the caption, .json its record",
    async () => {
      const out = join(tmp, "wds");
      const expected = await manifest(spec, out);
      const samples = pythonTarSamples(out);
      expect(samples).toHaveLength(expected.length);
      const seen = samples.map((s) => {
        expect(s.record.key, s.key).toBe(s.key);
        expect(s.record.text, s.key).toBe(s.caption);
        expect(s.png, s.key).toEqual({ width: 64, height: 64 });
        return sampleTuple(s.record.id, s.record.prompt, s.caption, s.record.seed);
      });
      expect(new Set(seen)).toEqual(manifestTuples(expected));
    },
  );

  it("inspect --contact-sheet draws a webdataset output's first samples across shards, with their prompts", async () => {
    const out = join(tmp, "wds");
    const expected = (await manifest(spec, out)).slice(0, 5);
    const file = join(tmp, "wds-sheet.png");
    const r = cli(["inspect", out, "--contact-sheet", file, "--count", "5", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const shown = expected.map((s) => ({
      key: sampleKey(Math.floor(s.index / 3), s.index % 3),
      id: s.sampleId,
      prompt: s.prompt,
      seed: s.seed,
    }));
    await checkContactSheet(JSON.parse(r.stdout) as ContactSheetReport, shown, (key) =>
      readFile(join(tmp, "wds-extracted", tarShardName(Number(key.slice(0, 5))), `${key}.png`)),
    );
    // An output with no sample to show is a bad argument.
    const empty = join(tmp, "empty");
    mkdirSync(empty);
    const none = cli(["inspect", empty, "--contact-sheet", join(tmp, "none.png")]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("holds no sample to show");
    const both = cli(["inspect", out, "--contact-sheet", join(tmp, "both.png"), "--extract", "000000000"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--contact-sheet and --extract: one at a time");
  });

  it("re-runs an interrupted job: keeps the complete shards, regenerates only the missing and broken ones", async () => {
    const out = join(tmp, "rerun");
    const slow = join(tmp, "slow.yaml");
    await writeFile(
      slow,
      (await readFile(spec, "utf8"))
        .replace("steps: 2", "steps: 12")
        .replace("out/wds", "out/rerun")
        .replace("color: [green, blue]", "color: [green, blue, yellow, purple]"),
    );
    const args = ["run", slow, "--out", out, "--workers", "1", "--batch-size", "2", "--shard-size", "2"];
    const first = startCli("run-1", [...args, "--no-metrics"]);
    const parquets = async () => (await readdir(out).catch(() => [])).filter((n) => n.endsWith(".parquet"));
    expect(await waitFor(async () => (await parquets()).length >= 2, 120_000), first.output()).toBe(true);
    first.child.kill("SIGINT");
    expect((await first.exited).code).toBe(130);
    const expected = await manifest(slow, out);
    const shards = expected.length / 2; // 18 samples, shards of 2
    const complete = (await parquets()).length;
    expect(complete, "the first run was to be interrupted before its end").toBeLessThan(shards);
    // Break one complete shard: a truncated tar is not complete.
    const broken = join(out, "00000.tar");
    await truncate(broken, 1024);
    const kept = (await readdir(out)).filter((n) => n.endsWith(".tar") && n !== "00000.tar");
    const before = new Map(
      await Promise.all(kept.map(async (n) => [n, (await stat(join(out, n))).mtimeMs] as const)),
    );

    const second = cli([...args, "--no-metrics"]);
    expect(second.code, second.stderr).toBe(0);
    const reused = complete - 1;
    const regenerated = shards - reused;
    expect(second.stdout).toContain(
      `${reused} shards complete, skipped (${2 * reused} samples); ${regenerated} regenerated`,
    );
    const stats = JSON.parse(await readFile(join(out, "_stats.json"), "utf8")) as JobStatsFile;
    // The second run generated only the samples of the missing and the broken shards.
    expect(stats.samples).toEqual({
      total: 2 * shards,
      done: 2 * shards,
      failed: 0,
      generated: 2 * regenerated,
      reused: 2 * reused,
    });
    for (const [name, mtime] of before) expect((await stat(join(out, name))).mtimeMs, name).toBe(mtime);
    checkShards(out, expected, 2);

    // --overwrite starts over: everything is generated again.
    const again = cli([...args, "--no-metrics", "--overwrite"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/skipped/);
    const restats = JSON.parse(await readFile(join(out, "_stats.json"), "utf8")) as JobStatsFile;
    expect(restats.samples.generated).toBe(2 * shards);
  });

  it("re-runs an imagefolder job whose PNG went missing", async () => {
    const out = join(tmp, "folder");
    const folderSpec = join(tmp, "folder.yaml");
    await writeFile(
      folderSpec,
      (await readFile(spec, "utf8")).replace("{ dir: out/wds, format: webdataset }", "out/f"),
    );
    const args = ["run", folderSpec, "--out", out, "--workers", "1", "--shard-size", "4", "--no-metrics"];
    expect(cli(args).code).toBe(0);
    const rows = await readMetadata(out);
    await unlink(join(out, rows[5].file_name)); // in shard 1
    const inspect = cli(["inspect", out]);
    expect(inspect.code).toBe(1);
    expect(inspect.stdout).toContain(`shard 1: ${rows[5].file_name} is missing`);
    const second = cli(args);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain("2 shards complete, skipped (6 samples); 1 regenerated");
    expect((await readMetadata(out)).map((r) => r.id)).toEqual(rows.map((r) => r.id));
    expect(decodePng(await readFile(join(out, rows[5].file_name))).width).toBe(64);
  });

  it("DuckDB's read_json_auto sees exactly the manifest's samples in metadata.jsonl; the contact sheet shows the first", async () => {
    const out = join(tmp, "folder");
    const expected = await manifest(join(tmp, "folder.yaml"), out);
    const metadata = sqlPath(join(out, "metadata.jsonl"));
    const rows = await duckdbRows(
      `SELECT id, prompt, text, seed, file_name FROM read_json_auto(${metadata})`,
    );
    expect(new Set(rows.map((r) => sampleTuple(r[0], r[1], r[2], r[3])))).toEqual(manifestTuples(expected));
    expect(rows).toHaveLength(expected.length);
    for (const r of rows) expect(existsSync(join(out, String(r[4]))), String(r[4])).toBe(true);

    const file = join(tmp, "folder-sheet.png");
    const r = cli(["inspect", out, "--contact-sheet", file, "--count", "6", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const shown = expected
      .slice(0, 6)
      .map((s) => ({ key: s.sampleId, id: s.sampleId, prompt: s.prompt, seed: s.seed }));
    const fileOf = new Map(rows.map((row) => [String(row[0]), String(row[4])]));
    await checkContactSheet(JSON.parse(r.stdout) as ContactSheetReport, shown, (key) =>
      readFile(join(out, fileOf.get(key) ?? "")),
    );
  });

  describe("to an S3-compatible server", () => {
    let s3: TestS3Server;
    let env: NodeJS.ProcessEnv;
    beforeAll(async () => {
      s3 = await startS3Server(["datasets"]);
      env = { ...process.env, ...s3.env };
    });
    afterAll(async () => {
      await s3?.stop();
    });

    it("writes the same shards under s3://bucket/prefix, and inspect reads them there", async () => {
      // Asynchronous: the S3 server runs in this process and must keep answering.
      const args = ["run", spec, "--out", "s3://datasets/jobs/wds", "--workers", "2", "--shard-size", "3"];
      const r = await cliAsync([...args, "--no-metrics"], env);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.code, r.stderr).toBe(0);
      const storage = new S3Storage("s3://datasets/jobs/wds", s3.settings);
      const local = join(tmp, "from-s3");
      try {
        const keys = (await storage.list("")).map((o) => o.key);
        expect(keys).toEqual(FOUR_SHARD_WEBDATASET);
        mkdirSync(local, { recursive: true });
        for (const k of keys) await writeFile(join(local, k), (await storage.get(k)) ?? Buffer.alloc(0));
      } finally {
        storage.close();
      }
      checkShards(local, await manifest(spec, local), 3);
      const inspect = await cliAsync(["inspect", "s3://datasets/jobs/wds", "--verify", "--json"], env);
      expect(inspect.code, inspect.stderr).toBe(0);
      expect(JSON.parse(inspect.stdout)).toMatchObject({ samples: { done: 10 }, shards: { complete: 4 } });

      const sheet = join(tmp, "s3-sheet.png");
      const drawn = await cliAsync(
        ["inspect", "s3://datasets/jobs/wds", "--contact-sheet", sheet, "--count", "4", "--json"],
        env,
      );
      expect(drawn.code, drawn.stderr).toBe(0);
      const shown = (await manifest(spec, local)).slice(0, 4).map((s) => ({
        key: sampleKey(Math.floor(s.index / 3), s.index % 3),
        id: s.sampleId,
        prompt: s.prompt,
        seed: s.seed,
      }));
      await checkContactSheet(JSON.parse(drawn.stdout) as ContactSheetReport, shown, (key) =>
        readFile(join(tmp, "from-s3-extracted", tarShardName(Number(key.slice(0, 5))), `${key}.png`)),
      );
    });
  });
});
