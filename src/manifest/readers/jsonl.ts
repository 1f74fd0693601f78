/** JSON Lines: one JSON object per line, read with node:readline (blank lines skipped, line numbers exact). */
import { createInterface } from "node:readline";
import { FieldError } from "../errors.js";
import type { SourceAccess } from "../source-access.js";
import { BatchQueue } from "./batch-queue.js";
import type { RawRow } from "./raw-row.js";

/** True for lines of spaces and tabs only; cheaper than trim() on the (common) non-blank line. */
export function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

/**
 * Non-blank lines of a text file, in batches, each turned into a row by `toRow` (1-based line numbers;
 * a UTF-8 BOM on line 1 is dropped).
 */
export async function* readLineRows(
  access: SourceAccess,
  path: string,
  toRow: (text: string, line: number) => RawRow,
): AsyncGenerator<RawRow[], void, undefined> {
  const input = access.openSource(path);
  // crlfDelay: Infinity so that a \r\n split across two chunks still counts as one line break.
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const queue = new BatchQueue<RawRow>(
    () => lines.pause(),
    () => lines.resume(),
  );
  let n = 0;
  lines.on("line", (text: string) => {
    n++;
    if (n === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (!isBlank(text)) queue.push(toRow(text, n));
  });
  lines.on("close", queue.end);
  input.on("error", queue.fail);
  try {
    yield* queue.batches();
  } finally {
    lines.close();
    input.destroy();
  }
}

function jsonRow(text: string, line: number): RawRow {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { line, values: undefined, problem: new FieldError(null, `line is not valid JSON: ${why}`) };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const problem = new FieldError(null, 'each line must be a JSON object such as {"prompt": "..."}');
    return { line, values: undefined, problem };
  }
  return { line, values: value as Record<string, unknown>, problem: undefined };
}

export function readJsonl(access: SourceAccess, path: string): AsyncGenerator<RawRow[], void, undefined> {
  return readLineRows(access, path, jsonRow);
}
