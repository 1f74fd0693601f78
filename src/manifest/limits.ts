/**
 * Per-job limits on what a manifest may ask for. A spec's `limits:` block may move them, but never past
 * HARD_LIMITS, which are what the workers' engine accepts (so a manifest never admits a sample that every
 * worker would then fail).
 */
import { SAMPLE_LIMITS } from "../common/contract/sample.js";

export interface ManifestLimits {
  /** Longest prompt or negative prompt, in UTF-16 code units (String.length). */
  readonly maxPromptLength: number;
  readonly minSize: number;
  readonly maxSize: number;
  readonly maxSteps: number;
  readonly maxGuidanceScale: number;
  readonly maxImagesPerPrompt: number;
  /** Exceeding it stops the expansion: a runaway template or file is an error, not a week of GPU time. */
  readonly maxSamplesPerJob: number;
}

export const DEFAULT_LIMITS: ManifestLimits = Object.freeze({
  maxPromptLength: 2_000,
  minSize: 8,
  maxSize: 2_048,
  maxSteps: 500,
  maxGuidanceScale: 50,
  maxImagesPerPrompt: 10_000,
  maxSamplesPerJob: 100_000_000,
});

export const HARD_LIMITS: ManifestLimits = Object.freeze({
  maxPromptLength: SAMPLE_LIMITS.maxPromptChars,
  minSize: SAMPLE_LIMITS.minSize,
  maxSize: SAMPLE_LIMITS.maxSize,
  maxSteps: SAMPLE_LIMITS.maxSteps,
  maxGuidanceScale: SAMPLE_LIMITS.maxGuidanceScale,
  maxImagesPerPrompt: 1_000_000,
  maxSamplesPerJob: Number.MAX_SAFE_INTEGER,
});

/** Image sides must be multiples of the VAE's down-sampling factor (8 for every SD-family model). */
export const SIZE_MULTIPLE = 8;
