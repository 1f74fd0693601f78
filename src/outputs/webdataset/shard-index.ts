/**
 * The webdataset format's layout (the one img2dataset and the WebDataset loaders use), and its shard index:
 *
 *   <out>/{shard:05d}.tar       per successful sample {key}.png, {key}.txt (the caption: the prompt), {key}.json
 *                               (its record, the caption again as `text`)
 *   <out>/{shard:05d}.parquet   one row per sample of the shard, failed ones included (status, error_message)
 *   <out>/_stats.json           the job's counts, failures, durations and throughput
 *
 * A key is the shard number (5 digits) and the sample's index inside the shard (4 digits), so a re-run
 * of the same spec gives every sample the same key. The Parquet file is written after the tar and records
 * the tar's size and CRC-32: a shard is complete when its Parquet file reads and its tar matches it.
 */
import { crc32 } from "node:zlib";
import type { MetadataRow } from "../../common/contract/job.js";
import { crc32Combine } from "../../common/crc32-combine.js";

const META_TAR_BYTES = "latent_fleet.tar_bytes";
const META_TAR_CRC32 = "latent_fleet.tar_crc32";
const META_SAMPLES = "latent_fleet.samples";

export function wdsShardLabel(shard: number): string {
  return String(shard).padStart(5, "0");
}

export function tarShardName(shard: number): string {
  return `${wdsShardLabel(shard)}.tar`;
}

export function parquetShardName(shard: number): string {
  return `${wdsShardLabel(shard)}.parquet`;
}

/** `{shard:05d}{index in shard:04d}`. */
export function sampleKey(shard: number, indexInShard: number): string {
  return `${wdsShardLabel(shard)}${String(indexInShard).padStart(4, "0")}`;
}

/** Shard numbers of names like 00012.tar / 00012.parquet (undefined for other names). */
export function shardOfName(name: string, ext: "tar" | "parquet"): number | undefined {
  const m = new RegExp(`^(\\d{5,})\\.${ext}$`).exec(name);
  return m ? Number(m[1]) : undefined;
}

export type SampleStatus = "success" | "failed";

/** One sample of a shard: its `{key}.json` in the tar, and its row of the shard's Parquet file. */
export interface ShardSampleRecord extends Omit<MetadataRow, "file_name"> {
  key: string;
  shard: number;
  /** Position of the sample in manifest order. */
  index: number;
  status: SampleStatus;
  /** "" when the sample succeeded. */
  error_message: string;
  error_code: string;
}

/** Where a sample's PNG lies in its shard's tar: its data's offset and size. */
export interface ImageLocation {
  offset: number;
  size: number;
}

/** A tar's size and CRC-32. */
export interface TarDigest {
  bytes: number;
  crc32: number;
}

export interface ShardIndex {
  records: ShardSampleRecord[];
  /** Size and CRC-32 of the shard's tar as written (absent when no sample succeeded: no tar). */
  tar?: TarDigest;
  /**
   * Each record's PNG in the tar (png_offset, png_size), so that one image is one ranged read; undefined for
   * a failed sample, and for every sample of a shard written before these columns.
   */
  images: (ImageLocation | undefined)[];
}

/**
 * Size and CRC-32 of a tar given as chunks. `known` holds CRCs computed already for some chunks (the
 * PNGs: the encoder has them); those are combined in rather than read again.
 */
export function tarDigest(
  chunks: readonly Uint8Array[],
  known: ReadonlyMap<Uint8Array, number> = new Map(),
): TarDigest {
  let bytes = 0;
  let crc = 0;
  for (const chunk of chunks) {
    bytes += chunk.length;
    const k = known.get(chunk);
    crc = k === undefined ? crc32(chunk, crc) : crc32Combine(crc, k, chunk.length);
  }
  return { bytes, crc32: crc >>> 0 };
}

function isDigest(tar: Uint8Array | readonly Uint8Array[] | TarDigest): tar is TarDigest {
  return !(tar instanceof Uint8Array) && !Array.isArray(tar);
}

/**
 * The shard's Parquet file. `tar`: the tar written with it (whole, in chunks, or its digest), or none when
 * every sample failed. `images`: where each record's PNG lies in the tar (png_offset and png_size, -1 for
 * none). (The Parquet code, some 80 modules, loads on first use: a coordinator or worker of imagefolder jobs
 * starts without it.)
 */
