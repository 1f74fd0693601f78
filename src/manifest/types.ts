/** The manifest layer's data: a validated job spec (plain JSON-safe data) and the events its expansion yields. */

import type { FailureTolerance } from "../common/contract/failure-tolerance.js";
import type { OutputFormatName } from "../common/contract/output-formats.js";
import type { SchedulerName } from "../common/contract/schedulers.js";
import type { ManifestLimits } from "./limits.js";

export type SourceFormat = "jsonl" | "csv" | "parquet" | "txt";

/** Settings a row gets unless it gives its own. `null` means "the model's own" (resolved by the workers). */
export interface SampleDefaults {
  steps: number;
  guidanceScale: number;
  scheduler: SchedulerName | null;
  width: number | null;
  height: number | null;
  negativePrompt: string;
}

/** A row's fields as read (JSON values; CSV cells are strings). Unknown keys are ignored. */
export type RowValues = Record<string, unknown>;

export type PromptSource =
  /** A plain string or an inline `{ prompt: ... }` row in the spec; `line` is its line in the spec. */
  | { kind: "inline"; line: number; values: RowValues }
  /** `path` is what openSource/statSource get; `display` is how error messages name the file. */
  | { kind: "file"; line: number; format: SourceFormat; path: string; display: string }
  /** `overrides` are row fields (steps, seed, ...) every generated row gets. */
  | {
      kind: "template";
      line: number;
      template: string;
      vars: { name: string; values: string[] }[];
      overrides: RowValues;
    };

export interface JobSpec {
  /** How messages name the spec file (the path or virtual name it was loaded from). */
  specFile: string;
  model: string;
  output: { dir: string; format: OutputFormatName };
  seed: number;
  imagesPerPrompt: number;
  defaults: SampleDefaults;
  prompts: PromptSource[];
  limits: ManifestLimits;
  /** `max_failed`: the job's failure tolerance; absent when the spec gives none (a submission's flag may). */
  maxFailed?: FailureTolerance;
}

export interface ManifestSample {
  /** 0-based position among the job's samples, in manifest order. */
  index: number;
  /** 0-based position among the job's rows (valid and invalid), across all sources in order. */
  rowIndex: number;
  rowId: string;
  /** `${rowId}-${k}` for the row's k-th image; unique in the job, safe as a file name. */
  sampleId: string;
  prompt: string;
  negativePrompt: string;
  seed: number;
  steps: number;
  guidanceScale: number;
  scheduler: SchedulerName | null;
  width: number | null;
  height: number | null;
  /** "file:line" of the row. */
  source: string;
}

export interface RowError {
  rowIndex: number;
  /** "file:line" of the row. */
  where: string;
  /** The offending field (`steps`, `id`, ...), or null when the row as a whole is unreadable. */
  field: string | null;
  /** What is wrong and what to do, without the "file:line: " prefix. */
  message: string;
}

/**
 * In manifest order: a sample; a row that was rejected (the job goes on); or a notice for the job's log
 * (today only: too many explicit ids to check them all for duplicates, see ids.ts).
 */
export type ManifestEvent =
  | { type: "sample"; sample: ManifestSample }
  | ({ type: "row_error" } & RowError)
  | { type: "notice"; message: string };
