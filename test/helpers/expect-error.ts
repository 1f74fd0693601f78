/** Asserting a typed failure: the call must throw a LatentFleetError with this code and text. */
import { expect } from "vitest";
import { isLatentFleetError } from "../../src/common/errors.js";

export function expectError(fn: () => unknown, code: string, text: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isLatentFleetError(caught), String(caught)).toBe(true);
  if (isLatentFleetError(caught)) {
    expect(caught.code).toBe(code);
    expect(caught.message).toContain(text);
  }
}
