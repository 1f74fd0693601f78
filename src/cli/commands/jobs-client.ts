/**
 * The commands that talk to a running coordinator: `submit`, `status`, `watch`, `cancel`, `jobs`.
 * Results go to stdout as plain lines (one per update for `watch`); `--json` gives JSON instead.
 * `watch` (and `submit --watch`) exit 0 only when the job SUCCEEDED.
 */
import type { Command } from "commander";
import { parseFailureTolerance } from "../../common/contract/failure-tolerance.js";
import { LatentFleetError } from "../../common/errors.js";
import { MAX_FAILED_OPTION } from "../../common/options/index.js";
import type { Job } from "../../common/proto/generated/latentfleet/v1/Job.js";
import { CoordinatorClient, DEFAULT_COORDINATOR_ADDRESS, isFinalJobState } from "../coordinator-client.js";
import { checkJob } from "../job-checks.js";
import { addDefinedOptions, commandOptions } from "../options.js";
import {
  addGrpcClientTlsOptions,
  type GrpcClientTlsCliOptions,
  grpcClientTlsFromCli,
} from "../tls-options.js";

interface ClientOptions extends GrpcClientTlsCliOptions {
  coordinator: string;
  json?: boolean;
}

/** `submit`'s options that have a definition (src/common/options). */
const SUBMIT_DEFINED_OPTIONS = { maxFailed: MAX_FAILED_OPTION } as const;

interface SubmitCliOptions extends ClientOptions {
  out?: string;
  overwrite?: boolean;
  watch?: boolean;
  /** `--no-local-checks` sets it false. */
  localChecks: boolean;
}

const COORDINATOR_HELP = "coordinator gRPC address";

