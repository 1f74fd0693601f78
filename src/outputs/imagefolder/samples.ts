/**
 * An imagefolder output one shard at a time: `.shards/<shard>.jsonl` lists a complete shard's samples (its
 * successes); a sample's PNG is the file its row names, checked to be the one the layout gives its id.
 */
import { imageFileName, type MetadataRow, shardMetadataFile } from "../../common/contract/job.js";
import type { ObjectStorage } from "../../common/storage/index.js";
import type { IndexedSample } from "../format.js";
import { parseJsonLines } from "../json-lines.js";
import { shardMetadataFiles } from "./reader.js";

export async function imagefolderIndexedShards(storage: ObjectStorage): Promise<number[]> {
  return [...(await shardMetadataFiles(storage)).keys()].sort((a, b) => a - b);
}

async function shardRows(storage: ObjectStorage, shard: number): Promise<MetadataRow[] | null> {
  const data = await storage.get(shardMetadataFile(shard));
  return data === null ? null : parseJsonLines<MetadataRow>(data);
}

export async function imagefolderShardSamples(
  storage: ObjectStorage,
  shard: number,
): Promise<IndexedSample[] | null> {
  const rows = await shardRows(storage, shard);
  return rows?.map((row) => ({ key: row.id, ok: true, error: "", metadata: row })) ?? null;
}

export async function imagefolderSampleImage(
  storage: ObjectStorage,
  shard: number,
  key: string,
  listed?: readonly IndexedSample[],
): Promise<Buffer | null> {
  const rows = listed ? listed.map((s) => s.metadata as MetadataRow) : await shardRows(storage, shard);
  const row = rows?.find((r) => r.id === key);
  // The row's file must be the one the layout gives its id in this shard: an index is not trusted to name
  // any other file of the output.
  if (!row || row.file_name !== imageFileName(shard, row.id)) return null;
  return storage.get(row.file_name);
}
