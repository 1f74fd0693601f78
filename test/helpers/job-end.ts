/** Waiting for a job's final state through a fleet's coordinator, shared by the multi-process test fleets. */
import { CoordinatorClient, isFinalJobState } from "../../src/cli/coordinator-client.js";
import type { Job } from "../../src/common/proto/generated/latentfleet/v1/Job.js";
import type { CliProcess } from "./cli-processes.js";

/**
 * Polls `getJob` (undefined while the coordinator does not answer) until the job is final;
 * after `timeoutMs` throws with the last state and the processes' log tails.
 */
export async function waitForJobEnd(
  getJob: (jobId: string) => Promise<Job | undefined>,
  processes: readonly CliProcess[],
  jobId: string,
  timeoutMs: number,
  pollMs: number,
): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(jobId);
    if (job && isFinalJobState(job.state)) return job;
    if (Date.now() > deadline) {
      const tails = processes
        .map((p) => `--- ${p.name}\n${p.output().split("\n").slice(-8).join("\n")}`)
        .join("\n");
      throw new Error(
        `job ${jobId} did not end within ${timeoutMs} ms (last: ${job?.state} ${job?.samples_done}/${job?.samples_total})\n${tails}`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** One client of a fleet's coordinator, reconnected after a call fails (the coordinator restarted or moved). */
export class CoordinatorLink {
  private conn: CoordinatorClient | undefined;

  /** `address` gives the coordinator's HOST:PORT now; it may throw while there is none. */
  constructor(private readonly address: () => string) {}

  async client(): Promise<CoordinatorClient> {
    const address = this.address();
    this.conn ??= await CoordinatorClient.connect(address, {
      connectTimeoutMs: 10_000,
      callTimeoutMs: 10_000,
    });
    return this.conn;
  }

  /** The job's snapshot; undefined while the coordinator does not answer. */
  async getJob(jobId: string): Promise<Job | undefined> {
    try {
      return await (await this.client()).getJob(jobId);
    } catch {
      this.close();
      return undefined;
    }
  }

  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }
}
