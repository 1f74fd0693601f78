/** Counters of one worker: images generated and failed, and the rate over a sliding window. */

export class WorkerStats {
  generated = 0;
  failed = 0;
  private readonly buckets: number[];
  private readonly stamps: number[];

  /**
   * @param windowSeconds the rate window (one bucket per second)
   * @param now clock in milliseconds (injectable for tests)
   */
  constructor(
    private readonly windowSeconds = 60,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
    this.stamps = new Array<number>(windowSeconds).fill(-1);
    this.startedAt = now();
  }

  readonly startedAt: number;

  record(ok: number, failed: number): void {
    this.generated += ok;
    this.failed += failed;
    if (ok === 0) return;
    const second = Math.floor(this.now() / 1000);
    const i = second % this.windowSeconds;
    if (this.stamps[i] !== second) {
      this.stamps[i] = second;
      this.buckets[i] = 0;
    }
    this.buckets[i] += ok;
  }

  /** Images per second over the window (or since start, when the worker is younger than the window). */
  imagesPerSecond(): number {
    const nowMs = this.now();
    const second = Math.floor(nowMs / 1000);
    let sum = 0;
    for (let i = 0; i < this.windowSeconds; i++) {
      if (this.stamps[i] > second - this.windowSeconds) sum += this.buckets[i];
    }
    const span = Math.min(this.windowSeconds, Math.max(1, (nowMs - this.startedAt) / 1000));
    return sum / span;
  }

  uptimeSeconds(): number {
    return (this.now() - this.startedAt) / 1000;
  }
}
