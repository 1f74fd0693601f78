/** Picks the reader for a prompts file by its format, and checks a file before a job starts. */
import { specError } from "../errors.js";
import type { SourceAccess } from "../source-access.js";
import type { PromptSource } from "../types.js";
import { readJsonl } from "./jsonl.js";
import type { RawRow, RowStream } from "./raw-row.js";
import { readText } from "./text.js";

export type { RawRow, RowStream } from "./raw-row.js";

type FileSource = Extract<PromptSource, { kind: "file" }>;

/**
 * A reader whose module loads with its first file: the CSV and Parquet libraries cost every process that
 * reads specs (the CLI, the coordinator) a noticeable part of its start, and most jobs read neither.
 */
async function* loadedWithFirstRow(
  load: () => Promise<AsyncIterable<RawRow[]>>,
): AsyncGenerator<RawRow[], void, undefined> {
  yield* await load();
}

export function openRows(access: SourceAccess, source: FileSource): RowStream {
  const { path, display } = source;
  switch (source.format) {
    case "jsonl":
      return { text: false, rows: readJsonl(access, path) };
    case "txt":
      return { text: false, rows: readText(access, path) };
    case "csv":
      return {
        text: true,
        rows: loadedWithFirstRow(async () => (await import("./csv.js")).readCsv(access, path, display)),
      };
    case "parquet":
      return {
        text: false,
        rows: loadedWithFirstRow(async () =>
          (await import("./parquet.js")).readParquet(access, path, display),
        ),
      };
  }
}

/**
 * What can be known of a file before its rows are read: CSV header, Parquet footer and columns, and that
 * there is a row at all (a file that is empty or blank is a mistake to point out, not a job of nothing).
 * Throws SPEC_INVALID naming the file.
 */
export async function checkFile(access: SourceAccess, source: FileSource): Promise<void> {
  if (source.format === "parquet") {
    return (await import("./parquet.js")).checkParquet(access, source.path, source.display);
  }
  const rows = openRows(access, source).rows[Symbol.asyncIterator]();
  try {
    // Reads the first batch of rows (and a CSV header, throwing on a bad one).
    const first = await rows.next();
    if (first.done) {
      throw specError(source.display, 1, "the file has no rows: it is empty, or blank lines only");
    }
  } finally {
    await rows.return?.();
  }
}
