/**
 * A checked job as `validate` and `run --dry-run` print it: rows, samples and shards counted by expanding
 * the manifest once (as the coordinator will), the model, the output and the first samples. A row the job
 * would reject is the first problem, reported at its file:line like a bad spec.
 */
import { type FailureTolerance, formatFailureTolerance } from "../common/contract/failure-tolerance.js";
import { LatentFleetError } from "../common/errors.js";
import { Sharder } from "../coordinator/index.js";
import { expandSpecBatches, type JobSpec, type ManifestSample } from "../manifest/index.js";
import type { CheckedJob } from "./job-checks.js";

/** Expanded samples shown. */
export const SHOWN_SAMPLES = 5;

export interface JobSummary {
  rows: number;
  samples: number;
  shards: number;
  first: ManifestSample[];
}

export async function summarizeJob(spec: JobSpec, shardSize: number): Promise<JobSummary> {
  const sharder = new Sharder(shardSize);
  const summary: JobSummary = { rows: 0, samples: 0, shards: 0, first: [] };
  for await (const batch of expandSpecBatches(spec)) {
    for (const ev of batch) {
      if (ev.type === "row_error") {
        throw new LatentFleetError("ROW_INVALID", `${ev.where}: ${ev.message}`);
      }
      if (ev.type !== "sample") continue;
      summary.rows = ev.sample.rowIndex + 1;
      summary.samples++;
      summary.shards += sharder.add(ev.sample).length;
      if (summary.first.length < SHOWN_SAMPLES) summary.first.push(ev.sample);
    }
  }
  if (sharder.flush()) summary.shards++;
  return summary;
}

/** The report's lines; `maxFailedFlag` is `--max-failed` when given (it overrides the spec's). */
export function formatJobSummary(
  job: CheckedJob,
  summary: JobSummary,
  shardSize: number,
  maxFailedFlag?: FailureTolerance,
): string {
  const { spec, model } = job;
  const native = model.nativeSize ? `, native ${model.nativeSize}x${model.nativeSize}` : "";
  const lines = [
    `spec: ${spec.specFile}`,
    `model: ${model.dir} (${model.name}, ${model.family}${native}, default scheduler ${model.defaultScheduler})`,
    `output: ${spec.output.dir} (${spec.output.format}, writable)`,
    `rows: ${summary.rows}`,
    `samples: ${summary.samples}`,
    `shards: ${summary.shards} (shard size ${shardSize})`,
    `max failed: ${formatTolerance(spec, maxFailedFlag)}`,
    `first ${summary.first.length} samples:`,
    ...summary.first.map((s) => `  ${formatSample(s)}`),
  ];
  return `${lines.join("\n")}\n`;
}

/** The tolerance the job would get, and where it comes from. */
function formatTolerance(spec: JobSpec, flag: FailureTolerance | undefined): string {
  if (flag) return `${formatFailureTolerance(flag)} (--max-failed)`;
  if (spec.maxFailed) return `${formatFailureTolerance(spec.maxFailed)} (the spec's max_failed)`;
  return "0 (the default: a single failure fails the job)";
}

function formatSample(s: ManifestSample): string {
  const size = s.width && s.height ? `${s.width}x${s.height}` : "model's size";
  const settings = [
    `seed ${s.seed}`,
    `steps ${s.steps}`,
    `guidance ${s.guidanceScale}`,
    s.scheduler ?? "model's scheduler",
    size,
  ];
  const negative = s.negativePrompt ? `, negative ${JSON.stringify(s.negativePrompt)}` : "";
  return `${s.sampleId}: ${JSON.stringify(s.prompt)}${negative} (${settings.join(", ")}) [${s.source}]`;
}
