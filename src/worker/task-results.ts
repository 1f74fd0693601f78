/**
 * What a worker reports for a task: its samples resolved to engine requests, the shard's metadata rows,
 * the per-sample results. Pure shaping.
 */
import { float32ToDecimal } from "../common/contract/floats.js";
import type { MetadataRow } from "../common/contract/job.js";
import type { SampleRequest } from "../common/contract/sample.js";
import type { SampleResult, Task } from "../common/contract/task.js";
import { isLatentFleetError, LatentFleetError } from "../common/errors.js";
import { errorMessage } from "../common/log.js";
import { type ShardSampleRecord, sampleKey } from "../common/webdataset.js";
import type { ModelDescription } from "../engine/pipeline.js";
import { tryResolveSample } from "./resolve.js";
import { checkSampleId } from "./sink.js";
import type { SampleEntry, SampleOutcome } from "./submission.js";

/** The samples of a task skipped or given up, all failed with one reason. */
export function failedSamples(task: Task, code: string, message: string): SampleResult[] {
  return task.samples.map((s) => ({
    sample_id: s.sample_id,
    index: s.index,
    ok: false,
    file_name: "",
    error: message,
    error_code: code,
  }));
}

/**
 * Each sample as the batcher takes it: a request, or the error that keeps it from running (a bad id or
 * setting fails that sample alone). `requests[i]` is the request, undefined for those that failed here.
 */
export function resolveTaskSamples(
  task: Task,
  model: Pick<ModelDescription, "name" | "vaeScale" | "nativeSize" | "defaultScheduler">,
): { entries: SampleEntry[]; requests: (SampleRequest | undefined)[] } {
  const requests: (SampleRequest | undefined)[] = [];
  const entries: SampleEntry[] = task.samples.map((spec) => {
    let resolved: SampleEntry;
    try {
      checkSampleId(spec.sample_id);
      resolved = tryResolveSample(spec, model);
    } catch (err) {
      resolved = isLatentFleetError(err) ? err : new LatentFleetError("INVALID_ARGUMENT", errorMessage(err));
    }
    requests.push(resolved instanceof LatentFleetError ? undefined : resolved);
    return resolved;
  });
  return { entries, requests };
}

/** The shard's metadata rows: one per successful sample, in sample order, with the settings it ran with. */
export function shardMetadataRows(
  task: Task,
  requests: (SampleRequest | undefined)[],
  outcomes: SampleOutcome[],
  fileNames: string[],
  modelName: string,
): MetadataRow[] {
  const rows: MetadataRow[] = [];
  outcomes.forEach((outcome, i) => {
    const req = requests[i];
    if (!outcome.ok || req === undefined) return;
    rows.push({
      file_name: fileNames[i],
      id: task.samples[i].sample_id,
      prompt: req.prompt,
      negative_prompt: req.negativePrompt,
      seed: req.seed,
      steps: req.steps,
      guidance_scale: req.guidanceScale,
      scheduler: req.scheduler,
      width: req.width,
      height: req.height,
      model: modelName,
    });
  });
  return rows;
}

/**
 * A webdataset shard's records: every sample in task order, failed ones included, with the settings it ran
 * with (or, for a sample that could not be resolved, the ones it was given).
 */
export function shardSampleRecords(
  task: Task,
  requests: (SampleRequest | undefined)[],
  outcomes: SampleOutcome[],
  modelName: string,
): ShardSampleRecord[] {
  const { shard } = task;
  return task.samples.map((spec, i): ShardSampleRecord => {
    const req = requests[i];
    const outcome = outcomes[i];
    const ok = outcome.ok && req !== undefined;
    return {
      key: sampleKey(shard, i),
      shard,
      index: spec.index,
      id: spec.sample_id,
      prompt: req?.prompt ?? spec.prompt,
      negative_prompt: req?.negativePrompt ?? spec.negative_prompt,
      seed: req?.seed ?? (Number.isSafeInteger(spec.seed) ? spec.seed : 0),
      steps: req?.steps ?? spec.steps,
      guidance_scale: req?.guidanceScale ?? float32ToDecimal(spec.guidance_scale),
      scheduler: req?.scheduler ?? spec.scheduler,
      width: req?.width ?? spec.width,
      height: req?.height ?? spec.height,
      model: modelName,
      status: ok ? "success" : "failed",
      error_message: outcome.ok ? "" : outcome.message,
      error_code: outcome.ok ? "" : outcome.code,
    };
  });
}

export function sampleResults(task: Task, outcomes: SampleOutcome[], fileNames: string[]): SampleResult[] {
  return outcomes.map((outcome, i) => ({
    sample_id: task.samples[i].sample_id,
    index: task.samples[i].index,
    ok: outcome.ok,
    file_name: fileNames[i],
    error: outcome.ok ? "" : outcome.message,
    error_code: outcome.ok ? "" : outcome.code,
  }));
}
