/**
 * Parquet, read with hyparquet one row group at a time, or for files with page indexes (offset indexes)
 * SLICE_ROWS rows at a time: memory is one row group's (or slice's) row-field columns, never the file.
 * Only columns named like row fields are read; others are ignored. A row's "line" is its 1-based row
 * number. Snappy is built in; gzip, zstd, brotli and lz4 come from hyparquet-compressors.
 */
import {
  type AsyncBuffer,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
} from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { specError } from "../errors.js";
import { ROW_FIELDS } from "../row.js";
import { readSourceBytes, type SourceAccess } from "../source-access.js";
import type { RawRow } from "./raw-row.js";

/** Rows per read in row groups that have page indexes. */
export const SLICE_ROWS = 65_536;

async function open(
  access: SourceAccess,
  path: string,
  display: string,
): Promise<{ file: AsyncBuffer; metadata: FileMetaData; columns: string[] }> {
  const stat = await access.statSource(path);
  if (!stat) throw specError(display, 1, "cannot find this prompts file");
  const file: AsyncBuffer = {
    byteLength: stat.size,
    async slice(start, end) {
      const b = await readSourceBytes(access, path, { start, end: end ?? stat.size });
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
    },
  };
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw specError(display, 1, `cannot read this Parquet file (${why})`);
  }
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  const columns = names.filter((n) => (ROW_FIELDS as readonly string[]).includes(n));
  if (!columns.includes("prompt")) {
    throw specError(
      display,
      1,
      `the file has no "prompt" column (it has ${names.map((n) => JSON.stringify(n)).join(", ")})`,
    );
  }
  return { file, metadata, columns };
}

/** Opens the file and checks its footer and columns, so a spec naming a bad file fails before it starts. */
export async function checkParquet(access: SourceAccess, path: string, display: string): Promise<void> {
  const { metadata } = await open(access, path, display);
  if (Number(metadata.num_rows) === 0) throw specError(display, 1, "the Parquet file has no rows");
}

export async function* readParquet(
  access: SourceAccess,
  path: string,
  display: string,
): AsyncGenerator<RawRow[], void, undefined> {
  const { file, metadata, columns } = await open(access, path, display);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    // With page indexes, big row groups are read in slices: only the pages holding a slice are fetched.
    const indexed = group.columns.every(
      (c) => !columns.includes(c.meta_data?.path_in_schema[0] ?? "") || c.offset_index_offset !== undefined,
    );
    const step = indexed ? SLICE_ROWS : rowEnd - rowStart;
    for (let start = rowStart; start < rowEnd; start += step) {
      const end = Math.min(start + step, rowEnd);
      const rows = await parquetReadObjects({
        file,
        metadata,
        columns,
        rowStart: start,
        rowEnd: end,
        compressors,
        useOffsetIndex: indexed,
      });
      yield rows.map((values, i) => ({ line: start + i + 1, values, problem: undefined }));
    }
    rowStart = rowEnd;
  }
}
