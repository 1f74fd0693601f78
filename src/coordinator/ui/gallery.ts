/**
 * A job's images for the page, read through its output format one shard at a time: the newest samples, a
 * page of the whole output in manifest order (a cursor of shard and index, so a job of a million samples
 * is never loaded whole), and one sample's image or thumbnail by its key in its shard's index.
 */

import { Lru } from "../../common/lru.js";
import type { ObjectStorage } from "../../common/storage/index.js";
import { openStorage } from "../../common/storage/index.js";
import { type IndexedSample, outputFormat } from "../../outputs/index.js";
import { ThumbnailMaker } from "./thumbnail-maker.js";

export interface GalleryJob {
  jobId: string;
  output: string;
  outputFormat: string;
}

export interface GallerySample extends IndexedSample {
  shard: number;
}

export interface GalleryPage {
  samples: GallerySample[];
  /** Where the next page starts; null at the end of what is written so far. */
  next: { shard: number; at: number } | null;
}

/** Shards a page request reads at most (a filter that matches little stops here and says where). */
const SHARDS_PER_REQUEST = 64;
/** A job's list of shards is listed again after this long (one listing serves many requests). */
const SHARD_LIST_TTL_MS = 1000;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export class Gallery {
  private readonly storages = new Map<string, ObjectStorage>();

  /** `open`: how an output location becomes a storage (the page's: openStorage). */
  constructor(private readonly open: (location: string) => ObjectStorage = (l) => openStorage(l)) {}

  private readonly shardLists = new Map<string, { at: number; shards: Promise<number[]> }>();
  private readonly shardSamples = new Lru<Promise<IndexedSample[] | null>>(128);
  private readonly thumbnails = new Lru<Buffer>(1024);
  private readonly thumbnailMaker = new ThumbnailMaker();

  private storage(job: GalleryJob): ObjectStorage {
    let s = this.storages.get(job.output);
    if (!s) {
      s = this.open(job.output);
      this.storages.set(job.output, s);
    }
    return s;
  }

  private shards(job: GalleryJob): Promise<number[]> {
    const cached = this.shardLists.get(job.jobId);
    if (cached && Date.now() - cached.at < SHARD_LIST_TTL_MS) return cached.shards;
    const shards = outputFormat(job.outputFormat).indexedShards(this.storage(job));
    this.shardLists.set(job.jobId, { at: Date.now(), shards });
    shards.catch(() => this.shardLists.delete(job.jobId));
    return shards;
  }

  private samplesOf(job: GalleryJob, shard: number): Promise<IndexedSample[] | null> {
    const key = `${job.jobId}/${shard}`;
    let p = this.shardSamples.get(key);
    if (!p) {
      p = outputFormat(job.outputFormat).shardSamples(this.storage(job), shard);
      this.shardSamples.set(key, p);
      // A failed read is not remembered; a shard with no index yet is asked again next time.
      p.then(
        (s) => s === null && this.shardSamples.delete(key),
        () => this.shardSamples.delete(key),
      );
    }
    return p;
  }

  /** Samples in manifest order from `from` (shard, index in it), those matching `query` (prompt, id, key). */
  async page(
    job: GalleryJob,
    from: { shard: number; at: number },
    limit: number,
    query = "",
  ): Promise<GalleryPage> {
    const q = query.trim().toLowerCase();
    const matches = (s: IndexedSample) =>
      q === "" ||
      s.metadata.prompt.toLowerCase().includes(q) ||
      s.metadata.id.toLowerCase().includes(q) ||
      s.key.toLowerCase().includes(q);
    const shards = (await this.shards(job)).filter((s) => s >= from.shard);
    const out: GallerySample[] = [];
    for (const [n, shard] of shards.entries()) {
      if (n >= SHARDS_PER_REQUEST) return { samples: out, next: { shard, at: 0 } };
      const samples = (await this.samplesOf(job, shard)) ?? [];
      for (let i = shard === from.shard ? from.at : 0; i < samples.length; i++) {
        if (out.length === limit) return { samples: out, next: { shard, at: i } };
        if (matches(samples[i])) out.push({ ...samples[i], shard });
      }
    }
    return { samples: out, next: null };
  }

  /** The last `limit` samples of the highest shards written: what the workers made last. */
  async newest(job: GalleryJob, limit: number): Promise<GallerySample[]> {
    const shards = await this.shards(job);
    const out: GallerySample[] = [];
    for (
      let n = shards.length - 1;
      n >= 0 && out.length < limit && shards.length - n <= SHARDS_PER_REQUEST;
      n--
    ) {
      const samples = (await this.samplesOf(job, shards[n])) ?? [];
      for (let i = samples.length - 1; i >= 0 && out.length < limit; i--) {
        if (samples[i].ok) out.push({ ...samples[i], shard: shards[n] });
      }
    }
    return out;
  }

  /** A sample's PNG (or its thumbnail) by its key in its shard's index; null when the index has no such image. */
  async image(job: GalleryJob, shard: number, key: string, thumbnail: boolean): Promise<Buffer | null> {
    const cacheKey = `${job.jobId}/${shard}/${key}`;
    if (thumbnail) {
      const hit = this.thumbnails.get(cacheKey);
      if (hit) return hit;
    }
    const listed = (await this.samplesOf(job, shard)) ?? [];
    const png = await outputFormat(job.outputFormat).sampleImage(this.storage(job), shard, key, listed);
    // Only PNGs leave: whatever else a file named in an index holds (a link planted to another file) does not.
    if (!png || png.length < PNG_SIGNATURE.length || !png.subarray(0, 8).equals(PNG_SIGNATURE)) return null;
    if (!thumbnail) return png;
    const small = await this.thumbnailMaker.make(png);
    this.thumbnails.set(cacheKey, small);
    return small;
  }

  close(): void {
    for (const s of this.storages.values()) s.close();
    this.storages.clear();
    void this.thumbnailMaker.close();
  }
}
