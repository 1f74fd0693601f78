/**
 * The spec's top level -> JobSpec: model, output, seed, images_per_prompt, defaults, limits (prompts are
 * spec-prompts.ts's). Every failure is a SPEC_INVALID error naming file, line and field.
 */
import { basename, extname } from "node:path";
import {
  DEFAULT_OUTPUT_FORMAT,
  isOutputFormatName,
  OUTPUT_FORMAT_NAMES,
  type OutputFormatName,
} from "../common/contract/output-formats.js";
import { MAX_SEED } from "../common/contract/seed.js";
import { isS3Url, parseS3Url } from "../common/storage/s3-location.js";
import { describeValue } from "./errors.js";
import { intInRange, numberInRange, schedulerField, sizeField, textField } from "./fields.js";
import { DEFAULT_LIMITS, HARD_LIMITS, LIMIT_KEYS, type ManifestLimits } from "./limits.js";
import { resolveFromSpec } from "./paths.js";
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

const TOP_KEYS = ["model", "output", "seed", "images_per_prompt", "defaults", "prompts", "limits"];
const DEFAULT_KEYS = ["steps", "guidance_scale", "scheduler", "width", "height", "negative_prompt"];

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
  const str = (x: Entry, label: string): string => {
    const v = tree.plain(x.value);
    if (typeof v !== "string" || v.trim() === "") {
      tree.fail(x.line, `${label} must be a non-empty string, got ${describeValue(v)}`);
    }
    return v;
  };

  const model = e.get("model");
  if (!model) tree.fail(rootLine, 'model is missing: add "model: <model folder>" to the spec');
  const imagesPerPrompt = e.get("images_per_prompt");
  const seed = e.get("seed");
  const defaults = e.get("defaults");
  const prompts = e.get("prompts");
  if (!prompts)
    tree.fail(rootLine, "prompts is missing: add a `prompts:` list (strings, files or templates)");
  const spec: JobSpec = {
    specFile: tree.file,
    model: resolveFromSpec(tree.file, str(model, "model")),
    output: parseOutput(tree, e.get("output"), options.outputOverride),
    seed: seed ? tree.check(seed.line, () => intInRange(tree.plain(seed.value), "seed", 0, MAX_SEED)) : 0,
    imagesPerPrompt: imagesPerPrompt
      ? tree.check(imagesPerPrompt.line, () =>
          intInRange(tree.plain(imagesPerPrompt.value), "images_per_prompt", 1, limits.maxImagesPerPrompt),
        )
      : 1,
    defaults: defaults ? parseDefaults(tree, defaults, limits) : { ...BUILTIN_DEFAULTS },
    prompts: [],
    limits,
  };
  spec.prompts = parsePrompts(tree, prompts, spec);
  return spec;
}

function parseOutput(tree: SpecTree, x: Entry | undefined, override: string | undefined): JobSpec["output"] {
  let dir = `out/${basename(tree.file, extname(tree.file))}`;
  let format: OutputFormatName = DEFAULT_OUTPUT_FORMAT;
  if (x && tree.isMap(x.value)) {
    for (const f of tree.entries(x.value, ["dir", "format"], "output")) {
      const v = tree.plain(f.value);
      if (f.key === "dir") {
        if (typeof v !== "string" || v.trim() === "") {
          tree.fail(f.line, `output.dir must be a non-empty string, got ${describeValue(v)}`);
        }
        dir = v;
      } else if (typeof v === "string" && isOutputFormatName(v)) {
        format = v;
      } else {
        tree.fail(
          f.line,
          `output.format must be one of ${OUTPUT_FORMAT_NAMES.join(", ")}, got ${describeValue(v)}`,
        );
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
    tree.check(f.line, () => {
      if (f.key === "steps") d.steps = intInRange(v, label, 1, limits.maxSteps);
      else if (f.key === "guidance_scale")
        d.guidanceScale = numberInRange(v, label, 0, limits.maxGuidanceScale);
      else if (f.key === "scheduler") d.scheduler = schedulerField(v, label);
      else if (f.key === "width") d.width = sizeField(v, label, limits.minSize, limits.maxSize);
      else if (f.key === "height") d.height = sizeField(v, label, limits.minSize, limits.maxSize);
      else d.negativePrompt = textField(v, label, limits.maxPromptLength, true);
    });
  }
  return d;
}

function parseLimits(tree: SpecTree, x: Entry | undefined): ManifestLimits {
  const limits: { -readonly [K in keyof ManifestLimits]: number } = { ...DEFAULT_LIMITS };
  if (!x) return limits;
  if (!tree.isMap(x.value))
    tree.fail(x.line, `limits must be a mapping (${Object.keys(LIMIT_KEYS).join(", ")})`);
  for (const f of tree.entries(x.value, Object.keys(LIMIT_KEYS), "limits")) {
    const key = LIMIT_KEYS[f.key];
    const v = tree.plain(f.value);
    const label = `limits.${f.key}`;
    tree.check(f.line, () => {
      if (key === "maxGuidanceScale") limits[key] = numberInRange(v, label, 0, HARD_LIMITS[key]);
      else if (key === "minSize" || key === "maxSize") {
        limits[key] = sizeField(v, label, HARD_LIMITS.minSize, HARD_LIMITS.maxSize);
      } else limits[key] = intInRange(v, label, 1, HARD_LIMITS[key]);
    });
  }
  if (limits.minSize > limits.maxSize) {
    tree.fail(
      x.line,
      `limits.min_size (${limits.minSize}) must not exceed limits.max_size (${limits.maxSize})`,
    );
  }
  return limits;
}
