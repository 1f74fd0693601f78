/** The coordinator's manifest layer: load and validate a job spec, then stream its samples in order. */
export {
  type ExpandedRow,
  type ExpandOptions,
  expandSpec,
  expandSpecBatches,
  expandSpecRows,
  MAX_EVENTS_PER_BATCH,
  type RowEvent,
} from "./expand.js";
export { ID_PATTERN } from "./fields.js";
export { defaultRowId, MAX_TRACKED_IDS } from "./ids.js";
export { DEFAULT_LIMITS, HARD_LIMITS, type ManifestLimits, SIZE_MULTIPLE } from "./limits.js";
export { resolveFromSpec, sourceFormatOf } from "./paths.js";
export { ROW_FIELDS } from "./row.js";
export { deriveRowSeed } from "./seeds.js";
export {
  type ByteRange,
  fsSourceAccess,
  memorySourceAccess,
  readSourceBytes,
  type SourceAccess,
} from "./source-access.js";
export { LIMIT_KEYS } from "./spec-definitions.js";
export {
  isPromptsFile,
  type LoadSpecOptions,
  loadPromptsFileAsSpec,
  loadSpec,
  type SpecInput,
} from "./spec-load.js";
export { BUILTIN_DEFAULTS } from "./spec-parse.js";
export { SPEC_SCHEMA_ID, specJsonSchema, specSchemaText } from "./spec-schema.js";
export type {
  JobSpec,
  ManifestEvent,
  ManifestSample,
  PromptSource,
  RowError,
  RowValues,
  SampleDefaults,
  SourceFormat,
} from "./types.js";
