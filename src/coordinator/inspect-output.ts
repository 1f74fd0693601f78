/**
 * Reading a job's output back (`latent-fleet inspect`): which format it is in, how many samples it holds
 * and how many failed (by error code), which shards are complete and which are not (and why), the job's
 * `_stats.json`; and one sample by key. Works on a folder or an S3 prefix alike.
 *
 * Checks: every shard's index reads and its files are there with the right sizes; `verify` also reads
 * every tar (webdataset) and checks its CRC-32 and that it holds each successful sample's three members,
 * or reads every PNG's signature and end (imagefolder).
 */
import { crc32 } from "node:zlib";
import {
  ERRORS_FILE,
  type ErrorRow,
  METADATA_FILE,
  type MetadataRow,
  SHARDS_DIR,
} from "../common/contract/job.js";
import { LatentFleetError } from "../common/errors.js";
import { errorMessage } from "../common/log.js";
import type { ObjectStorage } from "../common/storage/index.js";
import { readTarIndex } from "../common/tar.js";
import {
  parquetShardName,
  readShardIndex,
  type ShardSampleRecord,
  STATS_FILE,
  shardOfName,
  type TarDigest,
  tarShardName,
} from "../common/webdataset.js";
import type { JobStatsFile } from "./job-stats.js";

export type DetectedFormat = "webdataset" | "imagefolder" | "empty";

