/**
 * `inspect` of a webdataset output: a shard is complete when its Parquet file reads and its tar has the
 * size it records (with `verify`, also the CRC-32 it records, and each successful sample's three members);
 * a tar without a Parquet file is an incomplete shard. A sample is found by its key.
 */
import { crc32 } from "node:zlib";
import { errorMessage } from "../../common/log.js";
import type { ObjectStorage } from "../../common/storage/index.js";
import { readTarIndex } from "../../common/tar.js";
import type { ExtractedSample, ShardsReport } from "../format.js";
import { countFailure, emptyShardsReport } from "../shards-report.js";
import { shardFilesOf } from "./reader.js";
import {
  parquetShardName,
  readShardIndex,
  type ShardSampleRecord,
  type TarDigest,
  tarShardName,
} from "./shard-index.js";

export async function inspectWebdataset(storage: ObjectStorage, verify: boolean): Promise<ShardsReport> {
  const report = emptyShardsReport();
  const { tars, parquets } = shardFilesOf(await storage.list("", { recursive: false }));
  for (const shard of tars.keys()) {
    if (!parquets.has(shard)) report.shards.incomplete.push({ shard, why: "no Parquet file" });
  }
  for (const shard of [...parquets].sort((a, b) => a - b)) {
    const bad = (why: string) => report.shards.incomplete.push({ shard, why });
    let records: ShardSampleRecord[];
    let tarInfo: TarDigest | undefined;
    try {
      const index = await readShardIndex((await storage.get(parquetShardName(shard))) ?? Buffer.alloc(0));
      records = index.records;
      tarInfo = index.tar;
    } catch (err) {
      bad(`${parquetShardName(shard)} cannot be read: ${errorMessage(err)}`);
      continue;
    }
    const ok = records.filter((r) => r.status === "success");
    report.samples.done += ok.length;
    for (const r of records) if (r.status !== "success") countFailure(report, r.error_code);
    report.samples.failed += records.length - ok.length;
    if (ok.length === 0) {
      report.shards.complete++;
      continue;
    }
    const size = tars.get(shard);
    if (size === undefined) {
      bad(`${tarShardName(shard)} is missing`);
      continue;
    }
    if (tarInfo && size !== tarInfo.bytes) {
      bad(`${tarShardName(shard)} is ${size} bytes, not ${tarInfo.bytes}`);
      continue;
    }
    if (verify) {
      const why = await verifyTar(storage, shard, ok, tarInfo?.crc32);
      if (why) {
        bad(why);
        continue;
      }
    }
    report.shards.complete++;
  }
  return report;
}

async function verifyTar(
  storage: ObjectStorage,
  shard: number,
  ok: ShardSampleRecord[],
  crc: number | undefined,
): Promise<string | null> {
  const data = await storage.get(tarShardName(shard));
  if (!data) return `${tarShardName(shard)} is missing`;
  if (crc !== undefined && crc32(data) >>> 0 !== crc) return `${tarShardName(shard)} fails its CRC-32`;
  let names: Set<string>;
  try {
    names = new Set(readTarIndex(data).map((e) => e.name));
  } catch (err) {
    return `${tarShardName(shard)}: ${errorMessage(err)}`;
  }
  for (const r of ok) {
    for (const ext of ["png", "txt", "json"]) {
      if (!names.has(`${r.key}.${ext}`)) return `${tarShardName(shard)} has no ${r.key}.${ext}`;
    }
  }
  return null;
}

/** A sample by its key, `{shard:05d}{index in shard:04d}`. */
export async function extractWebdatasetSample(
  storage: ObjectStorage,
  key: string,
): Promise<ExtractedSample | { missing: string }> {
  const m = /^(\d{5,})(\d{4})$/.exec(key);
  if (!m)
    return { missing: "a webdataset key is the shard number (5 digits) and the index in the shard (4)" };
  const shard = Number(m[1]);
  const tar = await storage.get(tarShardName(shard));
  if (!tar) return { missing: `${tarShardName(shard)} does not exist` };
  const entries = readTarIndex(tar);
  const member = (ext: string) => {
    const e = entries.find((x) => x.name === `${key}.${ext}`);
    return e ? Buffer.from(tar.subarray(e.offset, e.offset + e.size)) : undefined;
  };
  const png = member("png");
  const json = member("json");
  if (!png || !json) return { missing: `${tarShardName(shard)} holds no such sample (it may have failed)` };
  return { key, png, metadata: JSON.parse(json.toString("utf8")) as ShardSampleRecord };
}
