import { LatentFleetError } from "../../common/errors.js";
import type { ModelPrediction } from "./config.js";

/** A value that is linear in the sample and the model output: x·sample + m·modelOutput. */
export interface Linear {
  readonly x: number;
  readonly m: number;
}

/**
 * Coefficients giving the clean sample x0 and the noise ε from a UNet output, for a sample of the
 * variance-preserving form x = α·x0 + σ·ε (α = √ᾱ, σ = √(1−ᾱ)). Every parameterisation is linear in
 * (x, output), so one elementwise pass per step suffices.
 */
export function vpCoefficients(
  prediction: ModelPrediction,
  alpha: number,
  sigma: number,
): { x0: Linear; eps: Linear } {
  switch (prediction) {
    case "epsilon":
      return { x0: { x: 1 / alpha, m: -sigma / alpha }, eps: { x: 0, m: 1 } };
    case "v_prediction":
      // v = α·ε − σ·x0, so x0 = α·x − σ·v and ε = σ·x + α·v (using α² + σ² = 1).
      return { x0: { x: alpha, m: -sigma }, eps: { x: sigma, m: alpha } };
    case "sample":
      return { x0: { x: 0, m: 1 }, eps: { x: 1 / sigma, m: -alpha / sigma } };
  }
}

/**
 * The same for a sample of the variance-exploding form x = x0 + s·ε used by Euler (s = σ_t of the table):
 * the UNet saw x/√(s²+1), the variance-preserving sample with α = 1/√(s²+1).
 */
export function veX0(prediction: ModelPrediction, s: number): Linear {
  const alpha = 1 / Math.sqrt(s * s + 1);
  const { x0 } = vpCoefficients(prediction, alpha, s * alpha);
  return { x: x0.x * alpha, m: x0.m };
}

/** Throws unless every array has the sample's length, so a batch mix-up fails loudly instead of reading NaN. */
export function checkLengths(sample: Float32Array, ...others: (Float32Array | undefined)[]): void {
  for (const arr of others) {
    if (arr !== undefined && arr.length !== sample.length) {
      throw new LatentFleetError(
        "INVALID_ARGUMENT",
        `scheduler arrays must have the sample's length ${sample.length} (got ${arr.length})`,
      );
    }
  }
}

/** Throws unless stepIndex names one of the scheduler's steps. */
export function checkStepIndex(stepIndex: number, steps: number): void {
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= steps) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `step index must be an integer in [0, ${steps}) (got ${stepIndex})`,
    );
  }
}

/** Returns the noise array, or throws when a stochastic step was called without one. */
export function requireNoise(
  noise: Float32Array | undefined,
  sample: Float32Array,
  stepIndex: number,
): Float32Array {
  if (noise === undefined) {
    throw new LatentFleetError("INVALID_ARGUMENT", `step ${stepIndex} needs a unit-normal noise array`);
  }
  checkLengths(sample, noise);
  return noise;
}
