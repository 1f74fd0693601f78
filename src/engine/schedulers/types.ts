import type { SchedulerName } from "../../common/contract/schedulers.js";

/** What the UNet predicts, as diffusers' `prediction_type` spells it. */
export type PredictionType = "epsilon" | "v_prediction";

/**
 * One sampling run's scheduler. Instances are made fresh per batch run: some keep state between steps
 * (DPM-Solver keeps the previous model output), so steps must be taken in order 0..timesteps.length-1.
 */
export interface Scheduler {
  readonly name: SchedulerName;
  /** Timesteps to feed the UNet, one per step (float values allowed, e.g. Euler's 946.4211). */
  readonly timesteps: Float64Array;
  /** Standard deviation of the initial noise: multiply unit-normal latents by this. */
  readonly initNoiseSigma: number;
  /** True when step(i) needs a fresh unit-normal noise array (ancestral / LCM multi-step). */
  needsNoise(stepIndex: number): boolean;
  /**
   * Returns the UNet input for step i: `sample` itself when no scaling applies, else the scaled values,
   * written into `out` when given (an array of the sample's length, not the sample) or into a new array.
   */
  scaleModelInput(sample: Float32Array, stepIndex: number, out?: Float32Array): Float32Array;
  /**
   * One denoising step; returns the new sample. With `out` (the sample's length; it may be `sample` itself,
   * which the sampling loop passes to update its latents in place) a scheduler whose step is elementwise
   * writes the result there and returns it; otherwise, or without `out`, the result is a new array.
   * `noise` has the sample's length when needsNoise(i).
   */
  step(
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    noise?: Float32Array,
    out?: Float32Array,
  ): Float32Array;
}
