/** What one image needs: its prompt, seed and settings. Validated before any model work starts. */
import { LatentFleetError } from "../errors.js";
import type { SchedulerName } from "./schedulers.js";
import { validateSeed } from "./seed.js";

export interface SampleRequest {
  prompt: string;
  negativePrompt: string;
  seed: number;
  steps: number;
  guidanceScale: number;
  scheduler: SchedulerName;
  width: number;
  height: number;
}

export const SAMPLE_LIMITS = {
  maxSteps: 1000,
  maxGuidanceScale: 100,
  minSize: 8,
  maxSize: 4096,
  maxPromptChars: 10_000,
} as const;

function invalid(message: string): never {
  throw new LatentFleetError("INVALID_ARGUMENT", message);
}

/** Checks a request against the limits and the model's latent down-sampling (sizes are multiples of it). */
export function validateSampleRequest(req: SampleRequest, vaeScale: number): void {
  if (typeof req.prompt !== "string") invalid("prompt must be a string");
  if (req.prompt.length > SAMPLE_LIMITS.maxPromptChars) {
    invalid(`prompt is ${req.prompt.length} characters long; the limit is ${SAMPLE_LIMITS.maxPromptChars}`);
  }
  if (req.negativePrompt.length > SAMPLE_LIMITS.maxPromptChars) {
    invalid(`negative_prompt is longer than ${SAMPLE_LIMITS.maxPromptChars} characters`);
  }
  validateSeed(req.seed);
  if (!Number.isInteger(req.steps) || req.steps < 1 || req.steps > SAMPLE_LIMITS.maxSteps) {
    invalid(`steps must be an integer in [1, ${SAMPLE_LIMITS.maxSteps}], got ${req.steps}`);
  }
  if (
    !Number.isFinite(req.guidanceScale) ||
    req.guidanceScale < 0 ||
    req.guidanceScale > SAMPLE_LIMITS.maxGuidanceScale
  ) {
    invalid(
      `guidance_scale must be a number in [0, ${SAMPLE_LIMITS.maxGuidanceScale}], got ${req.guidanceScale}`,
    );
  }
  for (const [field, value] of [
    ["width", req.width],
    ["height", req.height],
  ] as const) {
    if (!Number.isInteger(value) || value < SAMPLE_LIMITS.minSize || value > SAMPLE_LIMITS.maxSize) {
      invalid(
        `${field} must be an integer in [${SAMPLE_LIMITS.minSize}, ${SAMPLE_LIMITS.maxSize}], got ${value}`,
      );
    }
    if (value % vaeScale !== 0) invalid(`${field} must be a multiple of ${vaeScale}, got ${value}`);
  }
}
