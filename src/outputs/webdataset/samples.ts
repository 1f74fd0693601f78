/**
 * A webdataset output one shard at a time: the shard's Parquet file lists its samples; a sample's PNG is
 * found by walking the tar's headers with ranged reads (512 bytes each, skipping the members' data), so
 * showing one image never reads the whole shard.
 */
import type { ObjectStorage } from "../../common/storage/index.js";
import { paddedSize, readTarHeader, TAR_BLOCK } from "../../common/tar.js";
import type { IndexedSample } from "../format.js";
import { shardFilesOf } from "./reader.js";
import { parquetShardName, readShardIndex, tarShardName } from "./shard-index.js";

export async function webdatasetIndexedShards(storage: ObjectStorage): Promise<number[]> {
  const { parquets } = shardFilesOf(await storage.list("", { recursive: false }));
  return [...parquets].sort((a, b) => a - b);
}

export async function webdatasetShardSamples(
  storage: ObjectStorage,
  shard: number,
): Promise<IndexedSample[] | null> {
  const data = await storage.get(parquetShardName(shard));
  if (data === null) return null;
  return (await readShardIndex(data)).records.map((r) => ({
    key: r.key,
    ok: r.status === "success",
    error: r.status === "success" ? "" : `${r.error_code ? `${r.error_code}: ` : ""}${r.error_message}`,
    metadata: r,
  }));
}

export async function webdatasetSampleImage(
  storage: ObjectStorage,
  shard: number,
  key: string,
): Promise<Buffer | null> {
  const samples = await webdatasetShardSamples(storage, shard);
  const at = samples?.findIndex((s) => s.key === key && s.ok) ?? -1;
  if (!samples || at < 0) return null;
  const tar = tarShardName(shard);
  const stat = await storage.stat(tar);
  if (!stat) return null;
  const wanted = `${key}.png`;
  // Three members per successful sample, so the walk is bounded by the index, not by the tar.
  const most = 3 * samples.filter((s) => s.ok).length;
  let offset = 0;
  for (let i = 0; i < most && offset + TAR_BLOCK <= stat.size; i++) {
    const block = await storage.getRange(tar, offset, TAR_BLOCK);
    if (!block || block.length < TAR_BLOCK) return null;
    const header = readTarHeader(block);
    if (!header) return null;
    if (header.isFile && header.name === wanted)
      return storage.getRange(tar, offset + TAR_BLOCK, header.size);
    offset += TAR_BLOCK + paddedSize(header.size);
  }
  return null;
}
