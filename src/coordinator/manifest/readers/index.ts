/** Picks the reader for a prompts file by its format, and checks a file before a job starts. */
import type { SourceAccess } from "../source-access.js";
import type { PromptSource } from "../types.js";
import { readCsv } from "./csv.js";
import { readJsonl } from "./jsonl.js";
import { checkParquet, readParquet } from "./parquet.js";
import type { RowStream } from "./raw-row.js";
import { readText } from "./text.js";

export type { RawRow, RowStream } from "./raw-row.js";

type FileSource = Extract<PromptSource, { kind: "file" }>;

export function openRows(access: SourceAccess, source: FileSource): RowStream {
  const { path, display } = source;
  switch (source.format) {
    case "jsonl":
      return { text: false, rows: readJsonl(access, path) };
    case "txt":
      return { text: false, rows: readText(access, path) };
    case "csv":
      return { text: true, rows: readCsv(access, path, display) };
    case "parquet":
      return { text: false, rows: readParquet(access, path, display) };
  }
}

/**
 * What can be known of a file before its rows are read: CSV header and Parquet footer and columns (JSONL
 * and text need nothing). Throws SPEC_INVALID naming the file.
 */
export async function checkFile(access: SourceAccess, source: FileSource): Promise<void> {
  if (source.format === "parquet") return checkParquet(access, source.path, source.display);
  if (source.format !== "csv") return;
  const rows = readCsv(access, source.path, source.display);
  try {
    await rows.next(); // reads the header (and a first batch of rows), throwing on a bad header
  } finally {
    await rows.return();
  }
}
