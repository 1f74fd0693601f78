/**
 * Field checkers shared by the spec and the rows. Each returns the typed value or throws a FieldError whose
 * message names the field, what it must be, and what it got. `text` is true for CSV cells, which are
 * strings: then numeric strings count as numbers.
 */

import { parseSchedulerName, type SchedulerName } from "../common/contract/schedulers.js";
import { LatentFleetError } from "../common/errors.js";
import { describeValue, FieldError } from "./errors.js";
import { SIZE_MULTIPLE } from "./limits.js";

// Plain decimal notation only: Number() alone would also take "0x1f", "Infinity" and "".
const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function asNumber(value: unknown, text: boolean): number {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (text && typeof value === "string") {
    const t = value.trim();
    if (NUMERIC.test(t)) return Number(t);
  }
  return Number.NaN;
}

export function intInRange(value: unknown, field: string, lo: number, hi: number, text = false): number {
  const n = asNumber(value, text);
  if (Number.isInteger(n) && n >= lo && n <= hi) return n;
  throw new FieldError(field, `${field} must be an integer in [${lo}, ${hi}], got ${describeValue(value)}`);
}

export function numberInRange(value: unknown, field: string, lo: number, hi: number, text = false): number {
  const n = asNumber(value, text);
  if (Number.isFinite(n) && n >= lo && n <= hi) return n;
  throw new FieldError(field, `${field} must be a number in [${lo}, ${hi}], got ${describeValue(value)}`);
}

/** An image side: an integer in range and a multiple of the VAE's factor. */
export function sizeField(value: unknown, field: string, lo: number, hi: number, text = false): number {
  const n = intInRange(value, field, lo, hi, text);
  if (n % SIZE_MULTIPLE !== 0) {
    throw new FieldError(field, `${field} must be a multiple of ${SIZE_MULTIPLE}, got ${n}`);
  }
  return n;
}

/** A prompt-like string of at most `max` characters; `allowEmpty` is false for prompts. */
export function textField(value: unknown, field: string, max: number, allowEmpty: boolean): string {
  if (typeof value !== "string") {
    throw new FieldError(field, `${field} must be a string, got ${describeValue(value)}`);
  }
  if (value.length > max) {
    throw new FieldError(
      field,
      `${field} is ${value.length} characters long; the limit is ${max} (limits.max_prompt_length)`,
    );
  }
  if (!allowEmpty && value.trim() === "") throw new FieldError(field, `${field} must not be empty`);
  // What UTF-8 decoders put for bytes that are not UTF-8 (a file saved as Latin-1, say): the prompt would
  // run mangled. (The character typed on purpose is refused too; no prompt needs it.)
  if (value.includes("\uFFFD")) {
    throw new FieldError(
      field,
      `${field} is not valid UTF-8 text (it has bytes decoded as U+FFFD); save the file as UTF-8`,
    );
  }
  return value;
}

// Rows repeat a handful of scheduler spellings: remember them instead of re-parsing every row.
const schedulerCache = new Map<string, SchedulerName>();

export function schedulerField(value: unknown, field: string): SchedulerName {
  if (typeof value !== "string") {
    throw new FieldError(field, `${field} must be a scheduler name, got ${describeValue(value)}`);
  }
  const cached = schedulerCache.get(value);
  if (cached) return cached;
  try {
    const name = parseSchedulerName(value);
    if (schedulerCache.size < 256) schedulerCache.set(value, name);
    return name;
  } catch (err) {
    if (err instanceof LatentFleetError) throw new FieldError(field, `${field}: ${err.message}`);
    throw err;
  }
}

/** Ids become file names: a letter or digit, then letters, digits, `.`, `_`, `-`; 128 at most. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A row id: a string or a non-negative integer (written in decimal), matching ID_PATTERN. */
export function idField(value: unknown, field: string): string {
  const id =
    typeof value === "string"
      ? value
      : (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) || typeof value === "bigint"
        ? String(value)
        : undefined;
  if (id === undefined || !ID_PATTERN.test(id)) {
    throw new FieldError(
      field,
      `${field} must be 1 to 128 characters from A-Z a-z 0-9 . _ - starting with a letter or digit ` +
        `(it names output files), got ${describeValue(value)}`,
    );
  }
  return id;
}
