import type { ObjectStorage } from "../common/storage/index.js";

/** Removes those of `keys` that exist; returns how many there were. */
export async function removeExisting(storage: ObjectStorage, keys: readonly string[]): Promise<number> {
  let removed = 0;
  for (const key of keys) {
    if (await storage.stat(key)) {
      await storage.delete(key);
      removed++;
    }
  }
  return removed;
}
