/**
 * Scheduler names as the contract spells them, and how a user's spelling maps to one. The implementations
 * live in the engine; parsing a name loads none of them.
 */
import { LatentFleetError } from "../errors.js";

/** Scheduler names a user can pick; each maps to one diffusers scheduler class and setting. */
export type SchedulerName =
  | "ddim"
  | "euler"
  | "euler_ancestral"
  | "dpmpp_2m"
  | "dpmpp_2m_karras"
  | "lcm"
  | FlowSchedulerName;

/** Schedulers of flow-matching models (SD3, FLUX): they step along a velocity, so they suit only those models. */
export type FlowSchedulerName = "flow_euler";

export const SCHEDULER_NAMES: readonly SchedulerName[] = [
  "ddim",
  "euler",
  "euler_ancestral",
  "dpmpp_2m",
  "dpmpp_2m_karras",
  "lcm",
  "flow_euler",
];

export const FLOW_SCHEDULER_NAMES: readonly FlowSchedulerName[] = ["flow_euler"];

/** True for the schedulers that only flow-matching models can use. */
export function isFlowScheduler(name: SchedulerName): name is FlowSchedulerName {
  return (FLOW_SCHEDULER_NAMES as readonly string[]).includes(name);
}

/** diffusers class names, so a config's `_class_name` (or a user typing one) maps to a scheduler. */
const CLASS_NAMES: Readonly<Record<string, SchedulerName>> = {
  DDIMScheduler: "ddim",
  EulerDiscreteScheduler: "euler",
  EulerAncestralDiscreteScheduler: "euler_ancestral",
  DPMSolverMultistepScheduler: "dpmpp_2m",
  LCMScheduler: "lcm",
  FlowMatchEulerDiscreteScheduler: "flow_euler",
};

/** Extra spellings users reach for (A1111/ComfyUI style). */
const ALIASES: Readonly<Record<string, SchedulerName>> = {
  euler_a: "euler_ancestral",
  eulera: "euler_ancestral",
  dpmpp2m: "dpmpp_2m",
  dpmpp2m_karras: "dpmpp_2m_karras",
  dpmpp_2m_k: "dpmpp_2m_karras",
  flow_match_euler: "flow_euler",
  flowmatch_euler: "flow_euler",
  flow_match_euler_discrete: "flow_euler",
};

/**
 * Parses a scheduler name: one of SCHEDULER_NAMES or a diffusers class name, case-insensitive, with `-` or
 * spaces for `_` and `++` for `pp` (e.g. "DPM++ 2M Karras", "EulerDiscreteScheduler").
 */
export function parseSchedulerName(value: string): SchedulerName {
  const key = value
    .trim()
    .toLowerCase()
    .replaceAll("++", "pp")
    .replace(/[\s-]+/g, "_");
  const known = SCHEDULER_NAMES.find((n) => n === key);
  if (known) return known;
  if (ALIASES[key]) return ALIASES[key];
  for (const [cls, name] of Object.entries(CLASS_NAMES)) if (cls.toLowerCase() === key) return name;
  throw new LatentFleetError(
    "SCHEDULER_UNKNOWN",
    `unknown scheduler "${value}"; known schedulers: ${SCHEDULER_NAMES.join(", ")}`,
  );
}

/**
 * Every spelling parseSchedulerName takes, in its normal form (lower case, `_` for separators, `pp` for
 * `++`): the JSON Schema of the job spec is built from it.
 */
export function schedulerKeys(): string[] {
  return [
    ...SCHEDULER_NAMES,
    ...Object.keys(ALIASES),
    ...Object.keys(CLASS_NAMES).map((c) => c.toLowerCase()),
  ];
}

/** The name of a diffusers scheduler class (a config's `_class_name`), when it has a port here. */
export function schedulerNameForClass(className: string): SchedulerName | undefined {
  return Object.hasOwn(CLASS_NAMES, className) ? CLASS_NAMES[className] : undefined;
}
