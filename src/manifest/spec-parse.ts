/**
 * The spec's top level -> JobSpec: model, output, seed, images_per_prompt, defaults, limits, max_failed
 * (prompts are spec-prompts.ts's). Every failure is a SPEC_INVALID error naming file, line and field.
 */
import { basename, extname } from "node:path";
import {
  DEFAULT_OUTPUT_FORMAT,
  isOutputFormatName,
  type OutputFormatName,
} from "../common/contract/output-formats.js";
import { isS3Url, parseS3Url } from "../common/storage/s3-location.js";
import { describeValue } from "./errors.js";
import { checkFailureTolerance, checkValue } from "./field-check.js";
import { DEFAULT_LIMITS, type ManifestLimits } from "./limits.js";
import { resolveFromSpec } from "./paths.js";
import {
  DEFAULT_FIELD_DEFS,
  type FieldTable,
  LIMIT_FIELD_DEFS,
  OUTPUT_FIELD_DEFS,
  SPEC_FIELD_DEFS,
} from "./spec-definitions.js";
import { parsePrompts } from "./spec-prompts.js";
import type { JobSpec, SampleDefaults } from "./types.js";
import type { Entry, SpecTree } from "./yaml-nodes.js";

/** What a spec gets when it says nothing (scheduler and size: null, the model's own). */
export const BUILTIN_DEFAULTS: SampleDefaults = Object.freeze({
  steps: 20,
  guidanceScale: 4,
  scheduler: null,
  width: null,
  height: null,
  negativePrompt: "",
});

const TOP_KEYS = Object.keys(SPEC_FIELD_DEFS);
const DEFAULT_KEYS = Object.keys(DEFAULT_FIELD_DEFS);
const LIMIT_NAMES = Object.keys(LIMIT_FIELD_DEFS);

export interface ParseOptions {
  /** `--out`: replaces the spec's output folder (its format stays). */
  outputOverride?: string;
}

export function parseSpecTree(tree: SpecTree, options: ParseOptions = {}): JobSpec {
  const root = tree.root;
  if (!tree.isMap(root)) {
    tree.fail(tree.line(root), "the spec must be a mapping with at least `model` and `prompts`");
  }
  const rootLine = tree.line(root);
  const e = new Map(tree.entries(root, TOP_KEYS, "the spec").map((x) => [x.key, x]));
  const limits = parseLimits(tree, e.get("limits"));
  const top: FieldTable = SPEC_FIELD_DEFS;
  for (const [name, def] of Object.entries(top)) {
    if (def.required && !e.has(name)) tree.fail(rootLine, `${name} is missing: ${def.missingHint}`);
  }
  const field = <T>(key: string, check: (v: unknown) => T): T => {
    const x = e.get(key) as Entry;
    return tree.check(x.line, () => check(tree.plain(x.value)));
  };
  const F = SPEC_FIELD_DEFS;
  const defaults = e.get("defaults");
  const prompts = e.get("prompts") as Entry;
  const spec: JobSpec = {
    specFile: tree.file,
    model: resolveFromSpec(
      tree.file,
      field("model", (v) => checkValue(F.model.value, v, "model", limits)),
    ),
    output: parseOutput(tree, e.get("output"), options.outputOverride),
    seed: e.has("seed") ? field("seed", (v) => checkValue(F.seed.value, v, "seed", limits)) : 0,
    imagesPerPrompt: e.has("images_per_prompt")
      ? field("images_per_prompt", (v) =>
          checkValue(F.images_per_prompt.value, v, "images_per_prompt", limits),
        )
      : 1,
    defaults: defaults ? parseDefaults(tree, defaults, limits) : { ...BUILTIN_DEFAULTS },
    prompts: [],
    limits,
    ...(e.has("max_failed")
      ? { maxFailed: field("max_failed", (v) => checkFailureTolerance(v, "max_failed")) }
      : {}),
  };
  spec.prompts = parsePrompts(tree, prompts, spec);
  return spec;
}

