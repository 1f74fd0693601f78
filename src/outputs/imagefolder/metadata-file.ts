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

/** Longest run of synchronous shard file reads before the event loop gets a turn. */
const SYNC_SLICE_MS = 5;
/** Shard files gathered into one write of the temporary file. */
const WRITE_CHUNK_BYTES = 256 * 1024;
const NEWLINE = Buffer.from("\n");

/**
 * A shard file's bytes: read at once from a local folder (a job has thousands of small files, and a read
 * through the thread pool costs several times the read itself), else through get.
 */
function readerOf(storage: ObjectStorage): (key: string) => Buffer | null | Promise<Buffer | null> {
  const getSync = storage.getSync?.bind(storage);
  return getSync ?? ((key) => storage.get(key));
}

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
  const read = readerOf(storage);
  try {
    let chunks: Buffer[] = [];
    let chunkBytes = 0;
    let sliceStart = performance.now();
    const writeChunks = async () => {
      if (chunks.length === 0) return;
      const ok = out.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, chunkBytes));
      chunks = [];
      chunkBytes = 0;
      if (!ok) await Promise.race([new Promise<void>((r) => out.once("drain", () => r())), failed]);
    };
    for (let s = 0; s < shards; s++) {
      if (!include(s)) continue;
      const data = await read(shardMetadataFile(s));
      if (data === null) {
        missing.push(s);
        continue;
      }
      if (data.length === 0) continue;
      for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, at + 1)) rows++;
      const complete = data[data.length - 1] === 10;
      if (!complete) rows++;
      chunks.push(complete ? data : Buffer.concat([data, NEWLINE]));
      chunkBytes += data.length + (complete ? 0 : 1);
      if (chunkBytes >= WRITE_CHUNK_BYTES) await writeChunks();
      // Synchronous reads hold the event loop: let it run between slices of them.
      if (performance.now() - sliceStart >= SYNC_SLICE_MS) {
        await writeChunks();
        await new Promise<void>((r) => setImmediate(r));
        sliceStart = performance.now();
      }
    }
    await writeChunks();
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
