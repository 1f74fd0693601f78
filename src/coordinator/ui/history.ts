/**
 * Throughput over time, kept here while the page is served: every job's done count and each worker's, a
 * point every few seconds (bounded: the oldest points go). The chart and the per-worker rates read it.
 */

import type { HistoryPoint, WorkerRate } from "./page/api.js";

/** A worker of a job running here: its rate is known (samples per second over the last RATE_WINDOW_MS). */
export type LiveWorkerRate = WorkerRate & { rate: number };

const MAX_POINTS = 720;
const MIN_STEP_MS = 2000;
const RATE_WINDOW_MS = 30_000;

interface Track {
  points: HistoryPoint[];
  workers: { t: number; counts: Record<string, number> }[];
}

export class JobHistory {
  private readonly tracks = new Map<string, Track>();

  constructor(private readonly maxJobs = 64) {}

  observe(jobId: string, done: number, workers: Record<string, number>, now = Date.now()): void {
    let track = this.tracks.get(jobId);
    if (!track) {
      track = { points: [], workers: [] };
      this.tracks.set(jobId, track);
      if (this.tracks.size > this.maxJobs) {
        const oldest = this.tracks.keys().next().value;
        if (oldest !== undefined) this.tracks.delete(oldest);
      }
    }
    const last = track.points.at(-1);
    if (last && now - last.t < MIN_STEP_MS) {
      last.done = done;
      const w = track.workers.at(-1);
      if (w) w.counts = { ...workers };
      return;
    }
    track.points.push({ t: now, done });
    track.workers.push({ t: now, counts: { ...workers } });
    if (track.points.length > MAX_POINTS) {
      track.points.shift();
      track.workers.shift();
    }
  }

  points(jobId: string): HistoryPoint[] {
    return this.tracks.get(jobId)?.points.map((p) => ({ ...p })) ?? [];
  }

  /** Each worker's count and its rate over the last half minute seen. */
  workerRates(jobId: string, now = Date.now()): LiveWorkerRate[] {
    const ws = this.tracks.get(jobId)?.workers ?? [];
    const latest = ws.at(-1);
    if (!latest) return [];
    const base = ws.find((w) => now - w.t <= RATE_WINDOW_MS) ?? latest;
    const seconds = (latest.t - base.t) / 1000;
    return Object.entries(latest.counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([worker, done]) => ({
        worker,
        done,
        rate: seconds > 0 ? (done - (base.counts[worker] ?? 0)) / seconds : 0,
      }));
  }
}
