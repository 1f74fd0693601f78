/**
 * Which kind of denoiser a scheduler config was written for, so that a run cannot pair a flow-matching
 * scheduler with a noise-prediction (UNet-family) model or the other way round: either pairing samples
 * garbage without any error of its own.
 */
import {
  FLOW_SCHEDULER_NAMES,
  isFlowScheduler,
  SCHEDULER_NAMES,
  type SchedulerName,
} from "../../common/contract/schedulers.js";
import { LatentFleetError } from "../../common/errors.js";
import type { SchedulerConfigInput } from "./config.js";

/** "flow": velocity-predicting rectified-flow models (SD3, FLUX); "noise": ε / v / x0 models (SD1.x, SDXL). */
export type ModelFamily = "flow" | "noise";

/** Fields only the noise-schedule (β) classes have. */
const NOISE_FIELDS = ["beta_start", "beta_end", "beta_schedule", "trained_betas"];
/** Fields only the flow-matching classes have. */
const FLOW_FIELDS = ["shift", "use_dynamic_shifting", "base_image_seq_len", "max_image_seq_len"];

/**
 * The family a model's scheduler_config.json belongs to: its `_class_name` (FlowMatch* classes, or a class
 * set to flow sigmas / flow prediction, are flow), else its fields; undefined when nothing tells.
 */
export function schedulerConfigFamily(config: SchedulerConfigInput): ModelFamily | undefined {
  const cls = typeof config._class_name === "string" ? config._class_name : undefined;
  if (cls?.startsWith("FlowMatch") || config.use_flow_sigmas === true) return "flow";
  if (config.prediction_type === "flow_prediction") return "flow";
  if (cls !== undefined) return "noise";
  if (NOISE_FIELDS.some((f) => config[f] !== undefined && config[f] !== null)) return "noise";
  if (FLOW_FIELDS.some((f) => config[f] !== undefined && config[f] !== null)) return "flow";
  return undefined;
}

/** Throws INVALID_ARGUMENT when the scheduler cannot drive the model whose config this is. */
export function checkSchedulerSuitsModel(name: SchedulerName, config: SchedulerConfigInput): void {
  const family = schedulerConfigFamily(config);
  if (family === undefined) return;
  const flowScheduler = isFlowScheduler(name);
  if (flowScheduler === (family === "flow")) return;
  const cls = typeof config._class_name === "string" ? ` (${config._class_name})` : "";
  if (flowScheduler) {
    const usable = SCHEDULER_NAMES.filter((n) => !isFlowScheduler(n)).join(", ");
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `scheduler "${name}" is a flow-matching scheduler, for flow models (SD3, FLUX) only; this model's ` +
        `scheduler config${cls} is a noise-prediction (UNet-family) one: use one of ${usable}`,
    );
  }
  throw new LatentFleetError(
    "INVALID_ARGUMENT",
    `scheduler "${name}" is for noise-prediction (UNet-family) models; this model's scheduler config${cls} ` +
      `is a flow-matching one: use ${FLOW_SCHEDULER_NAMES.join(" or ")}`,
  );
}
