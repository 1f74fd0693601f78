/**
 * metadata.jsonl assembled from the shards' files: the same bytes whether the files are read at once
 * (a folder's getSync) or through get (S3), across write chunks and event-loop slices.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { METADATA_FILE, shardMetadataFile } from "../../../src/common/contract/job.js";
import { LocalStorage, type ObjectStorage } from "../../../src/common/storage/index.js";
import { writeMetadata } from "../../../src/outputs/imagefolder/metadata-file.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lf-metadata-file-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Shard s: lines of ~1 KB (over the write chunk in all); 7 has no file, 9 no final newline, 11 is empty. */
async function writeShards(root: string, shards: number): Promise<Buffer> {
  const expected: Buffer[] = [];
  for (let s = 0; s < shards; s++) {
    if (s === 7) continue;
    const lines =
      s === 11 ? [] : Array.from({ length: 40 }, (_, i) => `{"id":"${s}-${i}","p":"${"x".repeat(1000)}"}`);
    const text = lines.join("\n") + (s === 9 || lines.length === 0 ? "" : "\n");
    const path = join(root, shardMetadataFile(s));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    if (lines.length > 0) expected.push(Buffer.from(`${lines.join("\n")}\n`));
  }
  return Buffer.concat(expected);
}

/** The folder's storage without getSync: every file read through get, as for S3. */
function withoutGetSync(storage: LocalStorage): ObjectStorage {
  return new Proxy(storage, {
    get: (target, key) => (key === "getSync" ? undefined : Reflect.get(target, key, target)),
  });
}

describe("writeMetadata", () => {
  for (const via of ["getSync", "get"] as const) {
    it(`concatenates the shard files in shard order (${via})`, async () => {
      const out = join(dir, via);
      const expected = await writeShards(out, 24);
      const local = new LocalStorage(out);
      const storage = via === "get" ? withoutGetSync(local) : local;
      expect(storage.getSync === undefined).toBe(via === "get");
      const summary = await writeMetadata(storage, out, 24, (s) => s !== 3);
      local.close();
      const shard3 = Buffer.from(
        Array.from({ length: 40 }, (_, i) => `{"id":"3-${i}","p":"${"x".repeat(1000)}"}\n`).join(""),
      );
      const at = expected.indexOf(shard3);
      expect(at).toBeGreaterThan(0);
      const withoutShard3 = Buffer.concat([expected.subarray(0, at), expected.subarray(at + shard3.length)]);
      expect((await readFile(join(out, METADATA_FILE))).equals(withoutShard3)).toBe(true);
      expect(summary).toEqual({ rows: 21 * 40, missing: [7] });
    });
  }
});
