/**
 * When `run` restarts a child that exited on its own, and when it gives up: a child that crashes now and
 * then is restarted after a growing pause; one that keeps crashing (too many crashes in a window, or every
 * start before it ever became ready) is a fault a restart will not mend.
 */

export interface RestartPolicyOptions {
  /** This many crashes within `windowMs`, or this many starts in a row that never became ready: give up. */
  maxCrashes: number;
  windowMs: number;
  /** The pause before the first restart; it doubles with each crash in the window, up to `maxBackoffMs`. */
  firstBackoffMs: number;
  maxBackoffMs: number;
}

export const RESTART_POLICY_DEFAULTS: RestartPolicyOptions = {
  maxCrashes: 3,
  windowMs: 60_000,
  firstBackoffMs: 500,
  maxBackoffMs: 8_000,
};

export type RestartDecision = { restart: true; delayMs: number } | { restart: false; reason: string };

export class RestartPolicy {
  private readonly opts: RestartPolicyOptions;
  /** When the recent crashes happened (ms), oldest first; only those within the window are kept. */
  private crashTimes: number[] = [];
  /** Crashes in a row of starts that never became ready. */
  private startupCrashes = 0;

  constructor(opts: Partial<RestartPolicyOptions> = {}) {
    this.opts = { ...RESTART_POLICY_DEFAULTS, ...opts };
  }

  /** The child exited on its own at `nowMs`; `becameReady`: whether this start of it had become ready. */
  crashed(nowMs: number, becameReady: boolean): RestartDecision {
    const { maxCrashes, windowMs, firstBackoffMs, maxBackoffMs } = this.opts;
    this.crashTimes = this.crashTimes.filter((t) => nowMs - t < windowMs);
    this.crashTimes.push(nowMs);
    this.startupCrashes = becameReady ? 0 : this.startupCrashes + 1;
    if (this.startupCrashes >= maxCrashes) {
      return { restart: false, reason: `it crashed at start-up ${this.startupCrashes} times in a row` };
    }
    if (this.crashTimes.length >= maxCrashes) {
      return {
        restart: false,
        reason: `it crashed ${this.crashTimes.length} times within ${Math.round(windowMs / 1000)} s`,
      };
    }
    const crashes = Math.max(this.crashTimes.length, this.startupCrashes);
    return { restart: true, delayMs: Math.min(maxBackoffMs, firstBackoffMs * 2 ** (crashes - 1)) };
  }
}
