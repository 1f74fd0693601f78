/**
 * The job spec's JSON Schema against the parser: the shipped file is what the generator writes, and every
 * example and spec fixture (good and bad) is judged alike by a real JSON Schema validator (Ajv) and by the
 * parser, which must also blame the same field. Cases the schema cannot judge are listed with the reason.
 */
import { readdirSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseSchedulerName } from "../../../src/common/contract/schedulers.js";
import { isLatentFleetError } from "../../../src/common/errors.js";
import { loadSpec, sourceFormatOf, specJsonSchema } from "../../../src/manifest/index.js";
import { ROOT } from "../../helpers/paths.js";

const SCHEMA_FILE = join(ROOT, "schema", "job-spec.schema.json");

function specFiles(dir: string, match: RegExp): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => match.test(f))
    .map((f) => join(dir, f));
}

const SPECS = [
  ...specFiles(join(ROOT, "examples"), /\.ya?ml$/),
  ...specFiles(join(ROOT, "test", "fixtures", "bad-input", "specs"), /\.(ya?ml|json)$/),
  ...specFiles(join(ROOT, "test", "fixtures", "manifests"), /\.(ya?ml|json)$/),
].map((f) => relative(ROOT, f));

/** Specs the schema accepts and the parser refuses, for a reason no JSON Schema can express. */
const PARSER_ONLY: Record<string, string> = {
  "test/fixtures/bad-input/specs/file-missing.yaml": "a prompts file must exist",
  "test/fixtures/bad-input/specs/file-is-folder.yaml": "a prompts file must be a file",
  "test/fixtures/bad-input/specs/file-outside.yaml": "a prompts file must exist and be readable",
  "test/fixtures/manifests/mixed/job.yaml": "its prompts.parquet is written by its test: a file must exist",
  "test/fixtures/bad-input/specs/template-unknown-var.yaml": "a template must use every variable it defines",
  "test/fixtures/bad-input/specs/template-explosion.yaml":
    "a template's size (product of its vars) must stay under limits.max_samples_per_job",
  "test/fixtures/bad-input/specs/inline-prompt-too-long.yaml":
    "the prompt is over the default limits.max_prompt_length; the schema can only bound it by the ceiling " +
    "a spec's limits may raise it to (a bound that depends on another field's value)",
};

/** Refused by both, where the schema cannot name the field the parser names. */
const FIELD_UNNAMED: Record<string, string> = {
  "test/fixtures/bad-input/specs/invalid-utf8.yaml":
    "the parser refuses the file's bytes before reading fields; the schema sees U+FFFD in the prompt",
};

/** `fields`: how the parser's message may start, one per field Ajv found wrong. */
type Verdict = { ok: true } | { ok: false; fields: string[]; message: string };

const ajv = new Ajv({ strict: true, allowUnionTypes: true, strictNumbers: true, allErrors: true });
const validate = ajv.compile(specJsonSchema());

/** `/prompts/0/steps` -> `prompts[0].steps`. */
function fieldLabel(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join("");
}

/** What the parser's message starts with when it blames the field of Ajv's error `e`. */
function expectedStart(e: ErrorObject): string {
  const at = fieldLabel(e.instancePath);
  if (e.keyword === "additionalProperties") return `unknown key "${String(e.params.additionalProperty)}"`;
  if (e.keyword === "required") {
    return `${at ? `${at}.` : ""}${String(e.params.missingProperty)} is missing`;
  }
  return at === "" ? "the spec" : at;
}

async function schemaVerdict(file: string): Promise<Verdict> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(join(ROOT, file), "utf8"));
  } catch (err) {
    return { ok: false, fields: [], message: `not a YAML document: ${(err as Error).message}` };
  }
  if (validate(doc)) return { ok: true };
  const errors = validate.errors ?? [];
  return { ok: false, fields: [...new Set(errors.map(expectedStart))], message: ajv.errorsText(errors) };
}

async function parserVerdict(file: string): Promise<Verdict> {
  try {
    await loadSpec(join(ROOT, file));
    return { ok: true };
  } catch (err) {
    if (!isLatentFleetError(err)) throw err;
    // "<file>:<line>: message"
    const message = err.message.replace(/^.*?:\d+: /, "");
    return { ok: false, fields: [], message };
  }
}

/**
 * Shapes no fixture has, written to a temporary folder next to a real prompts file: name -> [spec, the
 * verdict both must give, or "parser-only" with the reason].
 */
const INLINE: Record<string, { yaml: string; ok: boolean; parserOnly?: string }> = {
  "output-s3-string": { yaml: 'output: s3://bucket/prefix\nprompts: ["a"]', ok: true },
  "output-format-only": { yaml: 'output: { format: webdataset }\nprompts: ["a"]', ok: true },
  "limits-raise-steps": {
    yaml: 'limits: { max_steps: 800 }\ndefaults: { steps: 800 }\nprompts: ["a"]',
    ok: true,
  },
  "steps-over-default-limit": {
    yaml: 'defaults: { steps: 800 }\nprompts: ["a"]',
    ok: false,
    parserOnly: "over the default limits.max_steps (500); the schema bounds it by the ceiling (1000)",
  },
  "template-with-id": { yaml: 'prompts:\n  - { template: "a {x}", vars: { x: [1, 2] }, id: t }', ok: false },
  "template-with-steps": {
    yaml: 'prompts:\n  - { template: "a {x}", vars: { x: [1, 2] }, steps: 4 }',
    ok: true,
  },
  "prompt-and-file": { yaml: "prompts:\n  - { prompt: a, file: rows.jsonl }", ok: false },
  "file-entry-extra-key": { yaml: "prompts:\n  - { file: rows.jsonl, steps: 4 }", ok: false },
  "inline-row-full": {
    yaml: 'prompts:\n  - { prompt: a, id: 7, seed: 3, scheduler: "DPM++ 2M Karras", width: 64, height: 72, images_per_prompt: 2 }',
    ok: true,
  },
  "inline-row-blank-prompt": { yaml: 'prompts:\n  - { prompt: "   " }', ok: false },
  "negative-prompt-empty": { yaml: 'defaults: { negative_prompt: "" }\nprompts: ["a"]', ok: true },
  "id-bad": { yaml: 'prompts:\n  - { prompt: a, id: "../x" }', ok: false },
  "guidance-float": { yaml: 'defaults: { guidance_scale: 7.5 }\nprompts: ["a"]', ok: true },
  "size-not-multiple-in-limits": { yaml: 'limits: { min_size: 12 }\nprompts: ["a"]', ok: false },
  "vars-bad-value": { yaml: 'prompts:\n  - { template: "a {x}", vars: { x: [[1]] } }', ok: false },
};