export interface InspectReport {
  location: string;
  format: DetectedFormat;
  samples: { done: number; failed: number };
  shards: { complete: number; incomplete: { shard: number; why: string }[] };
  /** Failed samples by error code. */
  failures: Record<string, number>;
  /** The job's _stats.json, when the job got to its end. */
  stats: JobStatsFile | null;
  /** Whether every tar (or PNG) was read through. */
  verified: boolean;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_IEND = Buffer.from([0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

export async function detectFormat(storage: ObjectStorage): Promise<DetectedFormat> {
  const top = await storage.list("", { recursive: false });
  if (
    top.some((o) => shardOfName(o.key, "parquet") !== undefined || shardOfName(o.key, "tar") !== undefined)
  ) {
    return "webdataset";
  }
  if (top.some((o) => o.key === METADATA_FILE)) return "imagefolder";
  if ((await storage.list(`${SHARDS_DIR}/`, { recursive: false })).length > 0) return "imagefolder";
  return "empty";
}

export async function inspectOutput(
  storage: ObjectStorage,
  opts: { verify?: boolean } = {},
): Promise<InspectReport> {
  const format = await detectFormat(storage);
  const report: InspectReport = {
    location: storage.location,
    format,
    samples: { done: 0, failed: 0 },
    shards: { complete: 0, incomplete: [] },
    failures: {},
    stats: null,
    verified: opts.verify === true,
  };
  const statsData = await storage.get(STATS_FILE);
  if (statsData) {
    try {
      report.stats = JSON.parse(statsData.toString("utf8")) as JobStatsFile;
    } catch {
      report.stats = null;
    }
  }
  if (format === "webdataset") await inspectWebdataset(storage, report, opts.verify === true);
  else if (format === "imagefolder") await inspectImagefolder(storage, report, opts.verify === true);
  report.shards.incomplete.sort((a, b) => a.shard - b.shard);
  return report;
}

async function inspectWebdataset(
  storage: ObjectStorage,
  report: InspectReport,
  verify: boolean,
): Promise<void> {
  const top = await storage.list("", { recursive: false });
  const tars = new Map<number, number>();
  const parquets = new Set<number>();
  for (const o of top) {
    const t = shardOfName(o.key, "tar");
    if (t !== undefined) tars.set(t, o.size);
    const p = shardOfName(o.key, "parquet");
    if (p !== undefined) parquets.add(p);
  }
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

async function inspectImagefolder(
  storage: ObjectStorage,
  report: InspectReport,
  verify: boolean,
): Promise<void> {
  const images = new Map((await storage.list("images/")).map((o) => [o.key, o.size]));
  for (const o of await storage.list(`${SHARDS_DIR}/`, { recursive: false })) {
    const m = /^(\d+)\.jsonl$/.exec(o.key.slice(SHARDS_DIR.length + 1));
    if (!m) continue;
    const shard = Number(m[1]);
    let rows: MetadataRow[];
    try {
      rows = parseJsonLines<MetadataRow>((await storage.get(o.key)) ?? Buffer.alloc(0));
    } catch (err) {
      report.shards.incomplete.push({ shard, why: `${o.key} cannot be read: ${errorMessage(err)}` });
      continue;
    }
    report.samples.done += rows.length;
    let why: string | null = null;
    for (const row of rows) {
      if (!((images.get(row.file_name) ?? 0) > 0)) why = `${row.file_name} is missing`;
      else if (verify) why = await verifyPng(storage, row.file_name);
      if (why) break;
    }
    if (why) report.shards.incomplete.push({ shard, why });
    else report.shards.complete++;
  }
  const errors = await storage.get(ERRORS_FILE);
  if (errors) {
    for (const row of parseJsonLines<ErrorRow>(errors)) {
      if (row.id === undefined) continue; // a rejected manifest row, not a sample
      report.samples.failed++;
      countFailure(report, row.code ?? "");
    }
  }
}

async function verifyPng(storage: ObjectStorage, key: string): Promise<string | null> {
  const png = await storage.get(key);
  if (!png) return `${key} is missing`;
  const ok =
    png.length > PNG_SIGNATURE.length + PNG_IEND.length &&
    png.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE) &&
    png.subarray(png.length - PNG_IEND.length).equals(PNG_IEND);
  return ok ? null : `${key} is not a whole PNG`;
}

function countFailure(report: InspectReport, code: string): void {
  const c = code || "UNKNOWN";
  report.failures[c] = (report.failures[c] ?? 0) + 1;
}

function parseJsonLines<T>(data: Buffer): T[] {
  return data
    .toString("utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

export interface ExtractedSample {
  /** The key (webdataset) or sample id (imagefolder) asked for. */
  key: string;
  png: Buffer;
  /** Its metadata: the {key}.json record, or the metadata row. */
  metadata: ShardSampleRecord | MetadataRow;
}

/**
 * One sample: by key (`{shard:05d}{index:04d}`) in a webdataset output, by key or sample id in an
 * imagefolder one. INVALID_ARGUMENT when there is no such sample.
 */
export async function extractSample(storage: ObjectStorage, key: string): Promise<ExtractedSample> {
  const format = await detectFormat(storage);
  const notFound = (why: string) =>
    new LatentFleetError(
      "INVALID_ARGUMENT",
      `no sample ${JSON.stringify(key)} in ${storage.location}: ${why}`,
    );
  if (format === "webdataset") {
    const m = /^(\d{5,})(\d{4})$/.exec(key);
    if (!m) throw notFound("a webdataset key is the shard number (5 digits) and the index in the shard (4)");
    const shard = Number(m[1]);
    const tar = await storage.get(tarShardName(shard));
    if (!tar) throw notFound(`${tarShardName(shard)} does not exist`);
    const entries = readTarIndex(tar);
    const member = (ext: string) => {
      const e = entries.find((x) => x.name === `${key}.${ext}`);
      return e ? Buffer.from(tar.subarray(e.offset, e.offset + e.size)) : undefined;
    };
    const png = member("png");
    const json = member("json");
    if (!png || !json) throw notFound(`${tarShardName(shard)} holds no such sample (it may have failed)`);
    return { key, png, metadata: JSON.parse(json.toString("utf8")) as ShardSampleRecord };
  }
  if (format === "imagefolder") {
    for (const o of await storage.list(`${SHARDS_DIR}/`, { recursive: false })) {
      const rows = parseJsonLines<MetadataRow>((await storage.get(o.key)) ?? Buffer.alloc(0));
      const row = rows.find((r) => r.id === key || r.file_name === key);
      if (!row) continue;
      const png = await storage.get(row.file_name);
      if (!png) throw notFound(`${row.file_name} is missing`);
      return { key, png, metadata: row };
    }
    throw notFound("no shard lists it");
  }
  throw notFound("the output holds no job's files");
}
