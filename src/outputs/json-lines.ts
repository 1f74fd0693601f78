/** JSON Lines files (imagefolder's shard metadata, errors.jsonl): one value per non-blank line. */
export function parseJsonLines<T>(data: Buffer): T[] {
  return data
    .toString("utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}
