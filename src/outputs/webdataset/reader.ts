/**
 * Reading a webdataset output back for the coordinator: the shards whose Parquet file marks them complete,
 * whether one can be reused by a re-run (its Parquet file reads, holds every sample as a success with
 * matching settings and keys and its caption as `text`, and its tar has the size the Parquet file recorded), the files a shard or a
 * whole run leaves, and the check at a job's end that each shard with images has its Parquet file.
 */
import type { ObjectStorage, StoredObject } from "../../common/storage/index.js";
import type { FinishedJobFiles, FinishingJob, ReuseVerdict, StoredSample, StoredShards } from "../format.js";
import { removeExisting } from "../remove-files.js";
import { parquetShardName, readShardIndex, sampleKey, shardOfName, tarShardName } from "./shard-index.js";

/** The shard files of a top-level listing: each tar's size, and the shards with a Parquet file. */
export function shardFilesOf(top: readonly StoredObject[]): {
  tars: Map<number, number>;
  parquets: Set<number>;
} {
  const tars = new Map<number, number>();
  const parquets = new Set<number>();
  for (const o of top) {
    const t = shardOfName(o.key, "tar");
    if (t !== undefined) tars.set(t, o.size);
    const p = shardOfName(o.key, "parquet");
    if (p !== undefined) parquets.add(p);
  }
  return { tars, parquets };
}

export async function holdsWebdataset(
  _storage: ObjectStorage,
  top: readonly StoredObject[],
): Promise<boolean> {
  const { tars, parquets } = shardFilesOf(top);
  return tars.size > 0 || parquets.size > 0;
}

export async function listWebdatasetShards(storage: ObjectStorage): Promise<StoredShards> {
  const { tars, parquets } = shardFilesOf(await storage.list("", { recursive: false }));
  return {
    count: parquets.size,
    has: (shard) => parquets.has(shard),
    reuse: (shard, mismatch) => reuseShard(storage, shard, tars.get(shard) ?? -1, mismatch),
  };
}

/** `tarBytes`: the size of the shard's tar as listed, -1 when there is none. */
async function reuseShard(
  storage: ObjectStorage,
  shard: number,
  tarBytes: number,
  mismatch: (stored: readonly StoredSample[]) => string | null,
): Promise<ReuseVerdict> {
  const data = await storage.get(parquetShardName(shard));
  if (data === null) return { reusable: false, why: "its Parquet file is gone" };
  const index = await readShardIndex(data);
  const failed = index.records.find((r) => r.status !== "success");
  if (failed) return { reusable: false, why: `sample ${failed.id} failed` };
  const uncaptioned = index.records.find((r) => r.text !== r.prompt);
  if (uncaptioned) return { reusable: false, why: `sample ${uncaptioned.id} has no caption as text` };
  const why = mismatch(index.records);
  if (why) return { reusable: false, why };
  for (let i = 0; i < index.records.length; i++) {
    if (index.records[i].key !== sampleKey(shard, i)) return { reusable: false, why: "keys differ" };
  }
  if (!index.tar) return { reusable: false, why: "no tar recorded" };
  if (tarBytes !== index.tar.bytes) {
    const have = tarBytes < 0 ? "missing" : `${tarBytes} bytes`;
    return { reusable: false, why: `${tarShardName(shard)} is ${have}, not ${index.tar.bytes}` };
  }
  return { reusable: true, fileNames: index.records.map((r) => `${tarShardName(shard)}#${r.key}.png`) };
}

export function removeWebdatasetShard(storage: ObjectStorage, shard: number): Promise<number> {
  return removeExisting(storage, [tarShardName(shard), parquetShardName(shard)]);
}

/** The shard tars and Parquet files. */
export async function webdatasetRunFiles(
  _storage: ObjectStorage,
  top: readonly StoredObject[],
): Promise<string[]> {
  return top
    .filter((o) => shardOfName(o.key, "tar") !== undefined || shardOfName(o.key, "parquet") !== undefined)
    .map((o) => o.key);
}

/** Nothing to assemble: the shards with images whose Parquet file is missing. */
export async function finishWebdatasetJob(job: FinishingJob): Promise<FinishedJobFiles> {
  const { parquets } = shardFilesOf(await job.storage.list("", { recursive: false }));
  const missing: number[] = [];
  for (let s = 0; s < job.shards; s++) if (job.hasImages(s) && !parquets.has(s)) missing.push(s);
  return { missing };
}
