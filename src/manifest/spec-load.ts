/**
 * Loading a job: a spec (YAML or JSON, from a path or from content a client sent), or a bare prompts file
 * given to `run` instead of a spec. Everything that can be checked before the first row is read is checked
 * here (keys, types, ranges, templates, inline rows, source files present, CSV headers, Parquet footers),
 * so that a bad spec stops before anything starts.
 */
import { basename, extname } from "node:path";
import { DEFAULT_OUTPUT_FORMAT } from "../common/contract/output-formats.js";
import { isLatentFleetError } from "../common/errors.js";
import { bundledModelDir } from "../common/package-root.js";
import { specError } from "./errors.js";
import { DEFAULT_LIMITS } from "./limits.js";
import { sourceFormatOf } from "./paths.js";
import { checkFile } from "./readers/index.js";
import { fsSourceAccess, readSourceBytes, type SourceAccess } from "./source-access.js";
import { BUILTIN_DEFAULTS, type ParseOptions, parseSpecTree } from "./spec-parse.js";
import type { JobSpec, PromptSource } from "./types.js";
import { decodeSpecBytes } from "./utf8.js";
import { SpecTree } from "./yaml-nodes.js";

export interface LoadSpecOptions extends ParseOptions {
  /** Where the spec and its files are read from; the local disk by default. */
  access?: SourceAccess;
}

/** A spec file's path, or its content with the name it goes by (its folder anchors relative paths). */
export type SpecInput = string | { name: string; content: string | Uint8Array };

const MAX_SPEC_BYTES = 16 * 1024 * 1024;

export async function loadSpec(input: SpecInput, options: LoadSpecOptions = {}): Promise<JobSpec> {
  const access = options.access ?? fsSourceAccess;
  const name = typeof input === "string" ? input : input.name;
  let content: string;
  if (typeof input === "string") {
    if (!(await access.statSource(input))) throw specError(input, undefined, "cannot find the spec file");
    try {
      content = decodeSpecBytes(input, await readSourceBytes(access, input, undefined, MAX_SPEC_BYTES));
    } catch (err) {
      if (isLatentFleetError(err)) throw err;
      throw specError(input, undefined, `cannot read the spec file: ${(err as Error).message}`);
    }
  } else {
    content = typeof input.content === "string" ? input.content : decodeSpecBytes(name, input.content);
  }
  const spec = parseSpecTree(SpecTree.parse(name, content), options);
  await checkSources(access, spec);
  return spec;
}

/** True when `run` should treat the file as a bare prompts file rather than a spec. */
export function isPromptsFile(path: string): boolean {
  return sourceFormatOf(path) !== undefined;
}

/**
 * A bare prompts file (.jsonl, .csv, .parquet, .txt) as a job: built-in defaults, the bundled model,
 * output `out/<file base name>` (relative to the working folder) unless `outputOverride` is given.
 */
export async function loadPromptsFileAsSpec(path: string, options: LoadSpecOptions = {}): Promise<JobSpec> {
  const access = options.access ?? fsSourceAccess;
  const format = sourceFormatOf(path);
  if (!format) {
    throw specError(
      path,
      undefined,
      "a prompts file must end in .jsonl, .ndjson, .csv, .parquet, .pq or .txt",
    );
  }
  if (!(await access.statSource(path))) throw specError(path, undefined, "cannot find this prompts file");
  const source: PromptSource = { kind: "file", line: 1, format, path, display: path };
  await checkFile(access, source);
  return {
    specFile: path,
    model: bundledModelDir(),
    output: {
      dir: options.outputOverride ?? `out/${basename(path, extname(path))}`,
      format: DEFAULT_OUTPUT_FORMAT,
    },
    seed: 0,
    imagesPerPrompt: 1,
    defaults: { ...BUILTIN_DEFAULTS },
    prompts: [source],
    limits: { ...DEFAULT_LIMITS },
  };
}

async function checkSources(access: SourceAccess, spec: JobSpec): Promise<void> {
  for (const [i, source] of spec.prompts.entries()) {
    if (source.kind !== "file") continue;
    let found: { size: number } | undefined;
    try {
      found = await access.statSource(source.path);
    } catch (err) {
      // A file the coordinator may not read: say which entry of the spec named it.
      if (isLatentFleetError(err) && err.code === "PATH_NOT_ALLOWED") {
        throw specError(spec.specFile, source.line, `prompts[${i}].file: ${err.message}`);
      }
      throw err;
    }
    if (!found) {
      throw specError(
        spec.specFile,
        source.line,
        `prompts[${i}].file: cannot find "${source.display}" (relative paths are read from the spec's folder)`,
      );
    }
    await checkFile(access, source);
  }
}
