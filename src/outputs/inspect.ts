/**
 * Reading a job's output back (`latent-fleet inspect`): which format it is in, how many samples it holds
 * and how many failed (by error code), which shards are complete and which are not (and why), the job's
 * `_stats.json`; and one sample by key. Works on a folder or an S3 prefix alike.
 *
 * Checks (each format's own): every shard's index reads and its files are there with the right sizes;
 * `verify` also reads every tar (webdataset) or PNG (imagefolder) through.
 */
import { type JobStatsFile, STATS_FILE } from "../common/contract/job.js";
import type { OutputFormatName } from "../common/contract/output-formats.js";
import { LatentFleetError } from "../common/errors.js";
import type { ObjectStorage } from "../common/storage/index.js";
import type { ExtractedSample, OutputFormat, ShardsReport } from "./format.js";
import { outputFormats } from "./registry.js";
import { emptyShardsReport } from "./shards-report.js";

export type DetectedFormat = OutputFormatName | "empty";

export interface InspectReport extends ShardsReport {
  location: string;
  format: DetectedFormat;
  /** The job's _stats.json, when the job got to its end. */
  stats: JobStatsFile | null;
  /** Whether every tar (or PNG) was read through. */
  verified: boolean;
}

/** The format whose files the output holds; undefined when it holds none. */
export async function detectFormat(storage: ObjectStorage): Promise<OutputFormat | undefined> {
  const top = await storage.list("", { recursive: false });
  for (const format of outputFormats()) if (await format.detect(storage, top)) return format;
  return undefined;
}

export async function inspectOutput(
  storage: ObjectStorage,
  opts: { verify?: boolean } = {},
): Promise<InspectReport> {
  const format = await detectFormat(storage);
  const verify = opts.verify === true;
  let stats: JobStatsFile | null = null;
  const statsData = await storage.get(STATS_FILE);
  if (statsData) {
    try {
      stats = JSON.parse(statsData.toString("utf8")) as JobStatsFile;
    } catch {
      stats = null;
    }
  }
  const shards = format ? await format.inspect(storage, verify) : emptyShardsReport();
  shards.shards.incomplete.sort((a, b) => a.shard - b.shard);
  return {
    location: storage.location,
    format: format?.name ?? "empty",
    samples: shards.samples,
    shards: shards.shards,
    failures: shards.failures,
    stats,
    verified: verify,
  };
}

/**
 * One sample, by the key its format gives it: `{shard:05d}{index:04d}` in a webdataset output, the sample
 * id or file name in an imagefolder one. INVALID_ARGUMENT when there is no such sample.
 */
export async function extractSample(storage: ObjectStorage, key: string): Promise<ExtractedSample> {
  const format = await detectFormat(storage);
  const found = format ? await format.extract(storage, key) : { missing: "the output holds no job's files" };
  if ("missing" in found) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `no sample ${JSON.stringify(key)} in ${storage.location}: ${found.missing}`,
    );
  }
  return found;
}

/**
 * The first `count` samples of the output, whatever its format (a contact sheet's). INVALID_ARGUMENT
 * when it holds none.
 */
export async function firstSamples(storage: ObjectStorage, count: number): Promise<ExtractedSample[]> {
  const format = await detectFormat(storage);
  const samples = format ? await format.firstSamples(storage, count) : [];
  if (samples.length === 0) {
    throw new LatentFleetError("INVALID_ARGUMENT", `${storage.location} holds no sample to show`);
  }
  return samples;
}
