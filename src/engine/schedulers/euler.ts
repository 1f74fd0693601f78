import type { SchedulerConfig } from "./config.js";
import {
  alphasCumprod,
  interpTable,
  karrasSigmas,
  sigmaTable,
  sigmaToT,
  spacedTimesteps,
} from "./noise-schedule.js";
import { checkLengths, checkStepIndex, veX0 } from "./predict.js";
import type { Scheduler } from "./types.js";

/** Timesteps and σ values (one more σ than timesteps: the level reached after the last step). */
export interface SigmaSchedule {
  readonly timesteps: Float64Array;
  readonly sigmas: Float64Array;
  readonly initNoiseSigma: number;
}

/**
 * The σ schedule of diffusers' Euler schedulers: σ interpolated linearly in t from the training table, or the
 * Karras ramp between its ends, then a final σ (0, or the table's smallest with `final_sigmas_type="sigma_min"`).
 * Timesteps are float32 like diffusers', since the UNet receives them as such (e.g. 946.4211).
 */
export function eulerSigmaSchedule(
  config: SchedulerConfig,
  steps: number,
  /** EulerDiscrete honours use_karras_sigmas and final_sigmas_type; EulerAncestral has neither. */
  withOptions: boolean,
): SigmaSchedule {
  const table = sigmaTable(alphasCumprod(config, true));
  let timesteps: Float64Array = spacedTimesteps(
    config.timestep_spacing,
    config.num_train_timesteps,
    steps,
    config.steps_offset,
  ).map(Math.fround);
  let sigmas: Float64Array = timesteps.map((t) => interpTable(table, t));
  if (withOptions && config.use_karras_sigmas) {
    sigmas = karrasSigmas(config.sigma_min ?? sigmas[steps - 1], config.sigma_max ?? sigmas[0], steps);
    const logTable = table.map(Math.log);
    timesteps = sigmas.map((s) => Math.fround(sigmaToT(s, logTable)));
  }
  const last = withOptions && config.final_sigmas_type === "sigma_min" ? table[0] : 0;
  const all = new Float64Array(steps + 1);
  all.set(sigmas);
  all[steps] = last;
  const max = all.reduce((a, b) => Math.max(a, b), 0);
  // diffusers' init_noise_sigma rule: σ_max for linspace/trailing spacing, √(σ_max²+1) for leading.
  const spacingStartsAtTop = config.timestep_spacing === "linspace" || config.timestep_spacing === "trailing";
  return { timesteps, sigmas: all, initNoiseSigma: spacingStartsAtTop ? max : Math.sqrt(max * max + 1) };
}

/** Euler (Karras et al. 2022, Algorithm 2 without churn), as diffusers' EulerDiscreteScheduler. */
export class EulerScheduler implements Scheduler {
  readonly name = "euler" as const;
  readonly timesteps: Float64Array;
  readonly initNoiseSigma: number;
  /** σ per step plus the final σ. */
  readonly sigmas: Float64Array;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
  ) {
    const schedule = eulerSigmaSchedule(config, steps, true);
    this.timesteps = schedule.timesteps;
    this.sigmas = schedule.sigmas;
    this.initNoiseSigma = schedule.initNoiseSigma;
  }

  needsNoise(): boolean {
    return false;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number, out?: Float32Array): Float32Array {
    return scaleBySigma(sample, this.sigmas, stepIndex, this.timesteps.length, out);
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
    const s = this.sigmas[stepIndex];
    const x0 = veX0(this.config.prediction_type, s);
    // x' = x + d·(σ_next − σ) with d = (x − x0)/σ, folded into one coefficient pair.
    const k = (this.sigmas[stepIndex + 1] - s) / s;
    const cx = 1 + k * (1 - x0.x);
    const cm = -k * x0.m;
    // Elementwise (each element reads only its own input), so `into` may be the sample itself.
    const out = into ?? new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = cx * sample[i] + cm * modelOutput[i];
    return out;
  }
}

/** The UNet input of the σ-parameterised schedulers: x/√(σ²+1), the variance-preserving sample. */
export function scaleBySigma(
  sample: Float32Array,
  sigmas: Float64Array,
  stepIndex: number,
  steps: number,
  into?: Float32Array,
): Float32Array {
  checkStepIndex(stepIndex, steps);
  const s = sigmas[stepIndex];
  const scale = 1 / Math.sqrt(s * s + 1);
  if (into) checkLengths(sample, into);
  const out = into ?? new Float32Array(sample.length);
  for (let i = 0; i < sample.length; i++) out[i] = sample[i] * scale;
  return out;
}
