/**
 * One prompts row -> its settings, with the job's defaults filled in. This is the expansion's hot path:
 * a fixed set of property reads, no per-row regex on valid numbers, no allocation but the result.
 */

import type { SchedulerName } from "../common/contract/schedulers.js";
import { MAX_SEED } from "../common/contract/seed.js";
import { FieldError } from "./errors.js";
import { idField, intInRange, numberInRange, schedulerField, sizeField, textField } from "./fields.js";
import type { ManifestLimits } from "./limits.js";
import type { RowValues, SampleDefaults } from "./types.js";

/** The fields a row may carry; any other key or column is ignored (datasets often carry extra columns). */
export const ROW_FIELDS = [
  "prompt",
  "id",
  "negative_prompt",
  "seed",
  "steps",
  "guidance_scale",
  "scheduler",
  "width",
  "height",
  "images_per_prompt",
] as const;

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
    throw new FieldError(`${prefix}prompt`, `${prefix}prompt is missing: every row needs a prompt`);
  }
  const row: ResolvedRow = {
    id: undefined,
    prompt: textField(prompt, `${prefix}prompt`, limits.maxPromptLength, false),
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
  if (!absent(v, text)) row.id = idField(v, `${prefix}id`);
  v = values.negative_prompt;
  if (!absent(v, text)) {
    row.negativePrompt = textField(v, `${prefix}negative_prompt`, limits.maxPromptLength, true);
  }
  v = values.steps;
  if (!absent(v, text)) row.steps = intInRange(v, `${prefix}steps`, 1, limits.maxSteps, text);
  v = values.guidance_scale;
  if (!absent(v, text)) {
    row.guidanceScale = numberInRange(v, `${prefix}guidance_scale`, 0, limits.maxGuidanceScale, text);
  }
  v = values.scheduler;
  if (!absent(v, text)) row.scheduler = schedulerField(v, `${prefix}scheduler`);
  v = values.width;
  if (!absent(v, text)) row.width = sizeField(v, `${prefix}width`, limits.minSize, limits.maxSize, text);
  v = values.height;
  if (!absent(v, text)) row.height = sizeField(v, `${prefix}height`, limits.minSize, limits.maxSize, text);
  v = values.images_per_prompt;
  if (!absent(v, text)) {
    row.imagesPerPrompt = intInRange(v, `${prefix}images_per_prompt`, 1, limits.maxImagesPerPrompt, text);
  }
  v = values.seed;
  if (!absent(v, text)) {
    const seed = intInRange(v, `${prefix}seed`, 0, MAX_SEED, text);
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
