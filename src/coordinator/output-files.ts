/**
 * The files of a job's output that the coordinator manages as a whole: removing an earlier run's outputs
 * (`--overwrite`), and the end-of-job files (`_stats.json`, errors.jsonl for an S3 output).
 */
import { ERRORS_FILE, STATS_FILE } from "../common/contract/job.js";
import type { ObjectStorage } from "../common/storage/index.js";
import { outputFormats } from "../outputs/index.js";

const DELETE_CONCURRENCY = 16;

/**
 * Removes what a run of any format leaves in the output: the format's files (see runFiles in src/outputs:
 * images/, .shards/ and metadata.jsonl; the shard tars and Parquet files), errors.jsonl and _stats.json.
 * Nothing else in the folder or prefix is touched. Returns the number of objects removed.
 */
export async function removeRunOutputs(storage: ObjectStorage): Promise<number> {
  const top = await storage.list("", { recursive: false });
  const keys = top.filter((o) => o.key === ERRORS_FILE || o.key === STATS_FILE).map((o) => o.key);
  for (const format of outputFormats()) keys.push(...(await format.runFiles(storage, top)));
  let next = 0;
  const worker = async () => {
    while (next < keys.length) await storage.delete(keys[next++]);
  };
  await Promise.all(Array.from({ length: DELETE_CONCURRENCY }, worker));
  return keys.length;
}
