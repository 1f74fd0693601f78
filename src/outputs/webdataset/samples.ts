/**
 * A webdataset output one shard at a time: the shard's Parquet file lists its samples and where each PNG
 * lies in the tar (png_offset, png_size), so showing one image is one ranged read, never the whole shard.
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
  const { records, images } = await readShardIndex(data);
  return records.map((r, i) => {
    const imageAt = images[i];
    return {
      key: r.key,
      ok: r.status === "success",
      error: r.status === "success" ? "" : `${r.error_code ? `${r.error_code}: ` : ""}${r.error_message}`,
      metadata: r,
      ...(imageAt ? { imageAt } : {}),
    };
  });
}

export async function webdatasetSampleImage(
  storage: ObjectStorage,
  shard: number,
  key: string,
  listed?: readonly IndexedSample[],
): Promise<Buffer | null> {
  const samples = listed ?? (await webdatasetShardSamples(storage, shard));
  const sample = samples?.find((s) => s.key === key && s.ok);
  if (!samples || !sample) return null;
  const tar = tarShardName(shard);
  // The index says where the PNG lies: one ranged read.
  if (sample.imageAt) return storage.getRange(tar, sample.imageAt.offset, sample.imageAt.size);
  return walkToMember(storage, tar, `${key}.png`, 3 * samples.filter((s) => s.ok).length);
}

/**
 * A shard written before its index recorded where each PNG lies: the member is found by walking the tar's
 * headers with ranged reads (512 bytes each, skipping the members' data), at most `most` of them.
 */
async function walkToMember(
  storage: ObjectStorage,
  tar: string,
  wanted: string,
  most: number,
): Promise<Buffer | null> {
  const stat = await storage.stat(tar);
  if (!stat) return null;
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
