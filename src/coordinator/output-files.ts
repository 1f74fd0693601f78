/**
 * The files of a job's output that the coordinator manages as a whole: removing an earlier run's outputs
 * (`--overwrite`), and the end-of-job files (`_stats.json`, errors.jsonl for an S3 output).
 */
import { ERRORS_FILE, METADATA_FILE, SHARDS_DIR } from "../common/contract/job.js";
import type { ObjectStorage } from "../common/storage/index.js";
import { STATS_FILE, shardOfName } from "../common/webdataset.js";

const DELETE_CONCURRENCY = 16;

/**
 * Removes what a run of either format leaves in the output: images/, .shards/, the shard tars and Parquet
 * files, metadata.jsonl, errors.jsonl and _stats.json. Nothing else in the folder or prefix is touched.
 * Returns the number of objects removed.
 */
export async function removeRunOutputs(storage: ObjectStorage): Promise<number> {
  const keys: string[] = [];
  for (const o of await storage.list("", { recursive: false })) {
    const name = o.key;
    if (
      name === METADATA_FILE ||
      name === ERRORS_FILE ||
      name === STATS_FILE ||
      shardOfName(name, "tar") !== undefined ||
      shardOfName(name, "parquet") !== undefined
    ) {
      keys.push(name);
    }
  }
  for (const dir of ["images/", `${SHARDS_DIR}/`]) {
    for (const o of await storage.list(dir)) keys.push(o.key);
  }
  let next = 0;
  const worker = async () => {
    while (next < keys.length) await storage.delete(keys[next++]);
  };
  await Promise.all(Array.from({ length: DELETE_CONCURRENCY }, worker));
  return keys.length;
}
