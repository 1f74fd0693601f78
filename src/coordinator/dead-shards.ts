/**
 * The outputs of dead-lettered shards. A task given up after max_deliver deliveries may have written some
 * of its images (or its tar) before the write that kept failing; its samples are reported failed, and a
 * failed sample leaves no file (an image without a metadata row would also trip dataset loaders). They are
 * removed when the job ends: from then on no late result can change what became of the shard.
 */
import type { ObjectStorage } from "../common/storage/index.js";
import { outputFormat } from "../outputs/index.js";

/** Removes what the given shards wrote; returns the number of objects removed. */
export async function removeDeadShardOutputs(
  storage: ObjectStorage,
  format: string,
  shards: Iterable<number>,
): Promise<number> {
  const output = outputFormat(format);
  let removed = 0;
  for (const shard of shards) removed += await output.removeShard(storage, shard);
  return removed;
}
