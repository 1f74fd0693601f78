/**
 * Job progress for `run`: a progress bar with images/s and ETA on a terminal, plain lines elsewhere
 * (one when the state changes, otherwise at most one every 5 s), so logs and CI output stay readable.
 */
import { SingleBar } from "cli-progress";
import type { Job } from "../../common/proto/generated/latentfleet/v1/Job.js";
import { formatDuration, formatJobLine, type ToleranceSource } from "./jobs-client.js";

export interface ProgressView {
  update(job: Job): void;
  finish(job: Job | undefined): void;
}

const PLAIN_INTERVAL_MS = 5_000;

/** `toleranceFrom`: where the job's failure tolerance came from, for the lines that name it. */
export function createProgressView(
  stream: NodeJS.WriteStream,
  toleranceFrom?: ToleranceSource,
): ProgressView {
  return stream.isTTY ? barView(stream) : plainView(stream, toleranceFrom);
}

function barView(stream: NodeJS.WriteStream): ProgressView {
  const bar = new SingleBar({
    stream,
    format:
      "{bar} {percentage}% | {value}/{total} images | {failed} failed | {rate} images/s | ETA {etaText}",
    hideCursor: true,
    clearOnComplete: false,
  });
  let started = false;
  return {
    update(job) {
      const total = Math.max(
        Number(job.samples_total),
        Number(job.samples_done) + Number(job.samples_failed),
        1,
      );
      const payload = {
        failed: job.samples_failed,
        rate: job.images_per_second.toFixed(1),
        etaText: job.eta_seconds >= 0 ? formatDuration(job.eta_seconds) : "?",
      };
      const value = Number(job.samples_done) + Number(job.samples_failed);
      if (!started) {
        bar.start(total, value, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(value, payload);
      }
    },
    finish() {
      if (started) bar.stop();
    },
  };
}

function plainView(stream: NodeJS.WriteStream, toleranceFrom?: ToleranceSource): ProgressView {
  let lastState = "";
  let lastAt = 0;
  return {
    update(job) {
      const now = Date.now();
      if (job.state === lastState && now - lastAt < PLAIN_INTERVAL_MS) return;
      lastState = job.state;
      lastAt = now;
      stream.write(`${formatJobLine(job, toleranceFrom)}\n`);
    },
    finish() {},
  };
}
