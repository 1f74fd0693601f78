import type { SchedulerConfig } from "./config.js";
import { alphasCumprod, checkTimestepRange, roundHalfEven, spacedTimesteps } from "./noise-schedule.js";
import { checkLengths, checkStepIndex, vpCoefficients } from "./predict.js";
import type { Scheduler } from "./types.js";

/** DDIM (Song et al. 2020) with η = 0: deterministic, as diffusers' DDIMScheduler. */
export class DdimScheduler implements Scheduler {
  readonly name = "ddim" as const;
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  private readonly alphas: Float64Array;
  private readonly finalAlpha: number;
  private readonly stride: number;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
  ) {
    const T = config.num_train_timesteps;
    this.alphas = alphasCumprod(config);
    this.finalAlpha = config.set_alpha_to_one ? 1 : this.alphas[0];
    // diffusers steps back by T//n whatever the spacing, so non-leading spacings may skip between timesteps.
    this.stride = Math.floor(T / steps);
    const ts = spacedTimesteps(config.timestep_spacing, T, steps, config.steps_offset);
    this.timesteps = ts.map(roundHalfEven);
    checkTimestepRange(this.timesteps, T);
  }

  needsNoise(): boolean {
    return false;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    _noise?: Float32Array,
    into?: Float32Array,
  ): Float32Array {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkLengths(sample, modelOutput, into);
    const t = this.timesteps[stepIndex];
    const prevT = t - this.stride;
    const a = this.alphas[t];
    const aPrev = prevT >= 0 ? this.alphas[prevT] : this.finalAlpha;
    const { x0, eps } = vpCoefficients(this.config.prediction_type, Math.sqrt(a), Math.sqrt(1 - a));
    const clip = this.config.clip_sample ? this.config.clip_sample_range : Number.POSITIVE_INFINITY;
    const keep = Math.sqrt(aPrev);
    const dir = Math.sqrt(1 - aPrev);
    // Elementwise, so `into` may be the sample itself.
    const out = into ?? new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      const pred = Math.min(Math.max(x0.x * x + x0.m * m, -clip), clip);
      out[i] = keep * pred + dir * (eps.x * x + eps.m * m);
    }
    return out;
  }
}
