/**
 * The end of a job, once every shard is folded: checking that each shard's files are in place (and what
 * the format assembles from them, such as imagefolder's metadata.jsonl), then the final state and its
 * message.
 */
import {
  allowedFailures,
  type FailureTolerance,
  formatFailureTolerance,
  NO_FAILURES_ALLOWED,
} from "../common/contract/failure-tolerance.js";
import type { FailureBudget, JobStateName } from "../common/contract/job.js";
import type { OutputFormatName } from "../common/contract/output-formats.js";
import type { Logger } from "../common/log.js";
import type { ObjectStorage } from "../common/storage/index.js";
import { outputFormat } from "../outputs/index.js";

export interface ShardFilesCheck {
  storage: ObjectStorage;
  format: OutputFormatName;
  /** The folder of the job's local working files (metadata.jsonl is assembled there). */
  workDir: string;
  shards: number;
  /** Whether the shard has images (a shard whose samples all failed has no files to check). */
  hasImages: (shard: number) => boolean;
  samplesDone: number;
  log: Logger;
}

/** The format's end of the job (src/outputs: finishJob). Returns the shards whose files are missing. */
export async function checkShardFiles(c: ShardFilesCheck): Promise<number[]> {
  const files = await outputFormat(c.format).finishJob(c);
  if (files.indexRows !== undefined && files.indexRows !== c.samplesDone) {
    c.log.warn("metadata rows differ from samples done", { rows: files.indexRows, done: c.samplesDone });
  }
  return files.missing;
}

export interface JobTally {
  /** Why publishing stopped early, if it did. */
  publishError?: string;
  samplesTotal: number;
  samplesFailed: number;
  rowsRejected: number;
  /** Shards whose files are missing (checkShardFiles). */
  missing: number[];
  /** Where errors.jsonl is, for the message. */
  errorsAt: string;
  /** Failed samples plus rejected rows allowed (`--max-failed`; default none). */
  maxFailed?: FailureTolerance;
}

/** The failures that count against the tolerance (failed samples + rejected rows), and how many it allows. */
export function failureBudget(t: JobTally): FailureBudget {
  const tolerance = t.maxFailed ?? NO_FAILURES_ALLOWED;
  return {
    max_failed: formatFailureTolerance(tolerance),
    allowed: allowedFailures(tolerance, t.samplesTotal + t.rowsRejected),
    failures: t.samplesFailed + t.rowsRejected,
  };
}

/**
 * SUCCEEDED when nothing went wrong, or when the only problems are failed samples and rejected rows within
 * the tolerance; otherwise FAILED with everything that did, in one message. A publishing error or missing
 * shard files fail the job whatever the tolerance: the output cannot be trusted then.
 */
export function jobVerdict(t: JobTally): { state: JobStateName; error?: string } {
  const budget = failureBudget(t);
  const tolerated = budget.failures <= budget.allowed;
  const problems: string[] = [];
  if (t.publishError) problems.push(t.publishError);
  if (!tolerated) {
    if (t.samplesFailed > 0) problems.push(`${t.samplesFailed} of ${t.samplesTotal} samples failed`);
    if (t.rowsRejected > 0) {
      problems.push(`${t.rowsRejected} manifest row${t.rowsRejected === 1 ? " was" : "s were"} rejected`);
    }
    if (budget.allowed > 0) {
      problems.push(
        `${budget.failures} failures are over --max-failed ${budget.max_failed} (${budget.allowed} allowed)`,
      );
    }
  }
  if (t.missing.length > 0) {
    problems.push(`the shard metadata of shard(s) ${t.missing.slice(0, 10).join(", ")} is missing`);
  }
  if (problems.length === 0) return { state: "SUCCEEDED" };
  const seeErrors = budget.failures > 0 ? `; see ${t.errorsAt}` : "";
  return { state: "FAILED", error: `${problems.join("; ")}${seeErrors}` };
}
