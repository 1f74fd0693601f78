import { isFlowScheduler, type SchedulerName } from "../../common/contract/schedulers.js";
import { LatentFleetError } from "../../common/errors.js";
import type { PredictionType } from "./types.js";

/** A parsed diffusers `scheduler_config.json` object, not yet checked. */
export type SchedulerConfigInput = Readonly<Record<string, unknown>>;

export type BetaSchedule = "linear" | "scaled_linear" | "squaredcos_cap_v2";
export type TimestepSpacing = "linspace" | "leading" | "trailing";
export type FinalSigmasType = "zero" | "sigma_min";
export type ModelPrediction = PredictionType | "sample";

/** The diffusers fields this package reads, under diffusers' own names so configs and overrides merge as-is. */
export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  trained_betas: readonly number[] | null;
  prediction_type: ModelPrediction;
  steps_offset: number;
  timestep_spacing: TimestepSpacing;
  rescale_betas_zero_snr: boolean;
  // DDIM and LCM
  clip_sample: boolean;
  clip_sample_range: number;
  set_alpha_to_one: boolean;
  // Euler and DPM-Solver
  use_karras_sigmas: boolean;
  sigma_min: number | null;
  sigma_max: number | null;
  final_sigmas_type: FinalSigmasType;
  // DPM-Solver
  solver_type: "midpoint" | "heun";
  lower_order_final: boolean;
  euler_at_final: boolean;
  lambda_min_clipped: number;
  // LCM
  original_inference_steps: number;
  timestep_scaling: number;
}

/** The fields of diffusers' FlowMatchEulerDiscreteScheduler that this package reads. */
export interface FlowMatchConfig {
  num_train_timesteps: number;
  /** Static σ shift (SD3: 3.0); unused with dynamic shifting. */
  shift: number;
  /** σ shifted by mu, which the pipeline derives from the image sequence length (FLUX.1-dev). */
  use_dynamic_shifting: boolean;
  base_shift: number;
  max_shift: number;
  base_image_seq_len: number;
  max_image_seq_len: number;
  time_shift_type: "exponential" | "linear";
  /** When set, the shifted schedule is stretched to end at this σ (before the final 0). */
  shift_terminal: number | null;
}

/** Per-run overrides (e.g. a user's `timestep_spacing`), applied over the file's values. */
export type SchedulerOverrides = Partial<SchedulerConfig> & Partial<FlowMatchConfig>;

type ClassKind = "ddim" | "euler" | "dpm" | "lcm";

function classKind(name: SchedulerName): ClassKind {
  if (isFlowScheduler(name)) {
    throw new LatentFleetError("INVALID_ARGUMENT", `${name} reads its settings with resolveFlowMatchConfig`);
  }
  if (name === "euler" || name === "euler_ancestral") return "euler";
  if (name === "dpmpp_2m" || name === "dpmpp_2m_karras") return "dpm";
  return name;
}

/** Constructor defaults of each diffusers class: a field missing from the file takes the requested class's default. */
function classDefaults(kind: ClassKind): SchedulerConfig {
  const lcm = kind === "lcm";
  return {
    num_train_timesteps: 1000,
    beta_start: lcm ? 0.00085 : 0.0001,
    beta_end: lcm ? 0.012 : 0.02,
    beta_schedule: lcm ? "scaled_linear" : "linear",
    trained_betas: null,
    prediction_type: "epsilon",
    steps_offset: 0,
    timestep_spacing: kind === "ddim" || lcm ? "leading" : "linspace",
    rescale_betas_zero_snr: false,
    clip_sample: kind === "ddim",
    clip_sample_range: 1,
    set_alpha_to_one: true,
    use_karras_sigmas: false,
    sigma_min: null,
    sigma_max: null,
    final_sigmas_type: "zero",
    solver_type: "midpoint",
    lower_order_final: true,
    euler_at_final: false,
    lambda_min_clipped: Number.NEGATIVE_INFINITY,
    original_inference_steps: 50,
    timestep_scaling: 10,
  };
}

/** Options diffusers offers that this package does not implement; each must be absent or off. */
const UNSUPPORTED_FLAGS: Record<ClassKind, readonly string[]> = {
  ddim: ["thresholding"],
  euler: ["use_exponential_sigmas", "use_beta_sigmas"],
  dpm: ["thresholding", "use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas", "use_flow_sigmas"],
  lcm: ["thresholding"],
};

