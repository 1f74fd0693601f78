/**
 * `latent-fleet validate SPEC`: every check `run` makes before it starts anything (the whole spec and the
 * prompt files it names, the model folder and the device, the output), then what the job would be: rows,
 * samples, shards, the model, the output and the first samples. Starts nothing (no NATS, no process, no
 * folder). Exit 0, or 2 with the first problem (file:line: field ...).
 */
import type { Command } from "commander";
import { parseFailureTolerance } from "../../common/contract/failure-tolerance.js";
import type { OptionValues } from "../../common/options/index.js";
import { checkJob } from "../job-checks.js";
import { formatJobSummary, summarizeJob } from "../job-summary.js";
import { addDefinedOptions, commandOptions } from "../options.js";
import { RUN_OPTIONS } from "../run-options.js";
import { addS3Options, applyS3Options, S3_OPTIONS } from "../storage-options.js";

/** The options of `run` that change what the job would be; the same definitions, so the same defaults. */
export const VALIDATE_OPTIONS = {
  out: RUN_OPTIONS.out,
  device: RUN_OPTIONS.device,
  shardSize: RUN_OPTIONS.shardSize,
  maxFailed: RUN_OPTIONS.maxFailed,
} as const;

/** Checks the job and prints what it would be (shared with `run --dry-run`). */
export async function validateJob(spec: string, opts: OptionValues<typeof VALIDATE_OPTIONS>): Promise<void> {
  const flag = opts.maxFailed === undefined ? undefined : parseFailureTolerance(opts.maxFailed);
  const job = await checkJob(spec, opts);
  const summary = await summarizeJob(job.spec, opts.shardSize);
  process.stdout.write(formatJobSummary(job, summary, opts.shardSize, flag));
}

export function registerValidate(program: Command): void {
  const cmd = program
    .command("validate")
    .description(
      "check a job spec, its model and its output without starting anything; print what it would run",
    )
    .argument("<spec>", "job spec (YAML/JSON) or a prompts file (.jsonl, .csv, .parquet, .txt)")
    .action(async (spec: string, _: unknown, cmd: Command) => {
      const opts = commandOptions(cmd, { ...VALIDATE_OPTIONS, ...S3_OPTIONS });
      applyS3Options(opts);
      await validateJob(spec, opts);
    });
  addDefinedOptions(cmd, VALIDATE_OPTIONS);
  addS3Options(cmd);
}
