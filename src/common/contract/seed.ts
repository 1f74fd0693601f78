/** The seed range every part accepts: a sample's seed is a non-negative safe integer. */
import { LatentFleetError } from "../errors.js";

/** Largest seed: JSON numbers and JS numbers hold integers exactly up to 2^53 - 1. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** Returns `seed` when it is an integer in [0, MAX_SEED], else INVALID_ARGUMENT. */
export function validateSeed(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `seed must be an integer in [0, ${MAX_SEED}], got ${seed}`,
    );
  }
  return seed;
}

/** A uint64 seed as protobuf hands it out (decimal string) to a number, or INVALID_ARGUMENT. */
export function parseSeed(value: string | number): number {
  const text = String(value).trim();
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n > MAX_SEED) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `seed must be an integer in [0, ${MAX_SEED}], got ${text}`,
    );
  }
  return n;
}
