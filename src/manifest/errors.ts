/** Errors of the manifest layer: spec errors stop a job before it starts; field errors become row errors. */
import { LatentFleetError } from "../common/errors.js";

/** A bad spec: `file:line: message` (or `file: message` for the whole file), with code SPEC_INVALID. */
export function specError(file: string, line: number | undefined, message: string): LatentFleetError {
  return new LatentFleetError("SPEC_INVALID", `${file}${line === undefined ? "" : `:${line}`}: ${message}`);
}

/**
 * One field of one row (or of the spec) is wrong. Thrown by the field checkers and caught by the row or
 * spec reader, which adds where it happened. Not a LatentFleetError: it never leaves this layer.
 */
export class FieldError extends Error {
  constructor(
    readonly field: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** A value as a message shows it: strings quoted and cut short, so one bad cell cannot flood a log. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") {
    const cut = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(cut);
  }
  if (typeof value === "bigint") return value.toString();
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return String(value);
}
