import { LatentFleetError } from "../../common/errors.js";
import type { SchedulerConfig, TimestepSpacing } from "./config.js";

const f32 = Math.fround;

/** numpy's `round` (half to even), which diffusers uses for timesteps; Math.round rounds halves up. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy.linspace(start, stop, num): start + i*step, with the last value set to stop exactly. */
export function linspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  const step = div > 0 ? (stop - start) / div : 0;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/**
 * numpy.arange(start, stop, step) cut to at most `max` values. numpy fills start + i·((start+step)−start), and
 * its length ceil((stop−start)/step) can round up one too many (e.g. 62 values for 61 steps, the extra one giving
 * timestep −1 in diffusers' trailing spacing); the cut keeps exactly the requested number of steps.
 */
function arangeDown(start: number, stop: number, step: number, max: number): Float64Array {
  const n = Math.min(max, Math.max(0, Math.ceil((stop - start) / step)));
  const delta = start + step - start;
  return Float64Array.from({ length: n }, (_, i) => start + i * delta);
}

/** torch.linspace in float32: the first half counts up from start, the second half down from end. */
function torchLinspaceF32(start: number, end: number, steps: number): Float64Array {
  const s = f32(start);
  const e = f32(end);
  const step = steps > 1 ? f32(f32(e - s) / (steps - 1)) : 0;
  const half = Math.floor(steps / 2);
  // Plain loops here and below: every batch builds its scheduler, and Float64Array.from with a mapping
  // function or a typed array's map cost ten times as much.
  const out = new Float64Array(steps);
  for (let i = 0; i < steps; i++) {
    out[i] = i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)));
  }
  return out;
}

/** The Glide cosine schedule (`squaredcos_cap_v2`), computed in float64 like diffusers' `betas_for_alpha_bar`. */
function cosineBetas(count: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  return Float64Array.from({ length: count }, (_, i) =>
    Math.min(1 - alphaBar((i + 1) / count) / alphaBar(i / count), maxBeta),
  );
}

/** Zero terminal SNR rescale (arXiv 2305.08891, Algorithm 1), as diffusers' `rescale_zero_terminal_snr`. */
function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const n = betas.length;
  const sqrtBar = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) {
    prod *= 1 - betas[i];
    sqrtBar[i] = Math.sqrt(prod);
  }
  const first = sqrtBar[0];
  const last = sqrtBar[n - 1];
  const bar = sqrtBar.map((v) => ((v - last) * first) / (first - last)).map((v) => v * v);
  return Float64Array.from(bar, (v, i) => (i === 0 ? 1 - v : 1 - v / bar[i - 1]));
}

/**
 * ᾱ_t for t = 0..T-1. Betas are rounded to float32 as diffusers stores them; the cumulative product runs in
 * float64 (diffusers uses float32 there; the difference is ~1e-6 relative, e.g. σ_999 14.614655 vs 14.614641).
 * `clampLast` applies the Euler/DPM tweak that keeps σ finite under zero terminal SNR.
 */
export function alphasCumprod(config: SchedulerConfig, clampLast = false): Float64Array {
  const T = config.num_train_timesteps;
  let betas: Float64Array;
  if (config.trained_betas) betas = Float64Array.from(config.trained_betas, f32);
  else if (config.beta_schedule === "linear") betas = torchLinspaceF32(config.beta_start, config.beta_end, T);
  else if (config.beta_schedule === "scaled_linear") {
    betas = torchLinspaceF32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), T);
    for (let i = 0; i < T; i++) betas[i] = f32(betas[i] * betas[i]);
  } else betas = cosineBetas(T).map(f32);
  if (config.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas).map(f32);
  const out = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) {
    prod *= f32(1 - betas[i]);
    out[i] = prod;
  }
  if (config.rescale_betas_zero_snr && clampLast) out[T - 1] = 2 ** -24;
  return out;
}

/** σ_t = sqrt((1 − ᾱ_t)/ᾱ_t), the noise level of the variance-exploding form x = x0 + σ·ε. */
export function sigmaTable(alphas: Float64Array): Float64Array {
  const out = new Float64Array(alphas.length);
  for (let i = 0; i < alphas.length; i++) out[i] = Math.sqrt((1 - alphas[i]) / alphas[i]);
  return out;
}

/** DDIM/Euler timestep spacing (Table 2 of arXiv 2305.08891), descending. */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  T: number,
  n: number,
  stepsOffset: number,
): Float64Array {
  if (spacing === "linspace") return linspace(0, T - 1, n).reverse();
  if (spacing === "leading") {
    const ratio = Math.floor(T / n);
    return Float64Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
  }
  return arangeDown(T, 0, -T / n, n).map((t) => roundHalfEven(t) - 1);
}

/** DPMSolverMultistep spacing: n+1 points with the last (t≈0) dropped; `last` is T unless λ is clipped. */
export function dpmTimesteps(
  spacing: TimestepSpacing,
  T: number,
  last: number,
  n: number,
  stepsOffset: number,
): Float64Array {
  if (spacing === "linspace")
    return linspace(0, last - 1, n + 1)
      .map(roundHalfEven)
      .reverse()
      .subarray(0, n);
  if (spacing === "leading") {
    const ratio = Math.floor(last / (n + 1));
    return Float64Array.from({ length: n }, (_, i) => (n - i) * ratio + stepsOffset);
  }
  return arangeDown(last, 0, -T / n, n).map((t) => roundHalfEven(t) - 1);
}

/** numpy.interp over the grid 0..table.length-1, clamped at both ends. */
export function interpTable(table: Float64Array, x: number): number {
  if (x <= 0) return table[0];
  const last = table.length - 1;
  if (x >= last) return table[last];
  const lo = Math.floor(x);
  const w = x - lo;
  return w === 0 ? table[lo] : table[lo] * (1 - w) + table[lo + 1] * w;
}

/** Karras et al. (2022) ρ=7 sigmas from sigmaMax down to sigmaMin, n values. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): Float64Array {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** Fractional timestep whose σ matches, interpolating log σ between neighbours (diffusers `_sigma_to_t`). */
export function sigmaToT(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // logSigmas ascends with t: low is the last index whose log σ is <= the target, kept below the top index.
  let count = 0;
  while (count < logSigmas.length && logSigmas[count] <= logSigma) count++;
  const low = Math.min(Math.max(count - 1, 0), logSigmas.length - 2);
  const w = Math.min(Math.max((logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[low + 1]), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

/** Leading spacing plus steps_offset can reach t = T for large step counts; ᾱ has no entry there. */
export function checkTimestepRange(timesteps: Float64Array, T: number): void {
  const max = timesteps.reduce((a, b) => Math.max(a, b), 0);
  if (max > T - 1) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `steps=${timesteps.length} with this steps_offset gives timestep ${max}, beyond num_train_timesteps - 1 (${T - 1})`,
    );
  }
}
