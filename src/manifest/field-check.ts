/**
 * Checks one value against its definition (spec-definitions.ts), with the job's limits for bounds that are
 * limits. Throws a FieldError naming the field; the checkers themselves are fields.ts's.
 */
import { type FailureTolerance, parseFailureTolerance } from "../common/contract/failure-tolerance.js";
import type { SchedulerName } from "../common/contract/schedulers.js";
import { isLatentFleetError } from "../common/errors.js";
import { describeValue, FieldError } from "./errors.js";
import { idField, intInRange, numberInRange, schedulerField, sizeField, textField } from "./fields.js";
import type { ManifestLimits } from "./limits.js";
import { EXTENSIONS, sourceFormatOf } from "./paths.js";
import type { Bound, ValueDef } from "./spec-definitions.js";
import type { SourceFormat } from "./types.js";

/** The definitions a single value is checked against (mappings, lists and choices are walked by the parser). */
export type ScalarDef = Extract<
  ValueDef,
  { type: "integer" | "number" | "size" | "text" | "string" | "enum" | "scheduler" | "id" }
>;

export type ValueOf<D extends ScalarDef> = D extends { type: "integer" | "number" | "size" }
  ? number
  : D extends { type: "scheduler" }
    ? SchedulerName
    : D extends { type: "enum"; values: readonly (infer V)[] }
      ? V
      : string;

export function boundOf(bound: Bound, limits: ManifestLimits): number {
  return typeof bound === "number" ? bound : limits[bound];
}

/** `text` is true for CSV cells (strings): then numeric strings count as numbers. */
export function checkValue<D extends ScalarDef>(
  def: D,
  value: unknown,
  field: string,
  limits: ManifestLimits,
  text = false,
): ValueOf<D> {
  return checkScalar(def, value, field, limits, text) as ValueOf<D>;
}

function checkScalar(
  def: ScalarDef,
  value: unknown,
  field: string,
  limits: ManifestLimits,
  text: boolean,
): number | string {
  switch (def.type) {
    case "integer":
      return intInRange(value, field, boundOf(def.min, limits), boundOf(def.max, limits), text);
    case "number":
      return numberInRange(value, field, boundOf(def.min, limits), boundOf(def.max, limits), text);
    case "size":
      return sizeField(value, field, boundOf(def.min, limits), boundOf(def.max, limits), text);
    case "text":
      return textField(value, field, boundOf(def.maxLength, limits), def.allowEmpty);
    case "string":
      if (typeof value !== "string" || value.trim() === "") {
        throw new FieldError(field, `${field} must be a non-empty string, got ${describeValue(value)}`);
      }
      return value;
    case "enum":
      if (typeof value !== "string" || !def.values.includes(value)) {
        throw new FieldError(
          field,
          `${field} must be one of ${def.values.join(", ")}, got ${describeValue(value)}`,
        );
      }
      return value;
    case "scheduler":
      return schedulerField(value, field);
    case "id":
      return idField(value, field);
  }
}

export type ValueCheck<D extends ScalarDef> = (
  value: unknown,
  field: string,
  limits: ManifestLimits,
  text?: boolean,
) => ValueOf<D>;

/**
 * checkValue for one definition, with its type and bounds decided once: what the rows' hot path calls
 * (one small function per field instead of a switch over every kind per value).
 */
export function compileCheck<D extends ScalarDef>(def: D): ValueCheck<D> {
  const lo = "min" in def ? boundReader(def.min) : undefined;
  const hi = "max" in def ? boundReader(def.max) : undefined;
  let check: (value: unknown, field: string, limits: ManifestLimits, text?: boolean) => number | string;
  if (lo && hi && def.type === "integer") check = (v, f, l, t) => intInRange(v, f, lo(l), hi(l), t);
  else if (lo && hi && def.type === "number") check = (v, f, l, t) => numberInRange(v, f, lo(l), hi(l), t);
  else if (lo && hi && def.type === "size") check = (v, f, l, t) => sizeField(v, f, lo(l), hi(l), t);
  else if (def.type === "text") {
    const max = boundReader(def.maxLength);
    const allowEmpty = def.allowEmpty;
    check = (v, f, l) => textField(v, f, max(l), allowEmpty);
  } else if (def.type === "scheduler") check = (v, f) => schedulerField(v, f);
  else if (def.type === "id") check = (v, f) => idField(v, f);
  else check = (v, f, l, t = false) => checkScalar(def, v, f, l, t);
  return check as ValueCheck<D>;
}

function boundReader(bound: Bound): (limits: ManifestLimits) => number {
  return typeof bound === "number" ? () => bound : (limits) => limits[bound];
}

/** A prompts file path: a non-blank string whose extension tells how to read it. */
export function checkPromptsFile(value: unknown, field: string): { path: string; format: SourceFormat } {
  if (typeof value !== "string" || value.trim() === "") {
    throw new FieldError(field, `${field} must be a file path, got ${describeValue(value)}`);
  }
  const format = sourceFormatOf(value);
  if (!format) {
    throw new FieldError(
      field,
      `${field} must end in ${Object.keys(EXTENSIONS).join(", ")} (that tells how to read it), got "${value}"`,
    );
  }
  return { path: value, format };
}

/** `max_failed`: what `--max-failed` takes, a count (a YAML integer or its digits) or "P%". */
export function checkFailureTolerance(value: unknown, field: string): FailureTolerance {
  const text = typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined;
  try {
    if (text !== undefined) return parseFailureTolerance(text);
  } catch (err) {
    if (!isLatentFleetError(err)) throw err;
  }
  throw new FieldError(
    field,
    `${field} must be a count of failures (an integer from 0) or a percentage from 0% to 100% ("2%"), ` +
      `got ${describeValue(value)}`,
  );
}

/** One template variable's values: a non-empty list of strings, numbers or booleans. */
export function checkTemplateValues(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new FieldError(field, `${field} must be a non-empty list of values, got ${describeValue(value)}`);
  }
  const bad = value.find((v) => !TEMPLATE_VALUE_TYPES.includes(typeof v));
  if (bad !== undefined)
    throw new FieldError(field, `${field} must list strings or numbers, got ${describeValue(bad)}`);
  return value.map(String);
}

export const TEMPLATE_VALUE_TYPES: readonly string[] = ["string", "number", "boolean"];