function stateName(job: Job): string {
  return job.state.replace(/^JOB_STATE_/, "");
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Where a job's failure tolerance came from: the command's flag, or the spec's key (the flag overrides it). */
export type ToleranceSource = "--max-failed" | "the spec's max_failed";

/** The source of the tolerance of a job submitted with this --max-failed (undefined: not given). */
export function toleranceSource(maxFailedFlag: string | undefined): ToleranceSource {
  return maxFailedFlag === undefined ? "the spec's max_failed" : "--max-failed";
}

/**
 * One line: id, state, counts, rate, ETA (or the error). `toleranceFrom`: where the job's failure tolerance
 * came from, when the caller submitted it (a job watched by id may have either).
 */
export function formatJobLine(job: Job, toleranceFrom?: ToleranceSource): string {
  const state = stateName(job);
  const total = Number(job.samples_total);
  const final = isFinalJobState(job.state);
  const known = total > 0 || final || state === "RUNNING";
  const parts = [
    `${job.job_id} ${state}`,
    `${job.samples_done}/${known ? total : "?"} done`,
    `${job.samples_failed} failed`,
  ];
  if (Number(job.rows_rejected) > 0) parts.push(`${job.rows_rejected} rows rejected`);
  if (!final) {
    parts.push(`${job.images_per_second.toFixed(1)} images/s`);
    parts.push(`ETA ${job.eta_seconds >= 0 ? formatDuration(job.eta_seconds) : "?"}`);
  }
  const failures = Number(job.samples_failed) + Number(job.rows_rejected);
  if (state === "SUCCEEDED" && failures > 0) {
    const tolerance = `${toleranceFrom ?? "max_failed"} ${job.max_failed}`;
    parts.push(`${failures} failure${failures === 1 ? "" : "s"} within ${tolerance}`);
  }
  if (job.error && state !== "SUCCEEDED") parts.push(job.error);
  return parts.join(", ");
}

/**
 * What a re-run kept and redid: "N shards complete, skipped (S samples); M regenerated", with a newline;
 * "" when nothing was kept from an earlier run.
 */
export function reuseLine(job: Job): string {
  const reused = Number(job.shards_reused);
  if (!(reused > 0)) return "";
  const regenerated = Math.max(0, Number(job.shards_total) - reused);
  return `${reused} shards complete, skipped (${job.samples_reused} samples); ${regenerated} regenerated\n`;
}

function formatJobDetails(job: Job): string {
  const lines = [
    formatJobLine(job),
    `  model ${job.model}, output ${job.output}`,
    `  shards ${job.shards_done} done of ${job.shards_published} published${Number(job.shards_total) > 0 ? ` (${job.shards_total} in all)` : ""}`,
    ...(Number(job.shards_reused) > 0 ? [`  ${reuseLine(job).trim()}`] : []),
    `  created ${new Date(Number(job.created_at_ms)).toISOString()}${Number(job.finished_at_ms) > 0 ? `, finished ${new Date(Number(job.finished_at_ms)).toISOString()}` : ""}`,
  ];
  return lines.join("\n");
}

async function withClient<T>(opts: ClientOptions, work: (c: CoordinatorClient) => Promise<T>): Promise<T> {
  const client = await CoordinatorClient.connect(opts.coordinator, { tls: grpcClientTlsFromCli(opts) });
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * Prints each update until the job ends; throws JOB_FAILED unless it SUCCEEDED. `toleranceFrom`: known for
 * a job this command submitted.
 */
async function watch(
  client: CoordinatorClient,
  jobId: string,
  json: boolean,
  toleranceFrom?: ToleranceSource,
): Promise<void> {
  let last: Job | null = null;
  for await (const job of client.watchJob(jobId)) {
    print(json ? JSON.stringify(job) : formatJobLine(job, toleranceFrom));
    last = job;
  }
  if (!last || !isFinalJobState(last.state)) {
    throw new LatentFleetError(
      "COORDINATOR_UNAVAILABLE",
      `the coordinator at ${client.address} stopped reporting job ${jobId} before it ended`,
    );
  }
  if (last.state !== "JOB_STATE_SUCCEEDED") {
    throw new LatentFleetError(
      "JOB_FAILED",
      `job ${jobId} ended ${stateName(last)}${last.error ? `: ${last.error}` : ""}`,
    );
  }
}

function coordinatorOption(cmd: Command): Command {
  return addGrpcClientTlsOptions(
    cmd.option("--coordinator <host:port>", COORDINATOR_HELP, DEFAULT_COORDINATOR_ADDRESS),
  );
}

export function registerJobClientCommands(program: Command): void {
  const submit = coordinatorOption(
    program
      .command("submit")
      .description("submit a job spec to a coordinator (prints the job id)")
      .argument(
        "<spec>",
        "job spec (YAML or JSON) or a prompts file; the prompt files it names are sent with it",
      )
      .option("--out <dir>", "output folder (replaces the spec's `output`)")
      .option("--overwrite", "remove an earlier run's outputs first (default: keep its complete shards)")
      .option("--watch", "then follow the job until it ends (exit 0 only when it succeeds)")
      .option("--json", "print JSON")
      .option(
        "--no-local-checks",
        "do not check the spec, model and output on this machine first (they are only on the coordinator's and workers')",
      ),
  );
  addDefinedOptions(submit, SUBMIT_DEFINED_OPTIONS);
  submit.action(async (spec: string, opts: SubmitCliOptions) => {
    // Left out, the spec's max_failed applies (on the coordinator); a bad tolerance is a usage error found
    // before anything is sent.
    const { maxFailed } = commandOptions(submit, SUBMIT_DEFINED_OPTIONS);
    if (maxFailed !== undefined) parseFailureTolerance(maxFailed);
    // Found here, a problem costs no round trip and names what this machine sees; the coordinator checks again.
    if (opts.localChecks) await checkJob(spec, { out: opts.out });
    await withClient(opts, async (client) => {
      const jobId = await client.submit(spec, { out: opts.out, overwrite: opts.overwrite, maxFailed });
      print(opts.json ? JSON.stringify({ job_id: jobId }) : jobId);
      if (opts.watch) await watch(client, jobId, opts.json === true, toleranceSource(maxFailed));
    });
  });

  coordinatorOption(
    program
      .command("status")
      .description("show a job's state and progress")
      .argument("<job-id>")
      .option("--json", "print JSON"),
  ).action(async (jobId: string, opts: ClientOptions) => {
    await withClient(opts, async (client) => {
      const job = await client.getJob(jobId);
      print(opts.json ? JSON.stringify(job) : formatJobDetails(job));
    });
  });

  coordinatorOption(
    program
      .command("watch")
      .description("follow a job, one line per update, until it ends (exit 0 only when it succeeds)")
      .argument("<job-id>")
      .option("--json", "print JSON, one object per line"),
  ).action(async (jobId: string, opts: ClientOptions) => {
    await withClient(opts, (client) => watch(client, jobId, opts.json === true));
  });

  coordinatorOption(
    program
      .command("cancel")
      .description("cancel a job (its queued tasks are skipped; finished images stay)")
      .argument("<job-id>")
      .option("--json", "print JSON"),
  ).action(async (jobId: string, opts: ClientOptions) => {
    await withClient(opts, async (client) => {
      const job = await client.cancelJob(jobId);
      print(opts.json ? JSON.stringify(job) : formatJobLine(job));
    });
  });

  coordinatorOption(
    program.command("jobs").description("list the jobs, newest first").option("--json", "print JSON"),
  ).action(async (opts: ClientOptions) => {
    await withClient(opts, async (client) => {
      const jobs = await client.listJobs();
      if (opts.json) print(JSON.stringify(jobs));
      else if (jobs.length === 0) print("no jobs");
      else for (const job of jobs) print(formatJobLine(job));
    });
  });
}