describe("job spec JSON Schema", () => {
  let inlineDir: string;

  beforeAll(async () => {
    inlineDir = await mkdtemp(join(tmpdir(), "lf-spec-schema-"));
    await writeFile(join(inlineDir, "rows.jsonl"), '{"prompt": "a"}\n');
    for (const [name, c] of Object.entries(INLINE)) {
      await writeFile(join(inlineDir, `${name}.yaml`), `model: m\n${c.yaml}\n`);
    }
  });
  afterAll(async () => {
    await rm(inlineDir, { recursive: true, force: true });
  });

  it.each(Object.entries(INLINE))("inline %s: Ajv and the parser agree", async (name, c) => {
    const file = relative(ROOT, join(inlineDir, `${name}.yaml`));
    const [schema, parser] = await Promise.all([schemaVerdict(file), parserVerdict(file)]);
    const says = `schema: ${schema.ok ? "accepted" : schema.message}; parser: ${parser.ok ? "accepted" : parser.message}`;
    expect(parser.ok, says).toBe(c.ok);
    expect(schema.ok, says).toBe(c.parserOnly ? true : c.ok);
    if (!schema.ok && !parser.ok && schema.fields.length > 0) {
      expect(
        schema.fields.some((f) => parser.message.startsWith(f)),
        says,
      ).toBe(true);
    }
  });

  it("schema/job-spec.schema.json is what `npm run gen:schema` writes", async () => {
    const shipped = JSON.parse(await readFile(SCHEMA_FILE, "utf8"));
    expect(shipped, "stale: run npm run gen:schema").toEqual(specJsonSchema());
  });

  it("the examples point editors at the shipped schema", async () => {
    for (const file of specFiles(join(ROOT, "examples"), /\.ya?ml$/)) {
      const text = await readFile(file, "utf8");
      expect(text, file).toMatch(/^# yaml-language-server: \$schema=\.\.\/schema\/job-spec\.schema\.json\n/);
    }
  });

  it("finds the spec fixtures", () => {
    expect(SPECS.length).toBeGreaterThan(35);
    for (const file of [...Object.keys(PARSER_ONLY), ...Object.keys(FIELD_UNNAMED)]) {
      expect(SPECS, `${file} listed but not found`).toContain(file);
    }
  });

  it.each(SPECS)("%s: Ajv and the parser agree", async (file) => {
    const [schema, parser] = await Promise.all([schemaVerdict(file), parserVerdict(file)]);
    const reason = PARSER_ONLY[file];
    if (reason) {
      // Listed: the schema accepts it, the parser does not (and must keep refusing it).
      expect(schema, `${file}: the schema now refuses it; unlist it`).toEqual({ ok: true });
      expect(parser.ok, `${file}: parser-only case (${reason}) accepted by the parser`).toBe(false);
      return;
    }
    const parserSays = parser.ok ? "accepted" : parser.message;
    const schemaSays = schema.ok ? "accepted" : schema.message;
    expect(schema.ok, `schema: ${schemaSays}; parser: ${parserSays}`).toBe(parser.ok);
    // A document that is not YAML has no fields to blame.
    if (schema.ok || parser.ok || schema.fields.length === 0 || FIELD_UNNAMED[file]) return;
    const blamed = schema.fields.some((f) => parser.message.startsWith(f));
    expect(blamed, `schema: ${schemaSays}; parser: ${parserSays}`).toBe(true);
  });

  /** One property's schema, read from the generated schema. */
  function propertySchema(path: string[]): object {
    let node: unknown = specJsonSchema();
    for (const key of path) node = (node as Record<string, unknown>)[key];
    return node as object;
  }

  it.each([
    "euler",
    "Euler",
    " DPM++ 2M Karras ",
    "dpmpp-2m",
    "EulerDiscreteScheduler",
    "euler_a",
    "Euler A",
    "euler__ancestral",
    "euler ancestral scheduler",
    "pndm",
    "",
    "ddim2",
  ])("scheduler %j: the schema's pattern and the parser agree", (name) => {
    const schema = ajv.validate(propertySchema(["properties", "defaults", "properties", "scheduler"]), name);
    let parsed = true;
    try {
      parseSchedulerName(name);
    } catch {
      parsed = false;
    }
    expect(schema).toBe(parsed);
  });

  it.each(["a.jsonl", "a.NDJSON", "dir/a.csv", "a.Parquet", "a.pq", "a.txt", "a.xlsx", "a.txt.bak", "jsonl"])(
    "prompts file %j: the schema's pattern and the parser agree",
    (path) => {
      const entry = propertySchema(["properties", "prompts", "items", "oneOf", "2", "properties", "file"]);
      expect(ajv.validate(entry, path)).toBe(sourceFormatOf(path) !== undefined);
    },
  );
});
