/**
 * CSV with a header row (RFC 4180: quoted fields, "" escapes, newlines inside quotes), streamed through
 * csv-parse. Header names are matched trimmed and case-insensitively; columns that are not row fields are
 * ignored. An empty cell means "not given"; rows whose cells are all empty are skipped like blank lines.
 *
 * Line numbers are counted here: csv-parse's `info` option would give them, but costs half the parse speed
 * and over-counts CRLF inside quotes. A record starts one line after the previous one's start plus the line
 * breaks inside its quoted cells; blank lines come through as one-cell records, so they count too.
 *
 * A CSV syntax error (an unclosed quote, say) is reported as a row error at the record where it happened,
 * and ends that file: the parser cannot tell where the next record starts.
 */
import { CsvError, parse } from "csv-parse";
import { FieldError, specError } from "../errors.js";
import { ROW_FIELDS } from "../row.js";
import type { SourceAccess } from "../source-access.js";
import type { RowValues } from "../types.js";
import { BatchQueue } from "./batch-queue.js";
import type { RawRow } from "./raw-row.js";

function lineBreaks(cells: readonly string[]): number {
  let n = 0;
  for (const cell of cells) {
    if (cell.indexOf("\n") < 0 && cell.indexOf("\r") < 0) continue;
    for (let i = 0; i < cell.length; i++) {
      const c = cell.charCodeAt(i);
      if (c === 10 || (c === 13 && cell.charCodeAt(i + 1) !== 10)) n++;
    }
  }
  return n;
}

function isEmptyRecord(cells: readonly string[]): boolean {
  for (const cell of cells) if (cell.length > 0 && cell.trim() !== "") return false;
  return true;
}

export async function* readCsv(
  access: SourceAccess,
  path: string,
  display: string,
): AsyncGenerator<RawRow[], void, undefined> {
  const input = access.openSource(path);
  const parser = parse({ bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: false });
  const queue = new BatchQueue<RawRow>(
    () => parser.pause(),
    () => parser.resume(),
  );
  let next = 1; // line where the next record starts
  let header: string[] | undefined;
  let columns: [field: string, index: number][] = [];
  parser.on("data", (cells: string[]) => {
    const line = next;
    next += 1 + lineBreaks(cells);
    if (!header) {
      if (isEmptyRecord(cells)) return;
      header = cells.map((h) => h.trim().toLowerCase());
      try {
        columns = mapColumns(header, display, line);
      } catch (err) {
        queue.fail(err);
        input.destroy();
      }
      return;
    }
    if (isEmptyRecord(cells)) return;
    if (cells.length !== header.length) {
      const problem = new FieldError(
        null,
        `row has ${cells.length} fields, the header has ${header.length} (an unquoted comma or quote?)`,
      );
      queue.push({ line, values: undefined, problem });
      return;
    }
    const values: RowValues = {};
    for (const [field, index] of columns) values[field] = cells[index];
    queue.push({ line, values, problem: undefined });
  });
  parser.on("end", () => {
    if (!header)
      queue.fail(
        specError(display, 1, "the CSV file is empty: it needs a header row naming a prompt column"),
      );
    queue.end();
  });
  parser.on("error", (err) => {
    if (!(err instanceof CsvError)) return queue.fail(err);
    const why = err.message.replace(/\s+/g, " ");
    const problem = new FieldError(null, `CSV syntax error: ${why}; the rest of this file was not read`);
    queue.push({ line: next, values: undefined, problem });
    queue.end();
  });
  input.on("error", (err) => parser.destroy(err));
  input.pipe(parser);
  try {
    yield* queue.batches();
  } finally {
    input.unpipe(parser);
    input.destroy();
    parser.destroy();
  }
}

function mapColumns(header: string[], display: string, line: number): [string, number][] {
  const columns: [string, number][] = [];
  for (const field of ROW_FIELDS) {
    const at = header.indexOf(field);
    if (at < 0) continue;
    if (header.indexOf(field, at + 1) >= 0)
      throw specError(display, line, `the header has two "${field}" columns`);
    columns.push([field, at]);
  }
  if (!columns.some(([f]) => f === "prompt")) {
    throw specError(
      display,
      line,
      `the header has no "prompt" column (it has ${header.map((h) => JSON.stringify(h)).join(", ")}); ` +
        "the first row of a CSV file must name its columns",
    );
  }
  return columns;
}
