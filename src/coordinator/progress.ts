/** Images/s over a sliding window, and the ETA it implies. */

const DEFAULT_WINDOW_MS = 30_000;
const BUCKET_MS = 1_000;

export class ProgressMeter {
  private readonly buckets = new Map<number, number>();
  private firstAt: number | null = null;

  constructor(
    private readonly windowMs: number = DEFAULT_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * `images` made at `at` (default now). A result read again by a restarted coordinator counts when it was
   * made, not when it is read: else the restart shows every image of the window as made in its first second.
   */
  record(images: number, at?: number): void {
    if (images <= 0) return;
    const t = this.now();
    const made = Math.min(at ?? t, t);
    if (made < t - this.windowMs) return;
    this.firstAt = Math.min(this.firstAt ?? made, made);
    const b = Math.floor(made / BUCKET_MS);
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + images);
    this.prune(t);
  }

  /** Images per second over the window (or since the first image, when that is shorter). */
  rate(): number {
    const t = this.now();
    this.prune(t);
    if (this.firstAt === null) return 0;
    let sum = 0;
    for (const n of this.buckets.values()) sum += n;
    const span = Math.min(this.windowMs, t - this.firstAt);
    return (sum / Math.max(span, BUCKET_MS)) * 1000;
  }

  /** Seconds until `remaining` more images at the current rate; -1 when unknown. */
  eta(remaining: number | null): number {
    if (remaining === null) return -1;
    if (remaining <= 0) return 0;
    const r = this.rate();
    return r > 0 ? remaining / r : -1;
  }

  private prune(t: number): void {
    const oldest = Math.floor((t - this.windowMs) / BUCKET_MS);
    for (const b of this.buckets.keys()) if (b < oldest) this.buckets.delete(b);
  }
}
