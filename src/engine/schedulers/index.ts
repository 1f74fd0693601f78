import {
  isFlowScheduler,
  parseSchedulerName,
  SCHEDULER_NAMES,
  type SchedulerName,
  schedulerNameForClass,
} from "../../common/contract/schedulers.js";
import { LatentFleetError } from "../../common/errors.js";
import {
  resolveFlowMatchConfig,
  resolveSchedulerConfig,
  type SchedulerConfigInput,
  type SchedulerOverrides,
} from "./config.js";
import { DdimScheduler } from "./ddim.js";
import { DpmSolverMultistepScheduler } from "./dpm-solver-multistep.js";
import { EulerScheduler } from "./euler.js";
import { EulerAncestralScheduler } from "./euler-ancestral.js";
import { FlowMatchEulerScheduler, type FlowScheduleOptions } from "./flow-match-euler.js";
import { LcmScheduler } from "./lcm.js";
import { checkSchedulerSuitsModel, schedulerConfigFamily } from "./model-family.js";
import type { Scheduler } from "./types.js";

export type {
  BetaSchedule,
  FinalSigmasType,
  FlowMatchConfig,
  ModelPrediction,
  SchedulerConfig,
  SchedulerConfigInput,
  SchedulerOverrides,
  TimestepSpacing,
} from "./config.js";
export { resolveFlowMatchConfig, resolveSchedulerConfig } from "./config.js";
export { DdimScheduler } from "./ddim.js";
export { DpmSolverMultistepScheduler } from "./dpm-solver-multistep.js";
export { EulerScheduler } from "./euler.js";
export { EulerAncestralScheduler } from "./euler-ancestral.js";
export {
  calculateShift,
  FlowMatchEulerScheduler,
  type FlowScheduleOptions,
  flowImageSeqLen,
  flowMatchSigmas,
} from "./flow-match-euler.js";
export { LcmScheduler } from "./lcm.js";
export { type ModelFamily, schedulerConfigFamily } from "./model-family.js";
export { alphasCumprod, sigmaTable } from "./noise-schedule.js";
export type { PredictionType, Scheduler } from "./types.js";

/**
 * The scheduler a model ships with, from its config's `_class_name`; classes without a port here (PNDM, LMS,
 * ...) get Euler, which works with any SD-family noise schedule, and flow classes (FlowMatchHeun, ...) get
 * flow-matching Euler.
 */
export function defaultSchedulerName(config: SchedulerConfigInput): SchedulerName {
  const cls = typeof config._class_name === "string" ? config._class_name : "";
  const byClass = schedulerNameForClass(cls);
  if (schedulerConfigFamily(config) === "flow") {
    // A flow model whose class has no flow port here (FlowMatchHeun, DPM-Solver with flow sigmas, ...).
    return byClass !== undefined && isFlowScheduler(byClass) ? byClass : "flow_euler";
  }
  const name = byClass ?? "euler";
  return name === "dpmpp_2m" && config.use_karras_sigmas === true ? "dpmpp_2m_karras" : name;
}

/**
 * A fresh scheduler for one sampling run of `steps` steps. `config` is the model's scheduler_config.json, for
 * whichever class it was written: its shared fields (betas, prediction_type, steps_offset, ...) are used and
 * missing fields take the requested class's defaults. `overrides` (diffusers field names) win over the file.
 * For DPM-Solver the name alone decides Karras σ (the file's `use_karras_sigmas` only picks the default name);
 * Euler honours `use_karras_sigmas` from the file or overrides, as diffusers' `from_config` would.
 * A flow scheduler only suits a flow model and the others only a noise-prediction model (checked from the
 * config); `flow` carries what a flow run's σ depend on (the image sequence length for dynamic shifting).
 */
export function createScheduler(
  name: SchedulerName,
  config: SchedulerConfigInput,
  steps: number,
  overrides?: SchedulerOverrides,
  flow?: FlowScheduleOptions,
): Scheduler {
  // Callers from untyped input (CLI, queue messages) may pass any string: normalise it or fail with the known names.
  const kind = SCHEDULER_NAMES.includes(name) ? name : parseSchedulerName(String(name));
  checkSchedulerSuitsModel(kind, config);
  if (isFlowScheduler(kind)) {
    const resolved = resolveFlowMatchConfig(config, overrides);
    checkSteps(steps, resolved.num_train_timesteps);
    return new FlowMatchEulerScheduler(resolved, steps, flow);
  }
  const resolved = resolveSchedulerConfig(kind, config, overrides);
  checkSteps(steps, resolved.num_train_timesteps);
  switch (kind) {
    case "ddim":
      return new DdimScheduler(resolved, steps);
    case "euler":
      return new EulerScheduler(resolved, steps);
    case "euler_ancestral":
      return new EulerAncestralScheduler(resolved, steps);
    case "dpmpp_2m":
    case "dpmpp_2m_karras":
      return new DpmSolverMultistepScheduler(resolved, steps, kind === "dpmpp_2m_karras");
    case "lcm":
      return new LcmScheduler(resolved, steps);
  }
}

function checkSteps(steps: number, T: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > T) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `steps must be an integer from 1 to num_train_timesteps (${T}) (got ${steps})`,
    );
  }
}
