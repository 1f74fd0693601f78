/** Plain text prompts files: one prompt per line, trimmed; blank lines skipped. */
import type { SourceAccess } from "../source-access.js";
import { readLineRows } from "./jsonl.js";
import type { RawRow } from "./raw-row.js";

export function readText(access: SourceAccess, path: string): AsyncGenerator<RawRow[], void, undefined> {
  return readLineRows(access, path, (text, line) => ({
    line,
    values: { prompt: text.trim() },
    problem: undefined,
  }));
}
