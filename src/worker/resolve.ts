/**
 * From a task's sample ("" and 0 meaning "the model's default") to the engine's SampleRequest, checked
 * against the engine's limits. A sample that cannot be run gives a LatentFleetError for that sample alone.
 */

import { type SampleRequest, validateSampleRequest } from "../common/contract/sample.js";
import { parseSchedulerName } from "../common/contract/schedulers.js";
import { validateSeed } from "../common/contract/seed.js";
import type { TaskSample } from "../common/contract/task.js";
import { LatentFleetError } from "../common/errors.js";
import type { ModelDescription } from "../engine/pipeline.js";

/** Size used when neither the sample nor the model gives one. */
export const FALLBACK_SIZE = 512;

/** The request the engine runs for a spec: defaults of the model filled in, then validated. */
export function resolveSample(
  spec: Pick<
    TaskSample,
    "prompt" | "negative_prompt" | "seed" | "steps" | "guidance_scale" | "scheduler" | "width" | "height"
  >,
  model: Pick<ModelDescription, "defaultScheduler" | "nativeSize" | "vaeScale">,
): SampleRequest {
  const size = model.nativeSize ?? FALLBACK_SIZE;
  const request: SampleRequest = {
    prompt: spec.prompt,
    negativePrompt: spec.negative_prompt,
    seed: validateSeed(spec.seed),
    steps: spec.steps,
    guidanceScale: spec.guidance_scale,
    scheduler: spec.scheduler === "" ? model.defaultScheduler : parseSchedulerName(spec.scheduler),
    width: spec.width === 0 ? size : spec.width,
    height: spec.height === 0 ? size : spec.height,
  };
  validateSampleRequest(request, model.vaeScale);
  return request;
}

/** resolveSample, with the error as a value (the batcher fails such a sample without engine work). */
export function tryResolveSample(
  spec: Parameters<typeof resolveSample>[0],
  model: Parameters<typeof resolveSample>[1],
): SampleRequest | LatentFleetError {
  try {
    return resolveSample(spec, model);
  } catch (err) {
    if (err instanceof LatentFleetError) return err;
    return new LatentFleetError("INVALID_ARGUMENT", err instanceof Error ? err.message : String(err));
  }
}
