import { LatentFleetError } from "../../common/errors.js";
import type { SchedulerConfig } from "./config.js";
import {
  alphasCumprod,
  checkTimestepRange,
  dpmTimesteps,
  karrasSigmas,
  roundHalfEven,
  sigmaTable,
  sigmaToT,
} from "./noise-schedule.js";
import { checkLengths, checkStepIndex, vpCoefficients } from "./predict.js";
import type { Scheduler } from "./types.js";

/** α_t, σ_t and λ_t = ln(α_t/σ_t) of the variance-preserving process at table noise level s. */
function vp(s: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = 1 / Math.sqrt(s * s + 1);
  const sigma = s * alpha;
  // At s = 0 λ is +∞ and e^(−h) is 0, which makes the first-order update return x0 exactly.
  return { alpha, sigma, lambda: Math.log(alpha) - Math.log(sigma) };
}

/**
 * DPM-Solver++ 2M (Lu et al. 2022, multistep, data prediction), as diffusers' DPMSolverMultistepScheduler with
 * `algorithm_type="dpmsolver++"`, `solver_order=2`. Keeps the previous step's x0 prediction, so steps must run
 * in order. `karras` picks the Karras σ ramp (`use_karras_sigmas`).
 */
export class DpmSolverMultistepScheduler implements Scheduler {
  readonly name: "dpmpp_2m" | "dpmpp_2m_karras";
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  /** Table σ per step plus the final σ. */
  readonly sigmas: Float64Array;
  private previousX0: Float32Array | null = null;
  private nextIndex = 0;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
    karras: boolean,
  ) {
    this.name = karras ? "dpmpp_2m_karras" : "dpmpp_2m";
    const T = config.num_train_timesteps;
    const alphas = alphasCumprod(config, true);
    const table = sigmaTable(alphas);
    // λ clipping (`lambda_min_clipped`) cuts the noisiest end of the schedule; λ falls as t rises.
    let clipped = 0;
    while (clipped < T && Math.log(1 / table[T - 1 - clipped]) < config.lambda_min_clipped) clipped++;
    let timesteps = dpmTimesteps(config.timestep_spacing, T, T - clipped, steps, config.steps_offset);
    let sigmas: Float64Array;
    if (karras) {
      sigmas = karrasSigmas(table[0], table[T - 1], steps);
      const logTable = table.map(Math.log);
      // diffusers rounds these to integers, except for the cosine schedule where the int64 cast truncates.
      const toInt = config.beta_schedule === "squaredcos_cap_v2" ? Math.trunc : roundHalfEven;
      timesteps = sigmas.map((s) => toInt(sigmaToT(s, logTable)));
    } else {
      sigmas = timesteps.map((t) => table[t]);
    }
    if (timesteps.length === 0) {
      throw new LatentFleetError(
        "SCHEDULER_CONFIG_INVALID",
        "lambda_min_clipped leaves no timesteps to sample",
      );
    }
    checkTimestepRange(timesteps, T);
    this.timesteps = timesteps;
    this.sigmas = new Float64Array(timesteps.length + 1);
    this.sigmas.set(sigmas.subarray(0, timesteps.length));
    this.sigmas[timesteps.length] = config.final_sigmas_type === "sigma_min" ? table[0] : 0;
  }

  needsNoise(): boolean {
    return false;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array<ArrayBuffer> {
    const n = this.timesteps.length;
    checkStepIndex(stepIndex, n);
    checkLengths(sample, modelOutput);
    if (stepIndex !== this.nextIndex) {
      throw new LatentFleetError(
        "INVALID_ARGUMENT",
        `DPM-Solver steps must run in order: expected step ${this.nextIndex}, got ${stepIndex}`,
      );
    }
    const { config } = this;
    const s0 = vp(this.sigmas[stepIndex]);
    const t = vp(this.sigmas[stepIndex + 1]);
    const { x0 } = vpCoefficients(config.prediction_type, s0.alpha, s0.sigma);
    // With a zero final σ the second-order term would divide by an infinite step, so the last step is first order.
    const lastFirstOrder =
      stepIndex === n - 1 &&
      (config.euler_at_final || (config.lower_order_final && n < 15) || config.final_sigmas_type === "zero");
    const prev = this.previousX0;
    const h = t.lambda - s0.lambda;
    const keep = t.sigma / s0.sigma;
    const phi = -t.alpha * Math.expm1(-h);
    // x' = keep·x + phi·D0 + c1·(m0 − m1), with D0 = m0 and D1 = (m0 − m1)/r0 folded into c1.
    let c1 = 0;
    if (prev !== null && !lastFirstOrder) {
      const s1 = vp(this.sigmas[stepIndex - 1]);
      const r0 = (s0.lambda - s1.lambda) / h;
      c1 = (config.solver_type === "midpoint" ? 0.5 * phi : t.alpha * (Math.expm1(-h) / h + 1)) / r0;
    }
    const out = new Float32Array(sample.length);
    const m0 = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i];
      const m = x0.x * x + x0.m * modelOutput[i];
      m0[i] = m;
      out[i] = keep * x + phi * m + (c1 !== 0 && prev !== null ? c1 * (m - prev[i]) : 0);
    }
    this.previousX0 = m0;
    this.nextIndex++;
    return out;
  }
}
