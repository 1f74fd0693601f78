/**
 * imagefolder's `<out>/metadata.jsonl`, written when a job ends: the per-shard files the workers wrote
 * (`.shards/<shard>.jsonl`, each in sample order) concatenated in shard order, so the lines come in
 * manifest order. Written to a temporary file in the job's local work folder, then put whole into the
 * output storage (renamed into place for a folder, uploaded for S3), so a reader (or a coordinator that
 * crashes half-way and does it again) never sees half a file.
 */
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { METADATA_FILE, shardMetadataFile } from "../../common/contract/job.js";
import { LatentFleetError } from "../../common/errors.js";
import type { ObjectStorage } from "../../common/storage/index.js";

export interface MetadataSummary {
  rows: number;
  /** Shards that should have had a file and had none. */
  missing: number[];
}

/**
 * `shards`: how many shards the job has; `include(s)`: whether shard s's file belongs in the output;
 * `workDir`: a local folder for the temporary file (the output folder itself for a folder output).
 */
export async function writeMetadata(
  storage: ObjectStorage,
  workDir: string,
  shards: number,
  include: (shard: number) => boolean,
): Promise<MetadataSummary> {
  await mkdir(workDir, { recursive: true });
  const tmp = join(workDir, `${METADATA_FILE}.tmp-${process.pid}`);
  // What a coordinator killed half-way through an earlier attempt left behind.
  for (const name of await readdir(workDir).catch(() => [] as string[])) {
    if (name.startsWith(`${METADATA_FILE}.tmp-`)) await rm(join(workDir, name), { force: true });
  }
  const out = createWriteStream(tmp);
  const failed = new Promise<never>((_, reject) => out.once("error", reject));
  failed.catch(() => undefined);
  let rows = 0;
  const missing: number[] = [];
  try {
    for (let s = 0; s < shards; s++) {
      if (!include(s)) continue;
      const data = await storage.get(shardMetadataFile(s));
      if (data === null) {
        missing.push(s);
        continue;
      }
      if (data.length === 0) continue;
      for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, at + 1)) rows++;
      const complete = data[data.length - 1] === 10;
      if (!complete) rows++;
      const ok = out.write(complete ? data : Buffer.concat([data, Buffer.from("\n")]));
      if (!ok) await Promise.race([new Promise<void>((r) => out.once("drain", () => r())), failed]);
    }
    await Promise.race([new Promise<void>((r) => out.end(() => r())), failed]);
    await storage.putFile(METADATA_FILE, tmp, { move: true });
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    const where = `${storage.location}/${METADATA_FILE}`;
    throw new LatentFleetError("OUTPUT_FAILED", `cannot write ${where}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { rows, missing };
}
