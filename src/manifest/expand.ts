/**
 * A job spec -> its samples, in manifest order, streamed: sources are read as they are consumed (the
 * consumer's pace is the reader's), so memory does not grow with the manifest. A bad row becomes a
 * `row_error` event and the expansion goes on; a file that cannot be read at all, or a job past
 * limits.max_samples_per_job, ends it with a SPEC_INVALID error.
 */
import { LatentFleetError } from "../common/errors.js";
import { FieldError, specError } from "./errors.js";
import { checkReservedId, defaultRowId, IdRegistry, MAX_TRACKED_IDS } from "./ids.js";
import { BATCH_SIZE } from "./readers/batch-queue.js";
import { openRows, type RawRow } from "./readers/index.js";
import { type ResolvedRow, resolveRow } from "./row.js";
import { deriveRowSeed } from "./seeds.js";
import { fsSourceAccess, type SourceAccess } from "./source-access.js";
import { expandTemplate, parseTemplate } from "./template.js";
import type { JobSpec, ManifestEvent, PromptSource, RowValues } from "./types.js";

export interface ExpandOptions {
  /** Where prompt files are read from; the local disk by default. */
  access?: SourceAccess;
}

/** Most events in one batch of expandSpecBatches (a row with many images is split across batches). */
export const MAX_EVENTS_PER_BATCH = 4096;

interface Rows {
  display: string;
  text: boolean;
  rows: AsyncIterable<RawRow[]> | Iterable<RawRow[]>;
}

function rowsOf(spec: JobSpec, source: PromptSource, access: SourceAccess): Rows {
  if (source.kind === "file") return { display: source.display, ...openRows(access, source) };
  if (source.kind === "inline") {
    const row: RawRow = { line: source.line, values: source.values, problem: undefined };
    return { display: spec.specFile, text: false, rows: [[row]] };
  }
  return { display: spec.specFile, text: false, rows: templateRows(source) };
}

function* templateRows(source: Extract<PromptSource, { kind: "template" }>): Generator<RawRow[]> {
  const parsed = parseTemplate(source.template, "template");
  const { line, overrides } = source;
  const plain = Object.keys(overrides).length === 0;
  let batch: RawRow[] = [];
  for (const prompt of expandTemplate(parsed, source.vars)) {
    const values: RowValues = plain ? { prompt } : { ...overrides, prompt };
    batch.push({ line, values, problem: undefined });
    if (batch.length === BATCH_SIZE) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** The row's settings, or the FieldError that rejects it (bad field, reserved or duplicate id). */
function checkRow(raw: RawRow, spec: JobSpec, text: boolean, rowIndex: number, ids: IdRegistry): ResolvedRow {
  if (raw.problem || !raw.values) throw raw.problem ?? new FieldError(null, "unreadable row");
  const row = resolveRow(raw.values, spec, text);
  if (row.id !== undefined) {
    checkReservedId(row.id, rowIndex);
    if (ids.add(row.id) === "duplicate") {
      throw new FieldError("id", `id "${row.id}" is used by an earlier row (ids are compared ignoring case)`);
    }
  }
  return row;
}

/**
 * An accepted row: its `row.imagesPerPrompt` samples are those from `firstIndex` on, alike but for
 * sampleId (`<rowId>-<k>`) and seed (`seed + k`).
 */
export interface ExpandedRow {
  type: "row";
  rowIndex: number;
  rowId: string;
  firstIndex: number;
  seed: number;
  row: ResolvedRow;
  /** "file:line", every sample's source. */
  where: string;
}

/** What expandSpecRows yields: accepted rows, and the row_error and notice events, in manifest order. */
export type RowEvent = ExpandedRow | Exclude<ManifestEvent, { type: "sample" }>;

/**
 * The job's rows, one array per batch of rows read, without a sample object each: what a count of the
 * manifest needs. expandSpecBatches expands these, so both see the same rows, ids, seeds and limit.
 */
export async function* expandSpecRows(
  spec: JobSpec,
  options: ExpandOptions = {},
): AsyncGenerator<RowEvent[], void, undefined> {
  const access = options.access ?? fsSourceAccess;
  const ids = new IdRegistry();
  const maxSamples = spec.limits.maxSamplesPerJob;
  let rowIndex = 0;
  let index = 0;
  let warnedIds = false;
  for (const source of spec.prompts) {
    const { display, text, rows } = rowsOf(spec, source, access);
    try {
      for await (const batch of rows) {
        const out: RowEvent[] = [];
        for (const raw of batch) {
          const r = rowIndex++;
          const where = `${display}:${raw.line}`;
          let row: ResolvedRow;
          try {
            row = checkRow(raw, spec, text, r, ids);
          } catch (err) {
            if (!(err instanceof FieldError)) throw err;
            out.push({ type: "row_error", rowIndex: r, where, field: err.field, message: err.message });
            continue;
          }
          if (!warnedIds && ids.saturated) {
            warnedIds = true;
            const message = `${where}: about ${MAX_TRACKED_IDS} ids seen; from here on ids are checked for duplicates against those only, not against each other`;
            out.push({ type: "notice", message });
          }
          const n = row.imagesPerPrompt;
          if (index + n > maxSamples) {
            if (out.length > 0) yield out; // what came before the limit still goes out
            throw specError(
              display,
              raw.line,
              `the job makes more than ${maxSamples} samples (limits.max_samples_per_job); raise the limit or split the job`,
            );
          }
          const rowId = row.id ?? defaultRowId(r);
          const seed = row.seed ?? deriveRowSeed(spec.seed, r);
          out.push({ type: "row", rowIndex: r, rowId, firstIndex: index, seed, row, where });
          index += n;
        }
        if (out.length > 0) yield out;
      }
    } catch (err) {
      if (err instanceof LatentFleetError) throw err;
      throw specError(display, undefined, `cannot read this prompts file: ${(err as Error).message}`);
    }
  }
}

/** Like expandSpec, in batches of at most MAX_EVENTS_PER_BATCH events: one await per batch, not per sample. */
export async function* expandSpecBatches(
  spec: JobSpec,
  options: ExpandOptions = {},
): AsyncGenerator<ManifestEvent[], void, undefined> {
  let out: ManifestEvent[] = [];
  for await (const rows of expandSpecRows(spec, options)) {
    for (const ev of rows) {
      if (ev.type !== "row") {
        out.push(ev);
        continue;
      }
      const { row, rowIndex, rowId, seed, where } = ev;
      let index = ev.firstIndex;
      for (let k = 0; k < row.imagesPerPrompt; k++) {
        out.push({
          type: "sample",
          sample: {
            index: index++,
            rowIndex,
            rowId,
            sampleId: `${rowId}-${k}`,
            prompt: row.prompt,
            negativePrompt: row.negativePrompt,
            seed: seed + k,
            steps: row.steps,
            guidanceScale: row.guidanceScale,
            scheduler: row.scheduler,
            width: row.width,
            height: row.height,
            source: where,
          },
        });
        if (out.length >= MAX_EVENTS_PER_BATCH) {
          yield out;
          out = [];
        }
      }
    }
    if (out.length > 0) {
      yield out;
      out = [];
    }
  }
}

/**
 * The job's events in manifest order: `sample`s, `row_error`s for rejected rows (the job goes on), and the
 * odd `notice`. Stopping early (break, return()) closes the files being read.
 */
export async function* expandSpec(
  spec: JobSpec,
  options: ExpandOptions = {},
): AsyncGenerator<ManifestEvent, void, undefined> {
  for await (const batch of expandSpecBatches(spec, options)) yield* batch;
}
