/**
 * Output formats (imagefolder, webdataset): their writers for the workers, their readers for the
 * coordinator and `inspect`, by name (registry.ts).
 */

export type {
  EncodedImage,
  ExtractedSample,
  FinishedJobFiles,
  FinishingJob,
  IndexedSample,
  OutputFormat,
  ReuseVerdict,
  ShardSampleOutcome,
  ShardsReport,
  ShardWriter,
  ShardWriterContext,
  StoredSample,
  StoredShards,
  WriteStage,
} from "./format.js";
export {
  type DetectedFormat,
  detectFormat,
  extractSample,
  firstSamples,
  type InspectReport,
  inspectOutput,
} from "./inspect.js";
export { outputFormat, outputFormats } from "./registry.js";
export { checkSampleId } from "./sample-id.js";
