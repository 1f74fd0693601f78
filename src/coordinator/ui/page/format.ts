/** How the page writes figures. */
import type { JobSummary } from "./api.js";

export function fmtEta(s: number | undefined): string {
  if (s === undefined || s < 0) return "–";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function fmtRate(r: number | undefined): string {
  return `${(r ?? 0).toFixed((r ?? 0) >= 10 ? 0 : 2)} img/s`;
}

export function progressOf(job: JobSummary): { total: number; done: number; pct: number } {
  const total = job.samplesTotal ?? 0;
  return {
    total,
    done: job.samplesDone + job.samplesFailed,
    pct: total > 0 ? ((job.samplesDone + job.samplesFailed) / total) * 100 : 0,
  };
}

export function failuresText(failures: Record<string, number> | undefined): string {
  const entries = Object.entries(failures ?? {});
  return entries.length === 0 ? "none" : entries.map(([code, n]) => `${code}: ${n}`).join(", ");
}
