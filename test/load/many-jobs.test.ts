/**
 * Load: a big job runs on a fleet of real processes (nats-server, coordinator, three workers on the bundled
 * model at 16x16, one step) when 20 smaller jobs of different sizes are submitted at once. Every job
 * finishes; the small ones are not held up behind the big one (the coordinator lets running jobs take turns
 * queueing tasks, see src/coordinator/fair-queue.ts), so each ends before it; a WatchJob stream per job
 * stays live to the end; and the coordinator's resident memory (read from /proc) stays bounded.
 * Prints the figures: jobs, samples, time, small jobs' latency, the coordinator's RSS.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CoordinatorClient } from "../../src/cli/coordinator-client.js";
import type { Job } from "../../src/common/proto/generated/latentfleet/v1/Job.js";
import { Fleet } from "../chaos/fleet.js";
import { type ChaosJob, checkOutput, writeChaosJob } from "../chaos/job-output.js";

/** Template rows of the 20 small jobs (4 images each): 8 to 480 samples. */
const SMALL_ROWS = [2, 3, 4, 5, 6, 8, 10, 12, 15, 18, 20, 24, 25, 28, 30, 60, 60, 90, 90, 120];
const BIG_ROWS = 1200;
const PER_PROMPT = 4;
const RSS_LIMIT_MIB = 400;
/** LF_LOAD_FAIR_SHARE=off runs the coordinator with --queue-ahead 0, to compare (fairness is not asserted). */
const FAIR = process.env.LF_LOAD_FAIR_SHARE !== "off";

interface Watched {
  updates: number[];
  last: Job | undefined;
  ended: Promise<void>;
}

/** Follows a job with WatchJob: the time of every update and the last snapshot. */
function watch(client: CoordinatorClient, jobId: string): Watched {
  const w: Watched = { updates: [], last: undefined, ended: Promise.resolve() };
  w.ended = (async () => {
    for await (const job of client.watchJob(jobId)) {
      w.updates.push(Date.now());
      w.last = job;
    }
  })();
  return w;
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

describe.skipIf(process.platform !== "linux")("many jobs at once on one fleet", () => {
  let root: string;
  let fleet: Fleet;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "lf-load-"));
    fleet = await Fleet.start({
      root,
      coordinatorFlags: ["--shard-size", "16", ...(FAIR ? [] : ["--queue-ahead", "0"])],
      workerFlags: ["--ack-wait", "10"],
    });
    await fleet.startCoordinator();
    await Promise.all(["l1", "l2", "l3"].map((id) => fleet.startWorker(id)));
  });

  afterAll(async () => {
    await fleet?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("shares the workers between a big job and 20 small ones; all finish, watches stay live", async () => {
    const client = await fleet.client();
    const pid = fleet.coordinator?.child.pid as number;
    const rss: number[] = [await rssMiB(pid)];
    const sampler = setInterval(() => {
      rssMiB(pid).then(
        (v) => rss.push(v),
        () => undefined,
      );
    }, 250);
    try {
      const big = await writeChaosJob(join(root, "big"), { rows: BIG_ROWS, perPrompt: PER_PROMPT });
      const smalls: ChaosJob[] = [];
      for (const [i, rows] of SMALL_ROWS.entries()) {
        smalls.push(await writeChaosJob(join(root, `small-${i}`), { rows, perPrompt: PER_PROMPT }));
      }
      const t0 = Date.now();
      const bigId = await client.submit(big.spec, { out: join(root, "out-big") });
      const bigWatch = watch(client, bigId);
      // The big job is well under way, its tasks queued, when the others come.
      expect(await fleet.waitForProgress(bigId, 400, 60_000)).toBe(true);

      const submittedAt = Date.now();
      const ids = await Promise.all(
        smalls.map((job, i) => client.submit(job.spec, { out: join(root, `out-small-${i}`) })),
      );
      const watches = ids.map((id) => watch(client, id));
      await Promise.all([bigWatch.ended, ...watches.map((w) => w.ended)]);
      const elapsed = (Date.now() - t0) / 1000;

      const bigEnd = bigWatch.updates.at(-1) as number;
      expect(bigWatch.last?.state).toBe("JOB_STATE_SUCCEEDED");
      const latencies: number[] = [];
      for (const [i, w] of watches.entries()) {
        expect(w.last?.state, `small job ${i}`).toBe("JOB_STATE_SUCCEEDED");
        expect(Number(w.last?.samples_done)).toBe(smalls[i].total);
        // A live stream: progress came while the job ran, and the last message is the final state.
        expect(w.updates.length).toBeGreaterThanOrEqual(2);
        const end = w.updates.at(-1) as number;
        latencies.push((end - submittedAt) / 1000);
        // Fair: no small job waits for the big one to finish.
        if (FAIR) expect(end, `small job ${i} (${smalls[i].total} samples)`).toBeLessThan(bigEnd);
      }
      for (const [i, job] of smalls.entries()) await checkOutput(join(root, `out-small-${i}`), job);
      await checkOutput(join(root, "out-big"), big);

      const samples = big.total + smalls.reduce((n, j) => n + j.total, 0);
      const peak = Math.max(...rss);
      console.log(
        [
          `fair share ${FAIR ? "on" : "off"}; jobs: 1 of ${big.total} samples, then 20 of ${smalls[0].total} to ${smalls.at(-1)?.total} samples submitted at once`,
          `samples: ${samples} in ${elapsed.toFixed(1)} s (${Math.round(samples / elapsed)} images/s)`,
          `small jobs' time from submission to end: median ${median(latencies).toFixed(1)} s, ` +
            `max ${Math.max(...latencies).toFixed(1)} s; the big job ended ${((bigEnd - submittedAt) / 1000).toFixed(1)} s after they were submitted`,
          `coordinator RSS: ${rss[0]} MiB at start, peak ${peak} MiB, ${rss.at(-1)} MiB at the end`,
        ].join("\n"),
      );
      expect(peak).toBeLessThan(RSS_LIMIT_MIB);
    } finally {
      clearInterval(sampler);
    }
  });
});
