import { LatentFleetError } from "../../common/errors.js";
import type { SchedulerConfig } from "./config.js";
import { alphasCumprod, linspace } from "./noise-schedule.js";
import { checkLengths, checkStepIndex, requireNoise, vpCoefficients } from "./predict.js";
import type { Scheduler } from "./types.js";

const SIGMA_DATA = 0.5;

/**
 * Latent Consistency Model sampling (Luo et al. 2023), as diffusers' LCMScheduler: each step predicts the clean
 * sample through the consistency boundary condition, then re-noises it to the next timestep with fresh noise.
 * The guidance embedding (`timestep_cond`) is the pipeline's business, not the scheduler's.
 */
export class LcmScheduler implements Scheduler {
  readonly name = "lcm" as const;
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  private readonly alphas: Float64Array;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
  ) {
    const T = config.num_train_timesteps;
    const original = config.original_inference_steps;
    if (original > T) {
      throw new LatentFleetError(
        "SCHEDULER_CONFIG_INVALID",
        `scheduler config field "original_inference_steps" (${original}) must not exceed num_train_timesteps (${T})`,
      );
    }
    if (steps > original) {
      throw new LatentFleetError(
        "INVALID_ARGUMENT",
        `LCM steps (${steps}) must not exceed the config's original_inference_steps (${original})`,
      );
    }
    this.alphas = alphasCumprod(config);
    // The distillation schedule k−1, 2k−1, …, original·k−1 (descending), then `steps` of them picked evenly.
    const k = Math.floor(T / original);
    const picks = linspace(0, original, steps, false);
    this.timesteps = picks.map((p) => (original - Math.floor(p)) * k - 1);
  }

  needsNoise(stepIndex: number): boolean {
    checkStepIndex(stepIndex, this.timesteps.length);
    return stepIndex < this.timesteps.length - 1;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    noise?: Float32Array,
  ): Float32Array<ArrayBuffer> {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkLengths(sample, modelOutput);
    const last = stepIndex === this.timesteps.length - 1;
    const fresh = last ? undefined : requireNoise(noise, sample, stepIndex);
    const t = this.timesteps[stepIndex];
    const a = this.alphas[t];
    const { x0 } = vpCoefficients(this.config.prediction_type, Math.sqrt(a), Math.sqrt(1 - a));
    const scaled = t * this.config.timestep_scaling;
    const cSkip = SIGMA_DATA ** 2 / (scaled * scaled + SIGMA_DATA ** 2);
    const cOut = scaled / Math.sqrt(scaled * scaled + SIGMA_DATA ** 2);
    const clip = this.config.clip_sample ? this.config.clip_sample_range : Number.POSITIVE_INFINITY;
    // Timesteps here are all >= k−1 >= 0, so diffusers' final_alpha_cumprod fallback never applies.
    const aPrev = this.alphas[last ? t : this.timesteps[stepIndex + 1]];
    const keep = Math.sqrt(aPrev);
    const spread = Math.sqrt(1 - aPrev);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i];
      const pred = Math.min(Math.max(x0.x * x + x0.m * modelOutput[i], -clip), clip);
      const denoised = cOut * pred + cSkip * x;
      out[i] = fresh ? keep * denoised + spread * fresh[i] : denoised;
    }
    return out;
  }
}
