/**
 * diffusers' FlowMatchEulerDiscreteScheduler (huggingface/diffusers 58eb52c0803ea9af3abec60841c2a093bdf1f951,
 * src/diffusers/schedulers/scheduling_flow_match_euler_discrete.py), for rectified-flow models (SD3, FLUX):
 * the sample is x_σ = (1 − σ)·x0 + σ·ε, the model predicts the velocity v = ε − x0, and a step moves along it.
 */
import { LatentFleetError } from "../../common/errors.js";
import type { FlowMatchConfig } from "./config.js";
import { checkLengths, checkStepIndex } from "./predict.js";
import type { Scheduler } from "./types.js";

/** What the pipeline tells the scheduler about one run; diffusers passes these to set_timesteps. */
export interface FlowScheduleOptions {
  /**
   * Image tokens the transformer sees ((h/16)·(w/16) for SD3 and FLUX, see flowImageSeqLen); dynamic shifting
   * derives mu from it as diffusers' calculate_shift does.
   */
  imageSeqLen?: number;
  /** mu itself, when the caller has its own (wins over imageSeqLen). */
  mu?: number;
  /**
   * "flux_pipeline": FluxPipeline's grid linspace(1, 1/steps, steps), which it passes as `sigmas`;
   * "scheduler" (default, as StableDiffusion3Pipeline): the scheduler's own linspace from σ_max to σ_min.
   */
  sigmaGrid?: "scheduler" | "flux_pipeline";
}

/** Image tokens of a latent transformer: latents are (h/vae)·(w/vae), cut into patch×patch tokens. */
export function flowImageSeqLen(width: number, height: number, vaeScaleFactor = 8, patchSize = 2): number {
  const side = vaeScaleFactor * patchSize;
  return Math.floor(height / side) * Math.floor(width / side);
}

/** diffusers' calculate_shift (pipeline_flux.py): mu linear in the sequence length through the two anchors. */
export function calculateShift(imageSeqLen: number, config: FlowMatchConfig): number {
  const m = (config.max_shift - config.base_shift) / (config.max_image_seq_len - config.base_image_seq_len);
  const b = config.base_shift - m * config.base_image_seq_len;
  return imageSeqLen * m + b;
}

const f32 = Math.fround;

/** numpy.linspace(start, stop, n): start + i·step, with the last value exactly `stop`. */
function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const step = n > 1 ? (stop - start) / (n - 1) : 0;
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  if (n > 1) out[n - 1] = stop;
  return out;
}

/** The static shift σ' = s·σ / (1 + (s − 1)·σ); float32 steps when `single`, as torch computes the train table. */
function staticShift(shift: number, sigma: number, single = false): number {
  if (!single) return (shift * sigma) / (1 + (shift - 1) * sigma);
  return f32(f32(shift * sigma) / f32(1 + f32((shift - 1) * sigma)));
}

function mismatch(message: string): LatentFleetError {
  return new LatentFleetError("INVALID_ARGUMENT", message);
}

/** σ per step plus the final 0, as float32 values; timesteps σ·T in float32. */
export function flowMatchSigmas(
  config: FlowMatchConfig,
  steps: number,
  options: FlowScheduleOptions = {},
): { sigmas: Float64Array; timesteps: Float64Array } {
  const T = config.num_train_timesteps;
  let base: Float64Array;
  if (options.sigmaGrid === "flux_pipeline") {
    base = linspace(1, 1 / steps, steps).map(f32);
  } else {
    // __init__'s table runs from t = T down to 1 (σ = t/T, shifted unless dynamic); set_timesteps spaces
    // its ends and shifts again, so a static shift applies twice to σ_min, as in diffusers.
    const lowest = f32(1 / T);
    const sigmaMax = config.use_dynamic_shifting ? 1 : staticShift(config.shift, 1, true);
    const sigmaMin = config.use_dynamic_shifting ? lowest : staticShift(config.shift, lowest, true);
    base = linspace(sigmaMax * T, sigmaMin * T, steps).map((t) => t / T);
  }
  let shifted: Float64Array;
  if (config.use_dynamic_shifting) {
    const mu =
      options.mu ??
      (options.imageSeqLen === undefined ? undefined : calculateShift(options.imageSeqLen, config));
    if (mu === undefined || !Number.isFinite(mu)) {
      throw mismatch("this flow scheduler shifts by resolution: it needs the image sequence length (or mu)");
    }
    const e = config.time_shift_type === "exponential" ? Math.exp(mu) : mu;
    shifted = base.map((s) => e / (e + (1 / s - 1)));
  } else {
    shifted = base.map((s) => staticShift(config.shift, s));
  }
  if (config.shift_terminal !== null) {
    const scale = (1 - shifted[steps - 1]) / (1 - config.shift_terminal);
    shifted = shifted.map((s) => 1 - (1 - s) / scale);
  }
  const sigmas = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) sigmas[i] = f32(shifted[i]);
  return { sigmas, timesteps: sigmas.subarray(0, steps).map((s) => f32(s * T)) };
}

/** Flow-matching Euler: x ← x + (σ_next − σ)·v, ending at σ = 0 on the clean sample. */
export class FlowMatchEulerScheduler implements Scheduler {
  readonly name = "flow_euler" as const;
  readonly timesteps: Float64Array;
  /** Flow models start from plain unit noise (σ_max = 1 is the pure-noise end). */
  readonly initNoiseSigma = 1;
  /** σ per step plus the final 0. */
  readonly sigmas: Float64Array;

  constructor(config: FlowMatchConfig, steps: number, options: FlowScheduleOptions = {}) {
    const schedule = flowMatchSigmas(config, steps, options);
    this.sigmas = schedule.sigmas;
    this.timesteps = schedule.timesteps;
  }

  needsNoise(): boolean {
    return false;
  }

  /** The transformer takes the sample as it is. */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.timesteps.length);
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
    // diffusers takes dt in float32 (sigmas are a float32 tensor).
    const dt = f32(this.sigmas[stepIndex + 1] - this.sigmas[stepIndex]);
    // Elementwise, so `into` may be the sample itself.
    const out = into ?? new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = sample[i] + dt * modelOutput[i];
    return out;
  }
}
