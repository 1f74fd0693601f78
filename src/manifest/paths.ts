/** Paths named in a spec, and the prompt file formats told by their extensions. */
import { dirname, extname, isAbsolute, join } from "node:path";
import type { SourceFormat } from "./types.js";

/** A path from the spec: absolute as written, else relative to the spec file's folder. */
export function resolveFromSpec(specFile: string, path: string): string {
  return isAbsolute(path) ? path : join(dirname(specFile), path);
}

export const EXTENSIONS: Readonly<Record<string, SourceFormat>> = {
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".csv": "csv",
  ".parquet": "parquet",
  ".pq": "parquet",
  ".txt": "txt",
};

/** The format a prompts file is read as, from its extension; undefined for unknown extensions. */
export function sourceFormatOf(path: string): SourceFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()];
}
