/**
 * What a worker reports for a task: its samples resolved to engine requests and the per-sample results.
 * Pure shaping.
 */
import type { SampleRequest } from "../common/contract/sample.js";
import type { SampleResult, Task } from "../common/contract/task.js";
import { isLatentFleetError, LatentFleetError } from "../common/errors.js";
import { errorMessage } from "../common/log.js";
import type { ModelDescription } from "../engine/pipeline.js";
import { checkSampleId } from "../outputs/index.js";
import { tryResolveSample } from "./resolve.js";
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