export async function writeShardIndex(
  records: readonly ShardSampleRecord[],
  tar: Uint8Array | readonly Uint8Array[] | TarDigest | null,
  images: readonly (ImageLocation | undefined)[] = [],
): Promise<Uint8Array> {
  const { parquetWriteBuffer } = await import("hyparquet-writer");
  const col = <K extends keyof ShardSampleRecord>(k: K) => records.map((r) => r[k]);
  const str = (name: keyof ShardSampleRecord) => ({
    name,
    data: records.map((r) => String(r[name])),
    type: "STRING" as const,
  });
  const kvMetadata = [{ key: META_SAMPLES, value: String(records.length) }];
  if (tar) {
    const { bytes, crc32 } = isDigest(tar) ? tar : tarDigest(tar instanceof Uint8Array ? [tar] : tar);
    kvMetadata.push(
      { key: META_TAR_BYTES, value: String(bytes) },
      { key: META_TAR_CRC32, value: String(crc32) },
    );
  }
  const buf = parquetWriteBuffer({
    columnData: [
      str("key"),
      { name: "shard", data: Int32Array.from(col("shard")), type: "INT32" },
      { name: "index", data: BigInt64Array.from(col("index").map(BigInt)), type: "INT64" },
      str("id"),
      str("prompt"),
      str("text"),
      str("negative_prompt"),
      { name: "seed", data: BigInt64Array.from(col("seed").map(BigInt)), type: "INT64" },
      { name: "steps", data: Int32Array.from(col("steps")), type: "INT32" },
      { name: "guidance_scale", data: Float64Array.from(col("guidance_scale")), type: "DOUBLE" },
      str("scheduler"),
      { name: "width", data: Int32Array.from(col("width")), type: "INT32" },
      { name: "height", data: Int32Array.from(col("height")), type: "INT32" },
      str("model"),
      str("status"),
      str("error_message"),
      str("error_code"),
      {
        name: "png_offset",
        data: BigInt64Array.from(records, (_, i) => BigInt(images[i]?.offset ?? -1)),
        type: "INT64",
      },
      {
        name: "png_size",
        data: BigInt64Array.from(records, (_, i) => BigInt(images[i]?.size ?? -1)),
        type: "INT64",
      },
    ],
    kvMetadata,
    // Column statistics help readers skip row groups; a shard's file has one small one.
    statistics: false,
  });
  return new Uint8Array(buf);
}

/** Reads a shard's Parquet file (throws on a damaged one). */
export async function readShardIndex(data: Uint8Array): Promise<ShardIndex> {
  const { parquetMetadata, parquetReadObjects } = await import("hyparquet");
  const file = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  const meta = parquetMetadata(file);
  const kv = new Map((meta.key_value_metadata ?? []).map((e) => [e.key, e.value ?? ""]));
  const rows = await parquetReadObjects({ file, metadata: meta });
  const records = rows.map((row): ShardSampleRecord => {
    const s = (k: string) => String(row[k] ?? "");
    const n = (k: string) => Number(row[k] ?? 0);
    return {
      key: s("key"),
      shard: n("shard"),
      index: n("index"),
      id: s("id"),
      prompt: s("prompt"),
      // "" in a shard written before the caption column: a re-run does not reuse it (reader.ts).
      text: s("text"),
      negative_prompt: s("negative_prompt"),
      seed: n("seed"),
      steps: n("steps"),
      guidance_scale: n("guidance_scale"),
      scheduler: s("scheduler"),
      width: n("width"),
      height: n("height"),
      model: s("model"),
      status: s("status") === "success" ? "success" : "failed",
      error_message: s("error_message"),
      error_code: s("error_code"),
    };
  });
  const expected = Number(kv.get(META_SAMPLES) ?? records.length);
  if (expected !== records.length)
    throw new Error(`holds ${records.length} rows, its metadata says ${expected}`);
  const bytes = kv.get(META_TAR_BYTES);
  const crc = kv.get(META_TAR_CRC32);
  const images = rows.map((row, i): ImageLocation | undefined => {
    const offset = Number(row.png_offset ?? -1);
    const size = Number(row.png_size ?? -1);
    const ok = records[i].status === "success" && Number.isSafeInteger(offset) && offset >= 0 && size >= 0;
    return ok ? { offset, size } : undefined;
  });
  return {
    records,
    images,
    ...(bytes === undefined || crc === undefined
      ? {}
      : { tar: { bytes: Number(bytes), crc32: Number(crc) } }),
  };
}
