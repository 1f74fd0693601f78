/**
 * `<out>/metadata.jsonl`: the per-shard files the workers wrote (`.shards/<shard>.jsonl`, each in sample
 * order) concatenated in shard order, so the lines come in manifest order. Written to a temporary file and
 * renamed, so a reader (or a coordinator that crashes half-way and does it again) never sees half a file.
 */
import { createWriteStream } from "node:fs";
import { readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { LatentFleetError } from "../common/errors.js";
import { METADATA_FILE, shardMetadataFile } from "../common/job-contract.js";

export interface MetadataSummary {
  rows: number;
  /** Shards that should have had a file and had none. */
  missing: number[];
}

/** `shards`: how many shards the job has; `include(s)`: whether shard s's file belongs in the output. */
export async function writeMetadata(
  outputDir: string,
  shards: number,
  include: (shard: number) => boolean,
): Promise<MetadataSummary> {
  const path = join(outputDir, METADATA_FILE);
  const tmp = `${path}.tmp-${process.pid}`;
  // What a coordinator killed half-way through an earlier attempt left behind.
  for (const name of await readdir(outputDir).catch(() => [] as string[])) {
    if (name.startsWith(`${METADATA_FILE}.tmp-`)) await rm(join(outputDir, name), { force: true });
  }
  const out = createWriteStream(tmp);
  const failed = new Promise<never>((_, reject) => out.once("error", reject));
  failed.catch(() => undefined);
  let rows = 0;
  const missing: number[] = [];
  try {
    for (let s = 0; s < shards; s++) {
      if (!include(s)) continue;
      let data: Buffer;
      try {
        data = await readFile(join(outputDir, shardMetadataFile(s)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
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
    await rename(tmp, path);
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw new LatentFleetError("OUTPUT_FAILED", `cannot write ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { rows, missing };
}
