/** What every prompt-file reader yields: rows of a file, or why a row could not be read, in batches. */
import type { FieldError } from "../errors.js";
import type { RowValues } from "../types.js";

export interface RawRow {
  /** 1-based line of the row's start (Parquet: 1-based row number). */
  line: number;
  values: RowValues | undefined;
  /** Set instead of `values` when the row is unreadable (bad JSON, wrong field count, CSV syntax). */
  problem: FieldError | undefined;
}

/** Rows of one prompts file, in batches. `text` is true when values are strings to convert (CSV cells). */
export interface RowStream {
  text: boolean;
  rows: AsyncIterable<RawRow[]>;
}
