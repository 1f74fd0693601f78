/**
 * Reading an imagefolder output back for the coordinator: the shards whose `.shards/<shard>.jsonl` marks
 * them complete, whether one can be reused by a re-run (its metadata file reads, its rows match the
 * samples, every row's PNG is there), and the files a shard or a whole run leaves.
 */
import {
  imageFileName,
  METADATA_FILE,
  type MetadataRow,
  SHARDS_DIR,
  shardImagesDir,
  shardMetadataFile,
} from "../../common/contract/job.js";
import type { ObjectStorage, StoredObject } from "../../common/storage/index.js";
import type { ReuseVerdict, StoredSample, StoredShards } from "../format.js";
import { parseJsonLines } from "../json-lines.js";
import { removeExisting } from "../remove-files.js";

/** Shard -> key of its metadata file, for every `.shards/<shard>.jsonl` (one listing). */
export async function shardMetadataFiles(storage: ObjectStorage): Promise<Map<number, string>> {
  const files = new Map<number, string>();
  for (const o of await storage.list(`${SHARDS_DIR}/`, { recursive: false })) {
    const m = /^(\d+)\.jsonl$/.exec(o.key.slice(SHARDS_DIR.length + 1));
    if (m) files.set(Number(m[1]), o.key);
  }
  return files;
}

export async function holdsImagefolder(
  storage: ObjectStorage,
  top: readonly StoredObject[],
): Promise<boolean> {
  if (top.some((o) => o.key === METADATA_FILE)) return true;
  return (await storage.list(`${SHARDS_DIR}/`, { recursive: false })).length > 0;
}

export async function listImagefolderShards(storage: ObjectStorage): Promise<StoredShards> {
  const marked = await shardMetadataFiles(storage);
  return {
    count: marked.size,
    has: (shard) => marked.has(shard),
    reuse: (shard, mismatch) => reuseShard(storage, shard, mismatch),
  };
}

async function reuseShard(
  storage: ObjectStorage,
  shard: number,
  mismatch: (stored: readonly StoredSample[]) => string | null,
): Promise<ReuseVerdict> {
  const data = await storage.get(shardMetadataFile(shard));
  if (data === null) return { reusable: false, why: "its metadata file is gone" };
  const rows = parseJsonLines<MetadataRow>(data);
  const why = mismatch(rows);
  if (why) return { reusable: false, why };
  // Rows written before the caption was stored as text: the shard is written again, with it.
  const uncaptioned = rows.find((r) => r.text !== r.prompt);
  if (uncaptioned) return { reusable: false, why: `sample ${uncaptioned.id} has no caption as text` };
  const images = new Map((await storage.list(shardImagesDir(shard))).map((o) => [o.key, o.size]));
  for (const row of rows) {
    if (row.file_name !== imageFileName(shard, row.id)) {
      return { reusable: false, why: `sample ${row.id} names another file` };
    }
    if (!((images.get(row.file_name) ?? 0) > 0))
      return { reusable: false, why: `${row.file_name} is missing` };
  }
  return { reusable: true, fileNames: rows.map((r) => r.file_name) };
}

/** Removes a shard's images and its metadata file. */
export async function removeImagefolderShard(storage: ObjectStorage, shard: number): Promise<number> {
  const images = (await storage.list(shardImagesDir(shard))).map((o) => o.key);
  return removeExisting(storage, [...images, shardMetadataFile(shard)]);
}

/** metadata.jsonl, and everything under images/ and .shards/. */
export async function imagefolderRunFiles(
  storage: ObjectStorage,
  top: readonly StoredObject[],
): Promise<string[]> {
  const keys = top.filter((o) => o.key === METADATA_FILE).map((o) => o.key);
  for (const dir of ["images/", `${SHARDS_DIR}/`]) {
    for (const o of await storage.list(dir)) keys.push(o.key);
  }
  return keys;
}