function parseOutput(tree: SpecTree, x: Entry | undefined, override: string | undefined): JobSpec["output"] {
  let dir = `out/${basename(tree.file, extname(tree.file))}`;
  let format: OutputFormatName = DEFAULT_OUTPUT_FORMAT;
  if (x && tree.isMap(x.value)) {
    for (const f of tree.entries(x.value, Object.keys(OUTPUT_FIELD_DEFS), "output")) {
      const v = tree.plain(f.value);
      const label = `output.${f.key}`;
      if (f.key === "dir")
        dir = tree.check(f.line, () => checkValue(OUTPUT_FIELD_DEFS.dir.value, v, label, DEFAULT_LIMITS));
      else {
        const name = tree.check(f.line, () =>
          checkValue(OUTPUT_FIELD_DEFS.format.value, v, label, DEFAULT_LIMITS),
        );
        if (isOutputFormatName(name)) format = name;
      }
    }
  } else if (x) {
    const v = tree.plain(x.value);
    if (typeof v !== "string" || v.trim() === "") {
      tree.fail(x.line, `output must be a folder name or { dir, format }, got ${describeValue(v)}`);
    }
    dir = v;
  }
  if (override === undefined && isS3Url(dir)) {
    try {
      parseS3Url(dir);
    } catch (err) {
      tree.fail(x?.line ?? 1, `output: ${(err as Error).message}`);
    }
    return { dir, format };
  }
  return { dir: override ?? resolveFromSpec(tree.file, dir), format };
}

function parseDefaults(tree: SpecTree, x: Entry, limits: ManifestLimits): SampleDefaults {
  if (!tree.isMap(x.value)) {
    tree.fail(x.line, `defaults must be a mapping (${DEFAULT_KEYS.join(", ")})`);
  }
  const d: SampleDefaults = { ...BUILTIN_DEFAULTS };
  for (const f of tree.entries(x.value, DEFAULT_KEYS, "defaults")) {
    const v = tree.plain(f.value);
    const label = `defaults.${f.key}`;
    const D = DEFAULT_FIELD_DEFS;
    tree.check(f.line, () => {
      if (f.key === "steps") d.steps = checkValue(D.steps.value, v, label, limits);
      else if (f.key === "guidance_scale")
        d.guidanceScale = checkValue(D.guidance_scale.value, v, label, limits);
      else if (f.key === "scheduler") d.scheduler = checkValue(D.scheduler.value, v, label, limits);
      else if (f.key === "width") d.width = checkValue(D.width.value, v, label, limits);
      else if (f.key === "height") d.height = checkValue(D.height.value, v, label, limits);
      else d.negativePrompt = checkValue(D.negative_prompt.value, v, label, limits);
    });
  }
  return d;
}

function parseLimits(tree: SpecTree, x: Entry | undefined): ManifestLimits {
  const limits: { -readonly [K in keyof ManifestLimits]: number } = { ...DEFAULT_LIMITS };
  if (!x) return limits;
  if (!tree.isMap(x.value)) tree.fail(x.line, `limits must be a mapping (${LIMIT_NAMES.join(", ")})`);
  for (const f of tree.entries(x.value, LIMIT_NAMES, "limits")) {
    const def = LIMIT_FIELD_DEFS[f.key as keyof typeof LIMIT_FIELD_DEFS];
    const v = tree.plain(f.value);
    // Bounds of limits are fixed numbers (HARD_LIMITS): the limits given so far play no part.
    limits[def.limit] = tree.check(f.line, () => checkValue(def.value, v, `limits.${f.key}`, DEFAULT_LIMITS));
  }
  if (limits.minSize > limits.maxSize) {
    tree.fail(
      x.line,
      `limits.min_size (${limits.minSize}) must not exceed limits.max_size (${limits.maxSize})`,
    );
  }
  return limits;
}
