/**
 * The imagefolder format (the contract's default, its layout in src/common/contract/job.ts):
 * `images/<shard>/<id>.png` per sample, `.shards/<shard>.jsonl` per complete shard, and `metadata.jsonl`
 * assembled from those when the job ends.
 */
import type { OutputFormat, ShardWriter, ShardWriterContext } from "../format.js";
import { firstImagefolderSamples } from "./first-samples.js";
import { extractImagefolderSample, inspectImagefolder } from "./inspect.js";
import { writeMetadata } from "./metadata-file.js";
import {
  holdsImagefolder,
  imagefolderRunFiles,
  listImagefolderShards,
  removeImagefolderShard,
} from "./reader.js";
import { imagefolderIndexedShards, imagefolderSampleImage, imagefolderShardSamples } from "./samples.js";
import { ImagefolderWriter } from "./writer.js";

export const imagefolder: OutputFormat = {
  name: "imagefolder",
  openShard<Image>(ctx: ShardWriterContext<Image>): ShardWriter<Image> {
    return new ImagefolderWriter(ctx);
  },
  detect: holdsImagefolder,
  listShards: listImagefolderShards,
  removeShard: removeImagefolderShard,
  runFiles: imagefolderRunFiles,
  async finishJob(job) {
    const meta = await writeMetadata(job.storage, job.workDir, job.shards, job.hasImages);
    return { missing: meta.missing, indexRows: meta.rows };
  },
  inspect: inspectImagefolder,
  extract: extractImagefolderSample,
  firstSamples: firstImagefolderSamples,
  indexedShards: imagefolderIndexedShards,
  shardSamples: imagefolderShardSamples,
  sampleImage: imagefolderSampleImage,
};
