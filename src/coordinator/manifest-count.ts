/**
 * Counts a job's samples and shards from its rows (no sample objects), publishing nothing. Taking turns
 * (fair-queue.ts), the publisher reaches the manifest's end only when the job is nearly done; the count
 * gives the total (progress, ETA) from the start.
 */
import { expandSpecRows, type JobSpec, type SourceAccess } from "../manifest/index.js";
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
    for await (const rows of expandSpecRows(spec, { access })) {
      if (stop()) return null;
      for (const ev of rows) {
        if (ev.type !== "row") continue;
        samples += ev.row.imagesPerPrompt;
        counter.addRow(ev);
      }
    }
  } catch {
    return null;
  }
  return { samples, shards: counter.shards };
}