function invalid(field: string, expected: string, value: unknown): LatentFleetError {
  return new LatentFleetError(
    "SCHEDULER_CONFIG_INVALID",
    `scheduler config field "${field}" must be ${expected} (got ${JSON.stringify(value) ?? String(value)})`,
  );
}

interface NumberRule {
  integer?: boolean;
  min?: number;
  max?: number;
  /** Lower bound excluded: value must be > min. */
  exclusiveMin?: boolean;
}

function checkNumber(field: string, value: unknown, rule: NumberRule): number {
  const { integer = false, min, max, exclusiveMin = false } = rule;
  const bounds = `${min === undefined ? "" : `${exclusiveMin ? ">" : ">="} ${min}`}${max === undefined ? "" : ` and <= ${max}`}`;
  const expected = `${integer ? "an integer" : "a finite number"}${bounds ? ` ${bounds}` : ""}`;
  if (typeof value !== "number" || !Number.isFinite(value)) throw invalid(field, expected, value);
  if (integer && !Number.isInteger(value)) throw invalid(field, expected, value);
  if (min !== undefined && (exclusiveMin ? value <= min : value < min)) throw invalid(field, expected, value);
  if (max !== undefined && value > max) throw invalid(field, expected, value);
  return value;
}

function checkBool(field: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw invalid(field, "true or false", value);
  return value;
}

function checkEnum<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw invalid(field, `one of ${allowed.join(", ")}`, value);
  }
  return value as T;
}

function checkBetas(value: unknown, count: number): readonly number[] {
  const expected = `an array of ${count} numbers in [0, 1) (one per num_train_timesteps) or null`;
  if (!Array.isArray(value) || value.length !== count) throw invalid("trained_betas", expected, value);
  for (const b of value) {
    if (typeof b !== "number" || !(b >= 0 && b < 1)) throw invalid("trained_betas", expected, b);
  }
  return value as number[];
}

/**
 * Resolves the settings for `name` from a diffusers config written for any class (e.g. SD1.5's PNDMScheduler):
 * fields present in the file (or overrides) win; missing or null ones take the requested class's default,
 * which is how diffusers' `from_config` fills them.
 */
export function resolveSchedulerConfig(
  name: SchedulerName,
  input: SchedulerConfigInput,
  overrides: SchedulerOverrides = {},
): SchedulerConfig {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new LatentFleetError("SCHEDULER_CONFIG_INVALID", "scheduler config must be a JSON object");
  }
  const kind = classKind(name);
  const raw: Record<string, unknown> = { ...input };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) raw[key] = value;
  for (const flag of UNSUPPORTED_FLAGS[kind]) {
    if (raw[flag] !== undefined && raw[flag] !== null && raw[flag] !== false) {
      throw invalid(flag, "false (this option is not supported)", raw[flag]);
    }
  }
  if (kind === "euler") {
    if (raw.interpolation_type != null) checkEnum("interpolation_type", raw.interpolation_type, ["linear"]);
    if (raw.timestep_type != null) checkEnum("timestep_type", raw.timestep_type, ["discrete"]);
  }
  const d = classDefaults(kind);
  const pick = <K extends keyof SchedulerConfig>(
    field: K,
    check: (field: string, value: unknown) => SchedulerConfig[K],
  ): SchedulerConfig[K] =>
    raw[field] === undefined || raw[field] === null ? d[field] : check(field, raw[field]);
  const num = (rule: NumberRule) => (f: string, v: unknown) => checkNumber(f, v, rule);
  const oneOf =
    <E extends string>(...allowed: E[]) =>
    (f: string, v: unknown) =>
      checkEnum(f, v, allowed);
  const unit = num({ min: 0, max: 0.999999 });
  const positive = num({ min: 0, exclusiveMin: true });

  const T = pick("num_train_timesteps", num({ integer: true, min: 2, max: 100_000 }));
  return {
    num_train_timesteps: T,
    beta_start: pick("beta_start", unit),
    beta_end: pick("beta_end", unit),
    beta_schedule: pick("beta_schedule", oneOf("linear", "scaled_linear", "squaredcos_cap_v2")),
    trained_betas: pick("trained_betas", (_, v) => checkBetas(v, T)),
    prediction_type: pick("prediction_type", oneOf("epsilon", "v_prediction", "sample")),
    steps_offset: pick("steps_offset", num({ integer: true, min: 0, max: T - 1 })),
    timestep_spacing: pick("timestep_spacing", oneOf("linspace", "leading", "trailing")),
    rescale_betas_zero_snr: pick("rescale_betas_zero_snr", checkBool),
    clip_sample: pick("clip_sample", checkBool),
    clip_sample_range: pick("clip_sample_range", positive),
    set_alpha_to_one: pick("set_alpha_to_one", checkBool),
    use_karras_sigmas: pick("use_karras_sigmas", checkBool),
    sigma_min: pick("sigma_min", positive),
    sigma_max: pick("sigma_max", positive),
    final_sigmas_type: pick("final_sigmas_type", oneOf("zero", "sigma_min")),
    solver_type: pick("solver_type", oneOf("midpoint", "heun")),
    lower_order_final: pick("lower_order_final", checkBool),
    euler_at_final: pick("euler_at_final", checkBool),
    // diffusers' default −∞ cannot be written in JSON, so null (or a missing field) means "no clipping".
    lambda_min_clipped: pick("lambda_min_clipped", (f, v) =>
      v === Number.NEGATIVE_INFINITY ? v : checkNumber(f, v, {}),
    ),
    original_inference_steps: pick("original_inference_steps", num({ integer: true, min: 1, max: T })),
    timestep_scaling: pick("timestep_scaling", positive),
  };
}

