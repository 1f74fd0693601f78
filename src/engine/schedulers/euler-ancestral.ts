import type { SchedulerConfig } from "./config.js";
import { eulerSigmaSchedule, scaleBySigma } from "./euler.js";
import { checkLengths, checkStepIndex, requireNoise, veX0 } from "./predict.js";
import type { Scheduler } from "./types.js";

/**
 * Euler Ancestral (k-diffusion `sample_euler_ancestral`, η = 1), as diffusers' EulerAncestralDiscreteScheduler:
 * an Euler step down to σ_down, then fresh noise of size σ_up so the marginal noise level lands on σ_next.
 */
export class EulerAncestralScheduler implements Scheduler {
  readonly name = "euler_ancestral" as const;
  readonly timesteps: Float64Array;
  readonly initNoiseSigma: number;
  /** σ per step plus the final 0. */
  readonly sigmas: Float64Array;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
  ) {
    const schedule = eulerSigmaSchedule(config, steps, false);
    this.timesteps = schedule.timesteps;
    this.sigmas = schedule.sigmas;
    this.initNoiseSigma = schedule.initNoiseSigma;
  }

  needsNoise(stepIndex: number): boolean {
    checkStepIndex(stepIndex, this.timesteps.length);
    return this.sigmas[stepIndex + 1] > 0;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number, out?: Float32Array): Float32Array {
    return scaleBySigma(sample, this.sigmas, stepIndex, this.timesteps.length, out);
  }

  step(
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    noise?: Float32Array,
    into?: Float32Array,
  ): Float32Array {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkLengths(sample, modelOutput, into);
    const from = this.sigmas[stepIndex];
    const to = this.sigmas[stepIndex + 1];
    // Clamped at 0: rounding must not turn a zero variance into NaN.
    const up = Math.sqrt(Math.max(0, (to * to * (from * from - to * to)) / (from * from)));
    const down = Math.sqrt(Math.max(0, to * to - up * up));
    const fresh = up > 0 ? requireNoise(noise, sample, stepIndex) : undefined;
    const x0 = veX0(this.config.prediction_type, from);
    const k = (down - from) / from;
    const cx = 1 + k * (1 - x0.x);
    const cm = -k * x0.m;
    // Elementwise, so `into` may be the sample itself.
    const out = into ?? new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      out[i] = cx * sample[i] + cm * modelOutput[i] + (fresh ? up * fresh[i] : 0);
    }
    return out;
  }
}
