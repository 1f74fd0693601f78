/**
 * How many failures a job may have and still succeed (`--max-failed N|P%`). Failures are failed samples
 * plus rejected manifest rows: both are images the dataset asked for and does not get. A percentage is of
 * everything asked for: the job's samples plus its rejected rows. Written as text ("0", "3", "2.5%") in
 * the submission, the job record and `_stats.json`; the default "0" keeps the strict rule (one failure fails the job).
 */
import { LatentFleetError } from "../errors.js";

export type FailureTolerance = { readonly count: number } | { readonly percent: number };

export const NO_FAILURES_ALLOWED: FailureTolerance = { count: 0 };

const COUNT = /^\d+$/;
const PERCENT = /^(\d+(?:\.\d+)?)%$/;

/** "N" (failures) or "P%" (of samples + rejected rows, 0 to 100); INVALID_ARGUMENT otherwise. */
export function parseFailureTolerance(text: string): FailureTolerance {
  const t = text.trim();
  if (COUNT.test(t)) {
    const count = Number(t);
    if (Number.isSafeInteger(count)) return { count };
  }
  const p = PERCENT.exec(t);
  if (p) {
    const percent = Number(p[1]);
    if (percent <= 100) return { percent };
  }
  throw new LatentFleetError(
    "INVALID_ARGUMENT",
    `--max-failed must be a count of failures (N) or a percentage from 0% to 100% (P%), got ${JSON.stringify(text)}`,
  );
}

/** The tolerance as it is written: "3" or "2.5%". */
export function formatFailureTolerance(t: FailureTolerance): string {
  return "count" in t ? String(t.count) : `${t.percent}%`;
}

/** The most failures allowed among `asked` (samples + rejected rows): a percentage rounds down. */
export function allowedFailures(t: FailureTolerance, asked: number): number {
  if ("count" in t) return t.count;
  // Rounded first so that 10% of 30 is 3, not 2.9999999999999996 floored to 2.
  return Math.floor(Number(((t.percent * asked) / 100).toFixed(9)));
}
