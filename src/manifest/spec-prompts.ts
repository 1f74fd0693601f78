/**
 * The spec's `prompts:` list -> PromptSources. Each entry is a prompt string, an inline row
 * `{ prompt, ... }`, a file `{ file }` (.jsonl, .csv, .parquet, .txt) or a template `{ template, vars }`
 * (which may also set row fields such as steps or negative_prompt for all its prompts).
 */
import type { Node, YAMLMap } from "yaml";
import { describeValue, FieldError } from "./errors.js";
import { EXTENSIONS, resolveFromSpec, sourceFormatOf } from "./paths.js";
import { ROW_FIELDS, resolveRow } from "./row.js";
import { parseTemplate, templateSize } from "./template.js";
import type { JobSpec, PromptSource, RowValues } from "./types.js";
import type { Entry, SpecTree } from "./yaml-nodes.js";

const TEMPLATE_FIELDS = ROW_FIELDS.filter((f) => f !== "prompt" && f !== "id");
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
  const kinds = ["prompt", "file", "template"].filter((k) => keys.includes(k));
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
  const [f] = tree.entries(node, ["file"], label);
  const written = tree.plain(f.value);
  if (typeof written !== "string" || written.trim() === "") {
    tree.fail(f.line, `${label}.file must be a file path, got ${describeValue(written)}`);
  }
  const format = sourceFormatOf(written);
  if (!format) {
    tree.fail(
      f.line,
      `${label}.file must end in ${Object.keys(EXTENSIONS).join(", ")} (that tells how to read it), got "${written}"`,
    );
  }
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
  const entries = tree.entries(node, ["template", "vars", ...TEMPLATE_FIELDS], label);
  const t = entries.find((f) => f.key === "template")!;
  const text = tree.plain(t.value);
  if (typeof text !== "string" || text.trim() === "") {
    tree.fail(t.line, `${label}.template must be a non-empty string, got ${describeValue(text)}`);
  }
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
      const list = tree.plain(valueNode);
      const field = `${label}.vars.${name}`;
      if (!Array.isArray(list) || list.length === 0) {
        tree.fail(at, `${field} must be a non-empty list of values, got ${describeValue(list)}`);
      }
      const bad = list.find((v) => !["string", "number", "boolean"].includes(typeof v));
      if (bad !== undefined)
        tree.fail(at, `${field} must list strings or numbers, got ${describeValue(bad)}`);
      if (!parsed.names.includes(name)) {
        tree.fail(at, `${field} is defined but ${label}.template never uses {${name}}: use it or remove it`);
      }
      vars.push({ name, values: list.map(String) });
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
