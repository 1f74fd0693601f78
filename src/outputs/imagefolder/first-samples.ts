/**
 * The first samples of an imagefolder output (a contact sheet's): the shards' metadata files in shard
 * order, then only the PNGs of the rows taken. A row whose PNG is gone is passed over.
 */
import type { MetadataRow } from "../../common/contract/job.js";
import type { ObjectStorage } from "../../common/storage/index.js";
import type { ExtractedSample } from "../format.js";
import { parseJsonLines } from "../json-lines.js";
import { shardMetadataFiles } from "./reader.js";

export async function firstImagefolderSamples(
  storage: ObjectStorage,
  count: number,
): Promise<ExtractedSample[]> {
  const samples: ExtractedSample[] = [];
  const files = [...(await shardMetadataFiles(storage))].sort(([a], [b]) => a - b);
  for (const [, file] of files) {
    const rows = parseJsonLines<MetadataRow>((await storage.get(file)) ?? Buffer.alloc(0));
    for (const row of rows) {
      if (samples.length >= count) return samples;
      const png = await storage.get(row.file_name);
      if (png) samples.push({ key: row.id, png, metadata: row });
    }
  }
  return samples;
}
