/**
 * The job spec's fields as one table: name, type, bounds, allowed values, required-ness and help. The spec
 * parser (spec-parse.ts, spec-prompts.ts, row.ts) checks values against it, and spec-schema.ts turns it into
 * the JSON Schema editors use: a field added or changed here changes both.
 */
import { OUTPUT_FORMAT_NAMES } from "../common/contract/output-formats.js";
import { SCHEDULER_NAMES } from "../common/contract/schedulers.js";
import { MAX_SEED } from "../common/contract/seed.js";
import { HARD_LIMITS, type ManifestLimits } from "./limits.js";
import { EXTENSIONS } from "./paths.js";

/** A bound: a fixed number, or one of the job's limits (the spec's `limits:` may move it, up to HARD_LIMITS). */
export type Bound = number | keyof ManifestLimits;

export type ValueDef =
  | { type: "integer"; min: Bound; max: Bound }
  | { type: "number"; min: Bound; max: Bound }
  /** An image side: an integer in range, a multiple of SIZE_MULTIPLE. */
  | { type: "size"; min: Bound; max: Bound }
  /** Prompt-like text of at most `maxLength` characters, valid UTF-8; empty only when `allowEmpty`. */
  | { type: "text"; maxLength: Bound; allowEmpty: boolean }
  /** A string that is not blank (a path, a template). */
  | { type: "string" }
  | { type: "enum"; values: readonly string[] }
  /** A scheduler name in any spelling parseSchedulerName takes. */
  | { type: "scheduler" }
  /** A row id (ID_PATTERN); also a non-negative integer. */
  | { type: "id" }
  /** A prompts file path whose extension tells its format (paths.ts EXTENSIONS). */
  | { type: "promptsFile" }
  /** A template's variables: name -> non-empty list of strings, numbers or booleans. */
  | { type: "templateVars" }
  /** A mapping with these keys and no others. */
  | { type: "mapping"; fields: FieldTable }
  /** A non-empty list. */
  | { type: "list"; items: ValueDef }
  /** Any one of these (told apart by type, then by the keys that are required). */
  | { type: "oneOf"; options: readonly ValueDef[] }
  /** A failure tolerance: a count (an integer, or its digits as a string) or a percentage string "P%". */
  | { type: "failureTolerance" };

export interface FieldDef {
  value: ValueDef;
  description: string;
  required?: boolean;
  /** The message when a required field is absent (after "<field> is missing: "). */
  missingHint?: string;
}

export type FieldTable = Readonly<Record<string, FieldDef>>;

/** The fields of one prompts row: inline in the spec, or a line or record of a prompts file. */
export const ROW_FIELD_DEFS = {
  prompt: {
    value: { type: "text", maxLength: "maxPromptLength", allowEmpty: false },
    description: "The prompt.",
    required: true,
    missingHint: "every row needs a prompt",
  },
  id: {
    value: { type: "id" },
    description: "The row's id; it names the output files (default: from the row's position).",
  },
  negative_prompt: {
    value: { type: "text", maxLength: "maxPromptLength", allowEmpty: true },
    description: "What the image should not show.",
  },
  seed: {
    value: { type: "integer", min: 0, max: MAX_SEED },
    description: "The seed of the row's first image; image k uses seed + k.",
  },
  steps: { value: { type: "integer", min: 1, max: "maxSteps" }, description: "Denoising steps." },
  guidance_scale: {
    value: { type: "number", min: 0, max: "maxGuidanceScale" },
    description: "Classifier-free guidance scale (0 or 1: off).",
  },
  scheduler: {
    value: { type: "scheduler" },
    description: `Scheduler: ${SCHEDULER_NAMES.join(", ")} (or a diffusers class name).`,
  },
  width: { value: { type: "size", min: "minSize", max: "maxSize" }, description: "Image width in pixels." },
  height: { value: { type: "size", min: "minSize", max: "maxSize" }, description: "Image height in pixels." },
  images_per_prompt: {
    value: { type: "integer", min: 1, max: "maxImagesPerPrompt" },
    description: "Images of this row (seeds seed, seed + 1, ...).",
  },
} as const satisfies FieldTable;

export type RowFieldName = keyof typeof ROW_FIELD_DEFS;

/** `defaults:`: the settings every row gets unless it gives its own. */
export const DEFAULT_FIELD_DEFS = {
  steps: ROW_FIELD_DEFS.steps,
  guidance_scale: ROW_FIELD_DEFS.guidance_scale,
  scheduler: { ...ROW_FIELD_DEFS.scheduler, description: "Scheduler (default: the model's own)." },
  width: { ...ROW_FIELD_DEFS.width, description: "Image width in pixels (default: the model's own)." },
  height: { ...ROW_FIELD_DEFS.height, description: "Image height in pixels (default: the model's own)." },
  negative_prompt: ROW_FIELD_DEFS.negative_prompt,
} as const satisfies FieldTable;

