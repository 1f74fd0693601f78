/**
 * The output formats a job may name (a spec's `output.format`, a task's `output_format`). Only the names
 * live here, so that the manifest layer can validate a spec and a worker can refuse a task it cannot
 * write; each format's writer and reader is in src/outputs, registered under its name.
 */

export const OUTPUT_FORMAT_NAMES = ["imagefolder", "webdataset"] as const;

export type OutputFormatName = (typeof OUTPUT_FORMAT_NAMES)[number];

/** The format of a spec that names none, and of a task whose output_format is "" (the proto default). */
export const DEFAULT_OUTPUT_FORMAT: OutputFormatName = "imagefolder";

export function isOutputFormatName(name: string): name is OutputFormatName {
  return (OUTPUT_FORMAT_NAMES as readonly string[]).includes(name);
}
