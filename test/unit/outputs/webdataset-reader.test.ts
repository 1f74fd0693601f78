/**
 * The webdataset format's reader side on a hand-made output of four shards: 0 complete, 1 incomplete (its
 * tar cut short of the size its Parquet file records), 2 dead (a tar, no Parquet file), 3 complete with
 * every sample failed (a Parquet file, no tar).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalStorage } from "../../../src/common/storage/index.js";
import { type TarMember, writeTar } from "../../../src/common/tar.js";
import { encodeRgbPng } from "../../../src/engine/png-encode.js";
import { outputFormat, type StoredSample } from "../../../src/outputs/index.js";
import {
  parquetShardName,
  type ShardSampleRecord,
  sampleKey,
  tarShardName,
  writeShardIndex,
} from "../../../src/outputs/webdataset/shard-index.js";

const format = outputFormat("webdataset");

function record(shard: number, i: number, failed = false): ShardSampleRecord {
  return {
    key: sampleKey(shard, i),
    shard,
    index: shard * 2 + i,
    id: `s${shard}-${i}`,
    prompt: `prompt ${shard}-${i}`,
    text: `prompt ${shard}-${i}`,
    negative_prompt: "",
    seed: 7,
    steps: 4,
    guidance_scale: 4,
    scheduler: "euler",
    width: 8,
    height: 8,
    model: "m",
    status: failed ? "failed" : "success",
    error_message: failed ? "out of memory" : "",
    error_code: failed ? "OUT_OF_MEMORY" : "",
  };
}

const png = (v: number) => encodeRgbPng(new Uint8Array(8 * 8 * 3).fill(v), 8, 8);

function tarOf(records: ShardSampleRecord[]): Buffer {
  const members: TarMember[] = records.flatMap((r, i) => [
    { name: `${r.key}.png`, data: png(10 * r.shard + i) },
    { name: `${r.key}.txt`, data: Buffer.from(r.prompt) },
    { name: `${r.key}.json`, data: Buffer.from(JSON.stringify(r)) },
  ]);
  return writeTar(members);
}

describe("the webdataset reader", () => {
  let dir: string;
  let storage: LocalStorage;
  let tar1Bytes: number;
  const put = (key: string, data: Uint8Array) => writeFile(join(dir, key), data);
  const exists = (key: string) => storage.stat(key).then((s) => s !== null);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "lf-webdataset-"));
    storage = new LocalStorage(dir, { durable: false });
    const shard0 = [record(0, 0), record(0, 1)];
    const tar0 = tarOf(shard0);
    await put(tarShardName(0), tar0);
    await put(parquetShardName(0), await writeShardIndex(shard0, tar0));
    const shard1 = [record(1, 0), record(1, 1)];
    const tar1 = tarOf(shard1);
    tar1Bytes = tar1.length;
    await put(tarShardName(1), tar1.subarray(0, tar1.length - 512));
    await put(parquetShardName(1), await writeShardIndex(shard1, tar1));
    await put(tarShardName(2), tarOf([record(2, 0)]));
    await put(parquetShardName(3), await writeShardIndex([record(3, 0, true)], null));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("holds the output, and lists the shards that have a Parquet file", async () => {
    expect(await format.detect(storage, await storage.list("", { recursive: false }))).toBe(true);
    const shards = await format.listShards(storage);
    expect(shards.count).toBe(3);
    expect([0, 1, 2, 3, 4].map((s) => shards.has(s))).toEqual([true, true, false, true, false]);
  });

  it("reuses the complete shard, comparing its records in order, and not the others", async () => {
    const shards = await format.listShards(storage);
    const seen: (readonly StoredSample[])[] = [];
    const reused = await shards.reuse(0, (stored) => {
      seen.push(stored);
      return null;
    });
    expect(reused).toEqual({
      reusable: true,
      fileNames: [`00000.tar#${sampleKey(0, 0)}.png`, `00000.tar#${sampleKey(0, 1)}.png`],
    });
    expect(seen.map((s) => s.map((r) => r.id))).toEqual([["s0-0", "s0-1"]]);
    expect(await shards.reuse(0, () => "sample s0-0: its prompt changed")).toEqual({
      reusable: false,
      why: "sample s0-0: its prompt changed",
    });
    expect(await shards.reuse(1, () => null)).toEqual({
      reusable: false,
      why: `00001.tar is ${tar1Bytes - 512} bytes, not ${tar1Bytes}`,
    });
    expect(await shards.reuse(3, () => null)).toEqual({ reusable: false, why: "sample s3-0 failed" });
    await rm(join(dir, parquetShardName(0)));
    expect(await shards.reuse(0, () => null)).toEqual({ reusable: false, why: "its Parquet file is gone" });
  });

  it("does not reuse a shard written without the caption as text", async () => {
    // What the reader gives for a Parquet file without the text column.
    const shard0 = [record(0, 0), { ...record(0, 1), text: "" }];
    const tar0 = tarOf(shard0);
    await put(tarShardName(0), tar0);
    await put(parquetShardName(0), await writeShardIndex(shard0, tar0));
    const shards = await format.listShards(storage);
    expect(await shards.reuse(0, () => null)).toEqual({
      reusable: false,
      why: "sample s0-1 has no caption as text",
    });
  });

  it("removes a dead shard's tar and nothing of the other shards", async () => {
    expect(await format.removeShard(storage, 2)).toBe(1);
    expect(await exists(tarShardName(2))).toBe(false);
    expect(await format.removeShard(storage, 2)).toBe(0);
    expect(await format.removeShard(storage, 1)).toBe(2);
    expect(await exists(parquetShardName(1))).toBe(false);
    expect(await exists(tarShardName(0))).toBe(true);
    expect(await exists(parquetShardName(0))).toBe(true);
  });

  it("names at the job's end the shards with images that have no Parquet file, and writes no index", async () => {
    const files = await format.finishJob({
      storage,
      workDir: join(dir, ".work"),
      shards: 5,
      hasImages: (s) => s !== 4,
    });
    expect(files).toEqual({ missing: [2] });
  });

  it("inspects: complete shards, the incomplete ones and why, failures from the Parquet files", async () => {
    const report = await format.inspect(storage, false);
    report.shards.incomplete.sort((a, b) => a.shard - b.shard);
    expect(report).toEqual({
      samples: { done: 4, failed: 1 },
      shards: {
        complete: 2,
        incomplete: [
          { shard: 1, why: `00001.tar is ${tar1Bytes - 512} bytes, not ${tar1Bytes}` },
          { shard: 2, why: "no Parquet file" },
        ],
      },
      failures: { OUT_OF_MEMORY: 1 },
    });
  });

  it("verifies every tar through when asked: a changed byte fails the CRC-32 its Parquet file records", async () => {
    const tar0 = await readFile(join(dir, tarShardName(0)));
    tar0[600] ^= 0xff;
    await put(tarShardName(0), tar0);
    expect((await format.inspect(storage, false)).shards.complete).toBe(2);
    const verified = await format.inspect(storage, true);
    expect(verified.shards.complete).toBe(1);
    expect(verified.shards.incomplete).toContainEqual({ shard: 0, why: "00000.tar fails its CRC-32" });
  });

  it("extracts a sample by key, and says why another cannot be", async () => {
    const one = await format.extract(storage, sampleKey(0, 1));
    expect(one).toMatchObject({ key: sampleKey(0, 1), metadata: record(0, 1) });
    expect(Buffer.compare((one as { png: Buffer }).png, png(1))).toBe(0);
    expect(await format.extract(storage, "s0-1")).toEqual({
      missing: "a webdataset key is the shard number (5 digits) and the index in the shard (4)",
    });
    expect(await format.extract(storage, sampleKey(5, 0))).toEqual({ missing: "00005.tar does not exist" });
    expect(await format.extract(storage, sampleKey(0, 2))).toEqual({
      missing: "00000.tar holds no such sample (it may have failed)",
    });
  });

  it("names every file a run leaves for --overwrite", async () => {
    await writeFile(join(dir, "README.md"), "not ours");
    const keys = await format.runFiles(storage, await storage.list("", { recursive: false }));
    expect(keys.sort()).toEqual(
      [tarShardName(0), parquetShardName(0), tarShardName(1), parquetShardName(1), tarShardName(2)]
        .concat(parquetShardName(3))
        .sort(),
    );
  });
});
