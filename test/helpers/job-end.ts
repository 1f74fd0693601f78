/** Waiting for a job's final state through a fleet's coordinator, shared by the multi-process test fleets. */
import { isFinalJobState } from "../../src/cli/coordinator-client.js";
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
