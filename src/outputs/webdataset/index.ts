/**
 * The webdataset format (the layout: shard-index.ts): per shard one tar of `{key}.png`, `{key}.txt` and
 * `{key}.json`, and one Parquet file that indexes it and marks the shard complete.
 */
import type { OutputFormat, ShardWriter, ShardWriterContext } from "../format.js";
import { firstWebdatasetSamples } from "./first-samples.js";
import { extractWebdatasetSample, inspectWebdataset } from "./inspect.js";
import {
  finishWebdatasetJob,
  holdsWebdataset,
  listWebdatasetShards,
  removeWebdatasetShard,
  webdatasetRunFiles,
} from "./reader.js";
import { webdatasetIndexedShards, webdatasetSampleImage, webdatasetShardSamples } from "./samples.js";
import { WebdatasetWriter } from "./writer.js";

export const webdataset: OutputFormat = {
  name: "webdataset",
  openShard<Image>(ctx: ShardWriterContext<Image>): ShardWriter<Image> {
    return new WebdatasetWriter(ctx);
  },
  detect: holdsWebdataset,
  listShards: listWebdatasetShards,
  removeShard: removeWebdatasetShard,
  runFiles: webdatasetRunFiles,
  finishJob: finishWebdatasetJob,
  inspect: inspectWebdataset,
  extract: extractWebdatasetSample,
  firstSamples: firstWebdatasetSamples,
  indexedShards: webdatasetIndexedShards,
  shardSamples: webdatasetShardSamples,
  sampleImage: webdatasetSampleImage,
};