/** FlowMatchEulerDiscreteScheduler's constructor defaults. */
const FLOW_MATCH_DEFAULTS: FlowMatchConfig = {
  num_train_timesteps: 1000,
  shift: 1,
  use_dynamic_shifting: false,
  base_shift: 0.5,
  max_shift: 1.15,
  base_image_seq_len: 256,
  max_image_seq_len: 4096,
  time_shift_type: "exponential",
  shift_terminal: null,
};

/** FlowMatchEulerDiscreteScheduler options this package does not implement; each must be absent or off. */
const FLOW_UNSUPPORTED_FLAGS = [
  "invert_sigmas",
  "use_karras_sigmas",
  "use_exponential_sigmas",
  "use_beta_sigmas",
  "stochastic_sampling",
];

/** Resolves a flow-matching scheduler's settings from a diffusers config; missing or null fields take defaults. */
export function resolveFlowMatchConfig(
  input: SchedulerConfigInput,
  overrides: SchedulerOverrides = {},
): FlowMatchConfig {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new LatentFleetError("SCHEDULER_CONFIG_INVALID", "scheduler config must be a JSON object");
  }
  const raw: Record<string, unknown> = { ...input };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) raw[key] = value;
  for (const flag of FLOW_UNSUPPORTED_FLAGS) {
    if (raw[flag] !== undefined && raw[flag] !== null && raw[flag] !== false) {
      throw invalid(flag, "false (this option is not supported)", raw[flag]);
    }
  }
  const d = FLOW_MATCH_DEFAULTS;
  const pick = <K extends keyof FlowMatchConfig>(
    field: K,
    check: (field: string, value: unknown) => FlowMatchConfig[K],
  ): FlowMatchConfig[K] =>
    raw[field] === undefined || raw[field] === null ? d[field] : check(field, raw[field]);
  const num = (rule: NumberRule) => (f: string, v: unknown) => checkNumber(f, v, rule);
  const positive = num({ min: 0, exclusiveMin: true });
  const seqLen = num({ integer: true, min: 1 });
  const config: FlowMatchConfig = {
    num_train_timesteps: pick("num_train_timesteps", num({ integer: true, min: 2, max: 100_000 })),
    shift: pick("shift", positive),
    use_dynamic_shifting: pick("use_dynamic_shifting", checkBool),
    base_shift: pick("base_shift", num({})),
    max_shift: pick("max_shift", num({})),
    base_image_seq_len: pick("base_image_seq_len", seqLen),
    max_image_seq_len: pick("max_image_seq_len", seqLen),
    time_shift_type: pick("time_shift_type", (f, v) => checkEnum(f, v, ["exponential", "linear"] as const)),
    // diffusers tests `if shift_terminal:`, so 0 means off as null does.
    shift_terminal:
      raw.shift_terminal === 0
        ? null
        : pick("shift_terminal", num({ min: 0, max: 0.999999, exclusiveMin: true })),
  };
  if (config.use_dynamic_shifting && config.max_image_seq_len === config.base_image_seq_len) {
    throw invalid("max_image_seq_len", "different from base_image_seq_len", config.max_image_seq_len);
  }
  return config;
}
