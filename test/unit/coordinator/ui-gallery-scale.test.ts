/**
 * The live page's gallery over a job of a million samples (31,250 imagefolder shards of 32): a page, a
 * page from deep inside the job, the pages after it and the newest images each read the index of the one
 * or two shards they show, never the rest. The storage is a stand-in that lists the shards and makes a
 * shard's index when asked, counting what is read (a million real rows would take a test minutes to write).
 */
import { describe, expect, it } from "vitest";
import { imageFileName, type MetadataRow, shardMetadataFile } from "../../../src/common/contract/job.js";
import type { ObjectStorage, StoredObject } from "../../../src/common/storage/index.js";
import { Gallery, type GalleryJob } from "../../../src/coordinator/ui/gallery.js";

const SHARDS = 31_250;
const SHARD_SIZE = 32;

function row(shard: number, i: number): MetadataRow {
  const index = shard * SHARD_SIZE + i;
  const id = `s${index}`;
  return {
    file_name: imageFileName(shard, id),
    id,
    prompt: `prompt ${index}`,
    text: `prompt ${index}`,
    negative_prompt: "",
    seed: index,
    steps: 20,
    guidance_scale: 4,
    scheduler: "euler",
    width: 64,
    height: 64,
    model: "tiny-shapes",
  };
}

/** The shards' listing, and each shard's index made on demand; `reads` names every index read. */
function millionSampleOutput(): { storage: ObjectStorage; reads: number[]; listings: () => number } {
  const reads: number[] = [];
  let listings = 0;
  const listing: StoredObject[] = Array.from({ length: SHARDS }, (_, n) => ({
    key: shardMetadataFile(n),
    size: 8_000,
  }));
  const storage = {
    async list(prefix: string) {
      listings++;
      return prefix === ".shards/" ? listing : [];
    },
    async get(key: string) {
      const m = /^\.shards\/(\d+)\.jsonl$/.exec(key);
      if (!m) return null;
      const shard = Number(m[1]);
      reads.push(shard);
      const rows = Array.from({ length: SHARD_SIZE }, (_, i) => `${JSON.stringify(row(shard, i))}\n`);
      return Buffer.from(rows.join(""));
    },
    close() {},
  } as unknown as ObjectStorage;
  return { storage, reads, listings: () => listings };
}

describe("the live page's gallery over a million samples", () => {
  it("reads only the shards a page shows, from the start, from deep inside and the newest", async () => {
    const out = millionSampleOutput();
    const gallery = new Gallery(() => out.storage);
    const job: GalleryJob = { jobId: "big", output: "/big", outputFormat: "imagefolder" };
    const started = Date.now();

    const first = await gallery.page(job, { shard: 0, at: 0 }, 48);
    expect(first.samples.map((s) => s.metadata.id)).toEqual(Array.from({ length: 48 }, (_, i) => `s${i}`));
    expect(first.next).toEqual({ shard: 1, at: 16 });
    expect(out.reads).toEqual([0, 1]);

    // A page from shard 20,000 (sample 640,005), then the four after it, following `next`.
    out.reads.length = 0;
    let from = { shard: 20_000, at: 5 };
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const page = await gallery.page(job, from, 48);
      ids.push(...page.samples.map((s) => s.metadata.id));
      if (!page.next) throw new Error("a page of a million samples ended early");
      from = page.next;
    }
    expect(ids).toEqual(Array.from({ length: 240 }, (_, i) => `s${20_000 * SHARD_SIZE + 5 + i}`));
    // 240 samples from shard 20,000 sample 5 on span shards 20,000 to 20,007: each index read once.
    expect(out.reads).toEqual([20_000, 20_001, 20_002, 20_003, 20_004, 20_005, 20_006, 20_007]);

    out.reads.length = 0;
    const newest = await gallery.newest(job, 40);
    expect(newest[0].metadata.id).toBe(`s${SHARDS * SHARD_SIZE - 1}`);
    expect(newest).toHaveLength(40);
    expect(out.reads).toEqual([SHARDS - 1, SHARDS - 2]);
    // The shard list is kept for a second: listed once for all of these, unless the machine took longer.
    expect(out.listings()).toBeLessThanOrEqual(1 + Math.floor((Date.now() - started) / 1000));
    gallery.close();
  });
});
