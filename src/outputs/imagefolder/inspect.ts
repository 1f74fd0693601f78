/**
 * `inspect` of an imagefolder output: a shard is complete when its metadata file reads and every row's PNG
 * is there (with `verify`, also whole: its signature and IEND chunk); failed samples come from errors.jsonl.
 * A sample is found by its id or its file name.
 */
import { ERRORS_FILE, type ErrorRow, type MetadataRow } from "../../common/contract/job.js";
import { errorMessage } from "../../common/log.js";
import type { ObjectStorage } from "../../common/storage/index.js";
import type { ExtractedSample, ShardsReport } from "../format.js";
import { parseJsonLines } from "../json-lines.js";
import { countFailure, emptyShardsReport } from "../shards-report.js";
import { shardMetadataFiles } from "./reader.js";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_IEND = Buffer.from([0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

export async function inspectImagefolder(storage: ObjectStorage, verify: boolean): Promise<ShardsReport> {
  const report = emptyShardsReport();
  const images = new Map((await storage.list("images/")).map((o) => [o.key, o.size]));
  for (const [shard, key] of await shardMetadataFiles(storage)) {
    let rows: MetadataRow[];
    try {
      rows = parseJsonLines<MetadataRow>((await storage.get(key)) ?? Buffer.alloc(0));
    } catch (err) {
      report.shards.incomplete.push({ shard, why: `${key} cannot be read: ${errorMessage(err)}` });
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
  return report;
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

/** A sample by its id or its file name (`images/<shard>/<id>.png`). */
export async function extractImagefolderSample(
  storage: ObjectStorage,
  key: string,
): Promise<ExtractedSample | { missing: string }> {
  for (const file of (await shardMetadataFiles(storage)).values()) {
    const rows = parseJsonLines<MetadataRow>((await storage.get(file)) ?? Buffer.alloc(0));
    const row = rows.find((r) => r.id === key || r.file_name === key);
    if (!row) continue;
    const png = await storage.get(row.file_name);
    if (!png) return { missing: `${row.file_name} is missing` };
    return { key, png, metadata: row };
  }
  return { missing: "no shard lists it" };
}
