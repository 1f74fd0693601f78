/**
 * The first samples of a webdataset output (a contact sheet's): the shards' Parquet files in shard order
 * say which samples succeeded; the tar of each shard taken from is read once, and no other tar. (The
 * index records no member offsets, so a shard's tar is read whole.)
 */
import type { ObjectStorage } from "../../common/storage/index.js";
import { readTarIndex } from "../../common/tar.js";
import type { ExtractedSample } from "../format.js";
import { shardFilesOf } from "./reader.js";
import { parquetShardName, readShardIndex, tarShardName } from "./shard-index.js";

export async function firstWebdatasetSamples(
  storage: ObjectStorage,
  count: number,
): Promise<ExtractedSample[]> {
  const samples: ExtractedSample[] = [];
  const { parquets } = shardFilesOf(await storage.list("", { recursive: false }));
  for (const shard of [...parquets].sort((a, b) => a - b)) {
    if (samples.length >= count) break;
    const index = await readShardIndex((await storage.get(parquetShardName(shard))) ?? Buffer.alloc(0));
    const wanted = index.records.filter((r) => r.status === "success").slice(0, count - samples.length);
    if (wanted.length === 0) continue;
    const tar = await storage.get(tarShardName(shard));
    if (!tar) continue;
    const members = new Map(readTarIndex(tar).map((e) => [e.name, e]));
    for (const record of wanted) {
      const e = members.get(`${record.key}.png`);
      if (e)
        samples.push({ key: record.key, png: tar.subarray(e.offset, e.offset + e.size), metadata: record });
    }
  }
  return samples;
}
