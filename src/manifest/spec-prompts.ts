/**
 * The spec's `prompts:` list -> PromptSources. Each entry is a prompt string, an inline row
 * `{ prompt, ... }`, a file `{ file }` (.jsonl, .csv, .parquet, .txt) or a template `{ template, vars }`
 * (which may also set row fields such as steps or negative_prompt for all its prompts).
 */
import type { Node, YAMLMap } from "yaml";
import { describeValue, FieldError } from "./errors.js";
import { checkPromptsFile, checkTemplateValues, checkValue } from "./field-check.js";
import { DEFAULT_LIMITS } from "./limits.js";
import { resolveFromSpec } from "./paths.js";
import { ROW_FIELDS, resolveRow } from "./row.js";
import { FILE_ENTRY_DEFS, PROMPT_ENTRY_DEF, TEMPLATE_ENTRY_DEFS } from "./spec-definitions.js";
import { parseTemplate, templateSize } from "./template.js";
import type { JobSpec, PromptSource, RowValues } from "./types.js";
import type { Entry, SpecTree } from "./yaml-nodes.js";

/** The key that tells each kind of mapping entry apart: `prompt`, `file`, `template`. */
const ENTRY_KINDS = PROMPT_ENTRY_DEF.options.flatMap((o) =>
  o.type === "mapping"
    ? Object.entries(o.fields)
        .filter(([, def]) => "required" in def && def.required)
        .map(([key]) => key)
    : [],
);
const ENTRY_HELP = "a prompt string, or a mapping with `prompt`, `file` or `template`";

export function parsePrompts(tree: SpecTree, x: Entry, spec: JobSpec): PromptSource[] {
  if (!tree.isSeq(x.value) || x.value.items.length === 0) {
    tree.fail(x.line, `prompts must be a non-empty list of ${ENTRY_HELP}s`);
  }
  return tree.items(x.value).map((node, i) => parseEntry(tree, node, `prompts[${i}]`, spec, x.line));
}

function parseEntry(
  tree: SpecTree,
  node: Node | null,
  label: string,
  spec: JobSpec,
  at: number,
): PromptSource {
  const line = tree.line(node, at);
  if (!tree.isMap(node)) {
    const v = tree.plain(node);
    if (typeof v !== "string") tree.fail(line, `${label} must be ${ENTRY_HELP}, got ${describeValue(v)}`);
    const values = { prompt: v };
    checkRow(tree, values, spec, `${label}.`, () => line);
    return { kind: "inline", line, values };
  }
  const keys = node.items.map((p) => String(tree.plain(tree.resolve(p.key))));
  const kinds = ENTRY_KINDS.filter((k) => keys.includes(k));
  if (kinds.length !== 1) {
    tree.fail(
      line,
      kinds.length === 0
        ? `${label} must be ${ENTRY_HELP}; it has ${keys.map((k) => `\`${k}\``).join(", ") || "no keys"}`
        : `${label} has ${kinds.map((k) => `\`${k}\``).join(" and ")}: give one of them per entry`,
    );
  }
  if (kinds[0] === "file") return parseFile(tree, node, label, spec, line);
  if (kinds[0] === "template") return parseTemplateEntry(tree, node, label, spec, line);
  const entries = tree.entries(node, ROW_FIELDS, label);
  const values: RowValues = {};
  for (const f of entries) values[f.key] = tree.plain(f.value);
  checkRow(tree, values, spec, `${label}.`, (key) => entries.find((f) => f.key === key)?.line ?? line);
  return { kind: "inline", line, values };
}

/** Validates a row written in the spec now, so a bad one stops the job before it starts. */
function checkRow(
  tree: SpecTree,
  values: RowValues,
  spec: JobSpec,
  prefix: string,
  lineOf: (key: string) => number,
): void {
  try {
    resolveRow(values, spec, false, prefix);
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    tree.fail(lineOf((err.field ?? "").slice(prefix.length)), err.message);
  }
}

function parseFile(tree: SpecTree, node: YAMLMap, label: string, spec: JobSpec, line: number): PromptSource {
  const [f] = tree.entries(node, Object.keys(FILE_ENTRY_DEFS), label);
  const { path: written, format } = tree.check(f.line, () =>
    checkPromptsFile(tree.plain(f.value), `${label}.file`),
  );
  const path = resolveFromSpec(spec.specFile, written);
  return { kind: "file", line, format, path, display: path };
}

function parseTemplateEntry(
  tree: SpecTree,
  node: YAMLMap,
  label: string,
  spec: JobSpec,
  line: number,
): PromptSource {
  const entries = tree.entries(node, Object.keys(TEMPLATE_ENTRY_DEFS), label);
  const t = entries.find((f) => f.key === "template")!;
  const text = tree.check(t.line, () =>
    checkValue(TEMPLATE_ENTRY_DEFS.template.value, tree.plain(t.value), `${label}.template`, DEFAULT_LIMITS),
  );
  const parsed = tree.check(t.line, () => parseTemplate(text, `${label}.template`));
  const vars: { name: string; values: string[] }[] = [];
  const varsEntry = entries.find((f) => f.key === "vars");
  if (varsEntry && !tree.isMap(varsEntry.value)) {
    tree.fail(varsEntry.line, `${label}.vars must be a mapping of variable name to list of values`);
  }
  if (varsEntry && tree.isMap(varsEntry.value)) {
    for (const pair of varsEntry.value.items) {
      const key = tree.resolve(pair.key);
      const name = String(tree.plain(key));
      const valueNode = tree.resolve(pair.value);
      const at = tree.line(valueNode, tree.line(key, varsEntry.line));
      const field = `${label}.vars.${name}`;
      const values = tree.check(at, () => checkTemplateValues(tree.plain(valueNode), field));
      if (!parsed.names.includes(name)) {
        tree.fail(at, `${field} is defined but ${label}.template never uses {${name}}: use it or remove it`);
      }
      vars.push({ name, values });
    }
  }
  const missing = parsed.names.find((n) => !vars.some((v) => v.name === n));
  if (missing) {
    tree.fail(t.line, `${label}.template uses {${missing}}, but ${label}.vars does not define it`);
  }
  const size = templateSize(vars);
  if (size > spec.limits.maxSamplesPerJob) {
    tree.fail(
      line,
      `${label} makes ${size} prompts, more than limits.max_samples_per_job (${spec.limits.maxSamplesPerJob})`,
    );
  }
  const overrides: RowValues = {};
  for (const f of entries)
    if (f.key !== "template" && f.key !== "vars") overrides[f.key] = tree.plain(f.value);
  // Check the fields once with a stand-in prompt; every generated row shares them.
  checkRow(
    tree,
    { ...overrides, prompt: "x" },
    spec,
    `${label}.`,
    (key) => entries.find((f) => f.key === key)?.line ?? line,
  );
  return { kind: "template", line, template: text, vars, overrides };
}
