/** The part of `inspect`'s report a format fills in, and its tally of failures. */
import type { ShardsReport } from "./format.js";

export function emptyShardsReport(): ShardsReport {
  return { samples: { done: 0, failed: 0 }, shards: { complete: 0, incomplete: [] }, failures: {} };
}

/** One failed sample more under its error code ("UNKNOWN" when it has none). */
export function countFailure(report: ShardsReport, code: string): void {
  const c = code || "UNKNOWN";
  report.failures[c] = (report.failures[c] ?? 0) + 1;
}
