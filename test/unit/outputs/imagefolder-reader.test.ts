/**
 * The imagefolder format's reader side on a hand-made output of three shards: 0 complete, 1 incomplete (its
 * metadata file lists an image that is not there), 2 dead (an image written, no metadata file).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ERRORS_FILE,
  type ErrorRow,
  imageFileName,
  METADATA_FILE,
  type MetadataRow,
  shardMetadataFile,
} from "../../../src/common/contract/job.js";
import { LocalStorage } from "../../../src/common/storage/index.js";
import { encodeRgbPng } from "../../../src/engine/png-encode.js";
import { outputFormat, type StoredSample } from "../../../src/outputs/index.js";

const format = outputFormat("imagefolder");

function row(shard: number, id: string): MetadataRow {
  return {
    file_name: imageFileName(shard, id),
    id,
    prompt: `a ${id}`,
    text: `a ${id}`,
    negative_prompt: "",
    seed: 7,
    steps: 4,
    guidance_scale: 4,
    scheduler: "euler",
    width: 8,
    height: 8,
    model: "m",
  };
}

const png = (v: number) => encodeRgbPng(new Uint8Array(8 * 8 * 3).fill(v), 8, 8);
const jsonl = (rows: object[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join("");

describe("the imagefolder reader", () => {
  let dir: string;
  let storage: LocalStorage;
  const put = async (key: string, data: string | Buffer) => {
    await mkdir(dirname(join(dir, key)), { recursive: true });
    await writeFile(join(dir, key), data);
  };
  const exists = (key: string) => storage.stat(key).then((s) => s !== null);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "lf-imagefolder-"));
    storage = new LocalStorage(dir, { durable: false });
    await put(imageFileName(0, "a"), png(1));
    await put(imageFileName(0, "b"), png(2));
    await put(shardMetadataFile(0), jsonl([row(0, "a"), row(0, "b")]));
    await put(imageFileName(1, "c"), png(3));
    await put(shardMetadataFile(1), jsonl([row(1, "c"), row(1, "d")]));
    await put(imageFileName(2, "e"), png(4));
    const errors: ErrorRow[] = [
      { where: "p.jsonl:9", id: "f", code: "OUT_OF_MEMORY", error: "out of memory" },
      { where: "p.jsonl:3", field: "steps", code: "ROW_INVALID", error: "steps must be a number" },
    ];
    await put(ERRORS_FILE, jsonl(errors));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("holds the output, and lists the shards that have a metadata file", async () => {
    expect(await format.detect(storage, await storage.list("", { recursive: false }))).toBe(true);
    const shards = await format.listShards(storage);
    expect(shards.count).toBe(2);
    expect([0, 1, 2, 3].map((s) => shards.has(s))).toEqual([true, true, false, false]);
  });

  it("reuses the complete shard, comparing its rows in order, and not the incomplete one", async () => {
    const shards = await format.listShards(storage);
    const seen: (readonly StoredSample[])[] = [];
    const reused = await shards.reuse(0, (stored) => {
      seen.push(stored);
      return null;
    });
    expect(reused).toEqual({ reusable: true, fileNames: [imageFileName(0, "a"), imageFileName(0, "b")] });
    expect(seen.map((s) => s.map((r) => r.id))).toEqual([["a", "b"]]);
    expect(await shards.reuse(0, () => "sample a: its seed changed")).toEqual({
      reusable: false,
      why: "sample a: its seed changed",
    });
    expect(await shards.reuse(1, () => null)).toEqual({
      reusable: false,
      why: `${imageFileName(1, "d")} is missing`,
    });
  });

  it("does not reuse a shard whose row names another file, or whose metadata file went away", async () => {
    await put(
      shardMetadataFile(0),
      jsonl([row(0, "a"), { ...row(0, "b"), file_name: imageFileName(0, "a") }]),
    );
    const shards = await format.listShards(storage);
    expect(await shards.reuse(0, () => null)).toEqual({
      reusable: false,
      why: "sample b names another file",
    });
    await rm(join(dir, shardMetadataFile(0)));
    expect(await shards.reuse(0, () => null)).toEqual({ reusable: false, why: "its metadata file is gone" });
  });

  it("does not reuse a shard written without the caption as text", async () => {
    const { text: _, ...uncaptioned } = row(0, "b");
    await put(shardMetadataFile(0), jsonl([row(0, "a"), uncaptioned]));
    const shards = await format.listShards(storage);
    expect(await shards.reuse(0, () => null)).toEqual({
      reusable: false,
      why: "sample b has no caption as text",
    });
  });

  it("removes a dead shard's images and nothing of the other shards", async () => {
    expect(await format.removeShard(storage, 2)).toBe(1);
    expect(await exists(imageFileName(2, "e"))).toBe(false);
    expect(await format.removeShard(storage, 2)).toBe(0);
    expect(await format.removeShard(storage, 1)).toBe(2);
    expect(await exists(shardMetadataFile(1))).toBe(false);
    expect(await exists(imageFileName(0, "a"))).toBe(true);
    expect(await exists(shardMetadataFile(0))).toBe(true);
  });

  it("writes metadata.jsonl at the job's end from the shards with images, and names those without a file", async () => {
    const work = join(dir, ".work");
    const files = await format.finishJob({ storage, workDir: work, shards: 3, hasImages: () => true });
    expect(files).toEqual({ missing: [2], indexRows: 4 });
    const written = await readFile(join(dir, METADATA_FILE), "utf8");
    expect(written).toBe(jsonl([row(0, "a"), row(0, "b"), row(1, "c"), row(1, "d")]));
    expect(await readdir(work)).toEqual([]);
    const onlyFirst = await format.finishJob({
      storage,
      workDir: work,
      shards: 3,
      hasImages: (s) => s === 0,
    });
    expect(onlyFirst).toEqual({ missing: [], indexRows: 2 });
  });

  it("inspects: the complete shard, the incomplete one and why, failures from errors.jsonl", async () => {
    const report = await format.inspect(storage, false);
    expect(report).toEqual({
      samples: { done: 4, failed: 1 },
      shards: { complete: 1, incomplete: [{ shard: 1, why: `${imageFileName(1, "d")} is missing` }] },
      failures: { OUT_OF_MEMORY: 1 },
    });
  });

  it("verifies every PNG through when asked: a cut one makes its shard incomplete", async () => {
    const whole = png(2);
    await put(imageFileName(0, "b"), whole.subarray(0, whole.length - 4));
    expect((await format.inspect(storage, false)).shards.complete).toBe(1);
    const verified = await format.inspect(storage, true);
    expect(verified.shards.complete).toBe(0);
    expect(verified.shards.incomplete).toEqual([
      { shard: 0, why: `${imageFileName(0, "b")} is not a whole PNG` },
      { shard: 1, why: `${imageFileName(1, "d")} is missing` },
    ]);
  });

  it("extracts a sample by id or file name, and says why another cannot be", async () => {
    const byId = await format.extract(storage, "b");
    expect(byId).toMatchObject({ key: "b", metadata: row(0, "b") });
    expect(Buffer.compare((byId as { png: Buffer }).png, png(2))).toBe(0);
    expect(await format.extract(storage, imageFileName(1, "c"))).toMatchObject({ metadata: { id: "c" } });
    expect(await format.extract(storage, "d")).toEqual({ missing: `${imageFileName(1, "d")} is missing` });
    expect(await format.extract(storage, "e")).toEqual({ missing: "no shard lists it" });
  });

  it("names every file a run leaves for --overwrite, not errors.jsonl (the job's, not the format's)", async () => {
    await format.finishJob({ storage, workDir: join(dir, ".work"), shards: 3, hasImages: () => true });
    const keys = await format.runFiles(storage, await storage.list("", { recursive: false }));
    expect(keys.sort()).toEqual(
      [
        METADATA_FILE,
        imageFileName(0, "a"),
        imageFileName(0, "b"),
        imageFileName(1, "c"),
        imageFileName(2, "e"),
        shardMetadataFile(0),
        shardMetadataFile(1),
      ].sort(),
    );
  });
});
