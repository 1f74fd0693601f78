/**
 * The output formats by name. Adding one: its folder here (an OutputFormat) and its entry below, with its
 * name in OUTPUT_FORMAT_NAMES (src/common/contract/output-formats.ts), which the manifest validates against.
 */
import {
  DEFAULT_OUTPUT_FORMAT,
  isOutputFormatName,
  OUTPUT_FORMAT_NAMES,
  type OutputFormatName,
} from "../common/contract/output-formats.js";
import { LatentFleetError } from "../common/errors.js";
import type { OutputFormat } from "./format.js";
import { imagefolder } from "./imagefolder/index.js";
import { webdataset } from "./webdataset/index.js";

/**
 * Every name of the contract has its format (a missing one does not compile). The order is the one in
 * which `inspect` asks the formats whether an output is theirs: webdataset's shard files first, as an
 * earlier imagefolder run into the same output may have left its metadata.jsonl beside them.
 */
const FORMATS: Readonly<Record<OutputFormatName, OutputFormat>> = { webdataset, imagefolder };

/** The format of that name; "" is the default (a task's output_format unset). INVALID_ARGUMENT if unknown. */
export function outputFormat(name: string): OutputFormat {
  const n = name === "" ? DEFAULT_OUTPUT_FORMAT : name;
  if (!isOutputFormatName(n)) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `output format ${name} is unknown (${OUTPUT_FORMAT_NAMES.join(", ")})`,
    );
  }
  return FORMATS[n];
}

/** Every format, in the order `inspect` tries them. */
export function outputFormats(): readonly OutputFormat[] {
  return Object.values(FORMATS);
}