/** `limits:`, each with the limit it sets; bounded by HARD_LIMITS (what the workers' engine accepts). */
export const LIMIT_FIELD_DEFS = {
  max_prompt_length: {
    limit: "maxPromptLength",
    value: { type: "integer", min: 1, max: HARD_LIMITS.maxPromptLength },
    description: "Longest prompt or negative prompt, in characters.",
  },
  min_size: {
    limit: "minSize",
    value: { type: "size", min: HARD_LIMITS.minSize, max: HARD_LIMITS.maxSize },
    description: "Smallest image side.",
  },
  max_size: {
    limit: "maxSize",
    value: { type: "size", min: HARD_LIMITS.minSize, max: HARD_LIMITS.maxSize },
    description: "Largest image side.",
  },
  max_steps: {
    limit: "maxSteps",
    value: { type: "integer", min: 1, max: HARD_LIMITS.maxSteps },
    description: "Most denoising steps.",
  },
  max_guidance_scale: {
    limit: "maxGuidanceScale",
    value: { type: "number", min: 0, max: HARD_LIMITS.maxGuidanceScale },
    description: "Largest guidance scale.",
  },
  max_images_per_prompt: {
    limit: "maxImagesPerPrompt",
    value: { type: "integer", min: 1, max: HARD_LIMITS.maxImagesPerPrompt },
    description: "Most images of one row.",
  },
  max_samples_per_job: {
    limit: "maxSamplesPerJob",
    value: { type: "integer", min: 1, max: HARD_LIMITS.maxSamplesPerJob },
    description: "Most samples of the job: a runaway template or file is an error, not a week of GPU time.",
  },
} as const satisfies Readonly<Record<string, FieldDef & { limit: keyof ManifestLimits }>>;

/** Spec spelling (snake_case under `limits:`) of each limit. */
export const LIMIT_KEYS: Readonly<Record<string, keyof ManifestLimits>> = Object.freeze(
  Object.fromEntries(Object.entries(LIMIT_FIELD_DEFS).map(([k, d]) => [k, d.limit])),
);

/** `output:` as a mapping (it may also be a folder name alone). */
export const OUTPUT_FIELD_DEFS = {
  dir: {
    value: { type: "string" },
    description: "Output folder, or s3://bucket/prefix (relative paths: from the spec's folder).",
  },
  format: {
    value: { type: "enum", values: OUTPUT_FORMAT_NAMES },
    description: "Output format (default: imagefolder).",
  },
} as const satisfies FieldTable;

/** A `prompts:` entry reading a prompts file. */
export const FILE_ENTRY_DEFS = {
  file: {
    value: { type: "promptsFile" },
    description: `A prompts file (${Object.keys(EXTENSIONS).join(", ")}), relative to the spec's folder.`,
    required: true,
  },
} as const satisfies FieldTable;

/** Row fields a template may set for every prompt it makes (not the prompt, nor the id). */
const { prompt: _prompt, id: _id, ...TEMPLATE_ROW_FIELDS } = ROW_FIELD_DEFS;

/** A `prompts:` entry making prompts from a template. */
export const TEMPLATE_ENTRY_DEFS = {
  template: {
    value: { type: "string" },
    description: "A prompt with {name} placeholders; every combination of the vars' values is one prompt.",
    required: true,
  },
  vars: { value: { type: "templateVars" }, description: "Each placeholder's values." },
  ...TEMPLATE_ROW_FIELDS,
} as const satisfies FieldTable;

/** A `prompts:` entry: a prompt, an inline row, a prompts file or a template. */
export const PROMPT_ENTRY_DEF = {
  type: "oneOf",
  options: [
    ROW_FIELD_DEFS.prompt.value,
    { type: "mapping", fields: ROW_FIELD_DEFS },
    { type: "mapping", fields: FILE_ENTRY_DEFS },
    { type: "mapping", fields: TEMPLATE_ENTRY_DEFS },
  ],
} as const satisfies ValueDef;

/** The spec's top level. */
export const SPEC_FIELD_DEFS = {
  model: {
    value: { type: "string" },
    description: "The model folder (ONNX export), relative to the spec's folder.",
    required: true,
    missingHint: 'add "model: <model folder>" to the spec',
  },
  output: {
    value: { type: "oneOf", options: [{ type: "string" }, { type: "mapping", fields: OUTPUT_FIELD_DEFS }] },
    description: "Output folder (or s3://bucket/prefix), or { dir, format }. Default: out/<spec name>.",
  },
  seed: {
    value: { type: "integer", min: 0, max: MAX_SEED },
    description: "The job's seed: rows without a seed of their own get one derived from it.",
  },
  images_per_prompt: {
    ...ROW_FIELD_DEFS.images_per_prompt,
    description: "Images of each prompt (default 1); a row may give its own.",
  },
  defaults: {
    value: { type: "mapping", fields: DEFAULT_FIELD_DEFS },
    description: "Settings every row gets unless it gives its own.",
  },
  prompts: {
    value: { type: "list", items: PROMPT_ENTRY_DEF },
    description:
      "The prompts: strings, inline rows { prompt, ... }, files { file } or templates { template, vars }.",
    required: true,
    missingHint: "add a `prompts:` list (strings, files or templates)",
  },
  limits: {
    value: { type: "mapping", fields: LIMIT_FIELD_DEFS },
    description: "Per-job limits on what the prompts may ask for.",
  },
  max_failed: {
    value: { type: "failureTolerance" },
    description:
      "Failed samples + rejected rows the job may have and still succeed: a count (3), or a percentage " +
      'of its samples + rejected rows ("2%"). Default 0; `--max-failed` on `run`/`submit` overrides it.',
  },
} as const satisfies FieldTable;

export type SpecFieldName = keyof typeof SPEC_FIELD_DEFS;
