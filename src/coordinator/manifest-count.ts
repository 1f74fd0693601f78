/**
 * Counts a job's samples and shards by expanding its manifest once, publishing nothing. Taking turns
 * (fair-queue.ts), the publisher reaches the manifest's end only when the job is nearly done; the count
 * gives the total (progress, ETA) from the start.
 */
import { expandSpecBatches, type JobSpec, type SourceAccess } from "../manifest/index.js";
import { ShardCounter } from "./sharder.js";

/** The counts; null once `stop()` says so, or if the manifest cannot be expanded (the publisher says why). */
export async function countManifest(
  spec: JobSpec,
  access: SourceAccess,
  shardSize: number,
  stop: () => boolean,
): Promise<{ samples: number; shards: number } | null> {
  const counter = new ShardCounter(shardSize);
  let samples = 0;
  try {
    for await (const batch of expandSpecBatches(spec, { access })) {
      if (stop()) return null;
      for (const ev of batch) {
        if (ev.type !== "sample") continue;
        samples++;
        counter.add(ev.sample);
      }
    }
  } catch {
    return null;
  }
  return { samples, shards: counter.shards };
}
