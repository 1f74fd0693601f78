/**
 * One prompts row -> its settings, with the job's defaults filled in. This is the expansion's hot path:
 * a fixed set of property reads, no per-row regex on valid numbers, no allocation but the result.
 */

import type { SchedulerName } from "../common/contract/schedulers.js";
import { FieldError } from "./errors.js";
import { compileCheck } from "./field-check.js";
import type { ManifestLimits } from "./limits.js";
import { ROW_FIELD_DEFS as F, type RowFieldName } from "./spec-definitions.js";
import type { RowValues, SampleDefaults } from "./types.js";

/** The fields a row may carry; any other key or column is ignored (datasets often carry extra columns). */
export const ROW_FIELDS = Object.keys(F) as readonly RowFieldName[];

const MAX_SEED = F.seed.value.max;

// Each field's check, compiled once from its definition.
const checkPrompt = compileCheck(F.prompt.value);
const checkId = compileCheck(F.id.value);
const checkNegativePrompt = compileCheck(F.negative_prompt.value);
const checkSteps = compileCheck(F.steps.value);
const checkGuidanceScale = compileCheck(F.guidance_scale.value);
const checkScheduler = compileCheck(F.scheduler.value);
const checkWidth = compileCheck(F.width.value);
const checkHeight = compileCheck(F.height.value);
const checkImagesPerPrompt = compileCheck(F.images_per_prompt.value);
const checkSeed = compileCheck(F.seed.value);

export interface RowContext {
  defaults: SampleDefaults;
  imagesPerPrompt: number;
  limits: ManifestLimits;
}

export interface ResolvedRow {
  id: string | undefined;
  prompt: string;
  negativePrompt: string;
  /** The row's own seed, when it gives one. */
  seed: number | undefined;
  steps: number;
  guidanceScale: number;
  scheduler: SchedulerName | null;
  width: number | null;
  height: number | null;
  imagesPerPrompt: number;
}

/** null, undefined and (in CSV) the empty cell all mean "not given". */
function absent(value: unknown, text: boolean): boolean {
  return value === undefined || value === null || (text && value === "");
}

/**
 * Validates one row; throws FieldError naming the first bad field. `text` is true for CSV rows, whose
 * cells are strings. `prefix` names the fields in messages (e.g. "prompts[2]." for inline spec rows).
 */
export function resolveRow(values: RowValues, ctx: RowContext, text: boolean, prefix = ""): ResolvedRow {
  const { defaults, limits } = ctx;
  const prompt = values.prompt;
  if (absent(prompt, text)) {
    throw new FieldError(`${prefix}prompt`, `${prefix}prompt is missing: ${F.prompt.missingHint}`);
  }
  const row: ResolvedRow = {
    id: undefined,
    prompt: checkPrompt(prompt, `${prefix}prompt`, limits),
    negativePrompt: defaults.negativePrompt,
    seed: undefined,
    steps: defaults.steps,
    guidanceScale: defaults.guidanceScale,
    scheduler: defaults.scheduler,
    width: defaults.width,
    height: defaults.height,
    imagesPerPrompt: ctx.imagesPerPrompt,
  };
  let v = values.id;
  if (!absent(v, text)) row.id = checkId(v, `${prefix}id`, limits);
  v = values.negative_prompt;
  if (!absent(v, text)) {
    row.negativePrompt = checkNegativePrompt(v, `${prefix}negative_prompt`, limits);
  }
  v = values.steps;
  if (!absent(v, text)) row.steps = checkSteps(v, `${prefix}steps`, limits, text);
  v = values.guidance_scale;
  if (!absent(v, text)) {
    row.guidanceScale = checkGuidanceScale(v, `${prefix}guidance_scale`, limits, text);
  }
  v = values.scheduler;
  if (!absent(v, text)) row.scheduler = checkScheduler(v, `${prefix}scheduler`, limits);
  v = values.width;
  if (!absent(v, text)) row.width = checkWidth(v, `${prefix}width`, limits, text);
  v = values.height;
  if (!absent(v, text)) row.height = checkHeight(v, `${prefix}height`, limits, text);
  v = values.images_per_prompt;
  if (!absent(v, text)) {
    row.imagesPerPrompt = checkImagesPerPrompt(v, `${prefix}images_per_prompt`, limits, text);
  }
  v = values.seed;
  if (!absent(v, text)) {
    const seed = checkSeed(v, `${prefix}seed`, limits, text);
    // Image k uses seed + k: the last one must still be a valid seed (written so nothing rounds past 2^53).
    if (seed > MAX_SEED - (row.imagesPerPrompt - 1)) {
      throw new FieldError(
        `${prefix}seed`,
        `${prefix}seed + images_per_prompt - 1 must be at most ${MAX_SEED} (image k uses seed + k), ` +
          `got seed ${seed} with images_per_prompt ${row.imagesPerPrompt}`,
      );
    }
    row.seed = seed;
  }
  return row;
}
