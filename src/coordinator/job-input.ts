/**
 * What a job was submitted with, kept in `<out>/.job/` (see localWorkDir for S3 outputs) so that a restarted coordinator can expand the
 * manifest again: the spec's content and name, the `--out` override, and the prompt files the client
 * streamed (sources named by the spec but not streamed are read from the coordinator's disk, then as
 * now). The folder also holds the where-index (where-index.ts); it is removed when the job ends.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { LatentFleetError } from "../common/errors.js";
import { isS3Url } from "../common/storage/index.js";
import { fsSourceAccess, type JobSpec, loadPromptsFileAsSpec, loadSpec } from "../manifest/index.js";
import { PathPolicy } from "./path-policy.js";
import { overlayAccess, resolveUploads } from "./uploads.js";

export const JOB_INPUT_DIR = ".job";

export interface JobInput {
  /** The spec's name: its path, which relative paths in it resolve against. */
  specName: string;
  /** The spec's text; null when `specName` is a bare prompts file. */
  specContent: string | null;
  outputOverride?: string;
  /** Uploaded files: path as named in the spec -> local file. */
  uploads: Map<string, string>;
}

interface StoredInput {
  spec_name: string;
  prompts_file: boolean;
  output_override?: string;
  /** Path as named in the spec -> file name relative to the .job folder. */
  uploads: Record<string, string>;
}

/**
 * The local folder of a job's working files (its saved input, the where-index, errors.jsonl while the job
 * runs): the output folder itself, or for an `s3://` output a folder of its own under
 * LATENT_FLEET_STATE_DIR (default ~/.latent-fleet), which should outlive the coordinator so that a
 * restarted one can resume the job.
 */
export function localWorkDir(output: string): string {
  if (!isS3Url(output)) return output;
  const root = process.env.LATENT_FLEET_STATE_DIR || join(homedir(), ".latent-fleet");
  return join(root, "s3", createHash("sha256").update(output).digest("hex").slice(0, 16));
}

export function jobInputDir(outputDir: string): string {
  return join(localWorkDir(outputDir), JOB_INPUT_DIR);
}

export function whereIndexFile(outputDir: string): string {
  return join(jobInputDir(outputDir), "where.jsonl");
}

/** Loads and validates the job's spec (SPEC_INVALID when it is bad). */
export async function loadJobSpec(input: JobInput, paths = PathPolicy.unrestricted()): Promise<JobSpec> {
  const access = overlayAccess(resolveUploads(input.specName, input.uploads), paths.confine(fsSourceAccess));
  const options = { access, outputOverride: input.outputOverride };
  if (input.specContent === null) return loadPromptsFileAsSpec(input.specName, options);
  return loadSpec({ name: input.specName, content: input.specContent }, options);
}

/** Writes `input` into `<out>/.job/` (uploads must already be in that folder, see UploadSpool.moveInto). */
export async function saveJobInput(outputDir: string, input: JobInput): Promise<void> {
  const dir = jobInputDir(outputDir);
  await mkdir(dir, { recursive: true });
  if (input.specContent !== null) await writeFile(join(dir, "spec"), input.specContent, "utf8");
  const stored: StoredInput = {
    spec_name: input.specName,
    prompts_file: input.specContent === null,
    ...(input.outputOverride === undefined ? {} : { output_override: input.outputOverride }),
    uploads: Object.fromEntries([...input.uploads].map(([named, local]) => [named, relative(dir, local)])),
  };
  await writeFile(join(dir, "input.json"), `${JSON.stringify(stored, null, 2)}\n`, "utf8");
}

export async function readJobInput(outputDir: string): Promise<JobInput> {
  const dir = jobInputDir(outputDir);
  let stored: StoredInput;
  try {
    stored = JSON.parse(await readFile(join(dir, "input.json"), "utf8")) as StoredInput;
  } catch (err) {
    throw new LatentFleetError(
      "SPEC_INVALID",
      `cannot read the job's saved input in ${dir} (${(err as Error).message}); it was removed or the output folder is not reachable from this coordinator`,
      { cause: err },
    );
  }
  return {
    specName: stored.spec_name,
    specContent: stored.prompts_file ? null : await readFile(join(dir, "spec"), "utf8"),
    outputOverride: stored.output_override,
    uploads: new Map(Object.entries(stored.uploads).map(([named, rel]) => [named, join(dir, rel)])),
  };
}

export async function removeJobInput(outputDir: string): Promise<void> {
  await rm(jobInputDir(outputDir), { recursive: true, force: true });
}
