/**
 * The job spec's JSON Schema (draft-07, what editors' YAML and JSON plugins read), generated from the same
 * definitions the parser checks against (spec-definitions.ts). Bounds that are job limits get their
 * hard ceiling (a spec's `limits:` may raise the default up to it); what a schema cannot say (files that
 * must exist, template variables that must be used, min_size <= max_size, seed + images_per_prompt) is
 * the parser's alone. `npm run gen:schema` writes it to schema/job-spec.schema.json.
 */
import { schedulerKeys } from "../common/contract/schedulers.js";
import { ID_PATTERN } from "./fields.js";
import { HARD_LIMITS, SIZE_MULTIPLE } from "./limits.js";
import { EXTENSIONS } from "./paths.js";
import { type Bound, type FieldTable, SPEC_FIELD_DEFS, type ValueDef } from "./spec-definitions.js";

export const SPEC_SCHEMA_ID = "https://latent-fleet.dev/schema/job-spec.schema.json";

export type JsonSchema = { [key: string]: unknown };

export function specJsonSchema(): JsonSchema {
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: SPEC_SCHEMA_ID,
    title: "Latent Fleet job spec",
    description:
      "A job for `latent-fleet run`, `submit` and `validate`: the model, the output and the prompts.",
    ...mappingSchema(SPEC_FIELD_DEFS),
  };
}

function hard(bound: Bound): number {
  return typeof bound === "number" ? bound : HARD_LIMITS[bound];
}

/** Not blank: what the parser's `trim() !== ""` asks. */
const NOT_BLANK = "\\S";
/** A count's digits, or a percentage from 0% to 100%, blanks around allowed: what parseFailureTolerance takes. */
const FAILURE_TOLERANCE_PATTERN = "^\\s*(?:\\d+|0*(?:100(?:\\.0+)?|\\d{1,2}(?:\\.\\d+)?)%)\\s*$";
/** No U+FFFD: the parser reads it as text that was not UTF-8. */
const NO_REPLACEMENT_CHAR = "^[^\\uFFFD]*$";

function schemaOf(def: ValueDef): JsonSchema {
  switch (def.type) {
    case "integer":
      return { type: "integer", minimum: hard(def.min), maximum: hard(def.max) };
    case "number":
      return { type: "number", minimum: hard(def.min), maximum: hard(def.max) };
    case "size":
      return { type: "integer", minimum: hard(def.min), maximum: hard(def.max), multipleOf: SIZE_MULTIPLE };
    case "text":
      return {
        type: "string",
        maxLength: hard(def.maxLength),
        allOf: [{ pattern: NO_REPLACEMENT_CHAR }, ...(def.allowEmpty ? [] : [{ pattern: NOT_BLANK }])],
      };
    case "string":
      return { type: "string", pattern: NOT_BLANK };
    case "enum":
      return { type: "string", enum: [...def.values] };
    case "scheduler":
      return { type: "string", pattern: schedulerPattern() };
    case "id":
      return {
        anyOf: [
          { type: "string", pattern: ID_PATTERN.source },
          { type: "integer", minimum: 0 },
        ],
      };
    case "promptsFile":
      return {
        type: "string",
        pattern: `\\.(?:${Object.keys(EXTENSIONS)
          .map((e) => anyCase(e.slice(1)))
          .join("|")})$`,
      };
    case "templateVars":
      return {
        type: "object",
        additionalProperties: {
          type: "array",
          minItems: 1,
          items: { type: ["string", "number", "boolean"] },
        },
      };
    case "mapping":
      return mappingSchema(def.fields);
    case "list":
      return { type: "array", minItems: 1, items: schemaOf(def.items) };
    case "oneOf":
      return { oneOf: def.options.map(schemaOf) };
    case "failureTolerance":
      return {
        anyOf: [
          { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
          { type: "string", pattern: FAILURE_TOLERANCE_PATTERN },
        ],
      };
  }
}

function mappingSchema(fields: FieldTable): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [key, field] of Object.entries(fields)) {
    properties[key] = { description: field.description, ...schemaOf(field.value) };
  }
  const required = Object.entries(fields)
    .filter(([, f]) => f.required)
    .map(([k]) => k);
  return {
    type: "object",
    properties,
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
  };
}

/** Letters in either case, as `[eE]`: JSON Schema patterns have no case-insensitive flag. */
function anyCase(text: string): string {
  return [...text]
    .map((c) =>
      c.toLowerCase() !== c.toUpperCase() ? `[${c.toLowerCase()}${c.toUpperCase()}]` : escapeRegExpChar(c),
    )
    .join("");
}

function escapeRegExpChar(c: string): string {
  return /[\\^$.*+?()[\]{}|]/.test(c) ? `\\${c}` : c;
}

/**
 * Every spelling parseSchedulerName takes: surrounding blanks, any case, blanks or `-` for `_`, `++` for
 * `pp` (see its normal form).
 */
function schedulerPattern(): string {
  const one = (key: string) =>
    key
      .split("_")
      .map((part) => part.split("pp").map(anyCase).join("(?:[pP][pP]|\\+\\+)"))
      .join("(?:_|[\\s-]+)");
  return `^\\s*(?:${schedulerKeys().map(one).join("|")})\\s*$`;
}

/** The schema file's text, as shipped in schema/job-spec.schema.json. */
export function specSchemaText(): string {
  return `${JSON.stringify(specJsonSchema(), null, 2)}\n`;
}
