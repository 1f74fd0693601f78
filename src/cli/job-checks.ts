/**
 * What `run`, `submit`, `worker` and `validate` check before anything starts: the whole spec, the model
 * folder and the device, and that the output can be written. Each problem is a LatentFleetError that exits
 * 2 (src/common/errors.ts); nothing here starts a process, creates a folder or leaves a file behind.
 */
import { randomBytes } from "node:crypto";
import { rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { isLatentFleetError, LatentFleetError } from "../common/errors.js";
import { isS3Url, openStorage } from "../common/storage/index.js";
import type { ModelReport } from "../engine/model-check.js";
import { isPromptsFile, type JobSpec, loadPromptsFileAsSpec, loadSpec } from "../manifest/index.js";
import { checkModel } from "./model-check.js";

// A worker checks its model alone, without the spec's code.
export { checkModel };

/** A spec file, or a bare prompts file taken as a job, read and checked whole. */
export function loadJobSpec(specArg: string, out: string | undefined): Promise<JobSpec> {
  const path = resolve(specArg);
  return isPromptsFile(path)
    ? loadPromptsFileAsSpec(path, { outputOverride: out })
    : loadSpec(path, { outputOverride: out });
}

/**
 * The output can be written: a local folder (or, when it does not exist yet, the nearest folder above it
 * that does) takes a probe file, made and removed at once; an S3 output's bucket answers a listing.
 */
export async function checkOutputWritable(location: string): Promise<void> {
  if (isS3Url(location)) return checkBucket(location);
  const dir = resolve(location);
  let at = dir;
  for (;;) {
    const info = await stat(at).catch(() => undefined);
    if (info) {
      if (!info.isDirectory()) {
        throw unavailable(dir, at === dir ? "it is a file, not a folder" : `${at} is a file, not a folder`);
      }
      break;
    }
    const up = dirname(at);
    if (up === at) throw unavailable(dir, "no folder above it exists");
    at = up;
  }
  const probe = join(at, `.latent-fleet-probe-${randomBytes(6).toString("hex")}`);
  try {
    await writeFile(probe, "", { flag: "wx" });
  } catch (err) {
    const where = at === dir ? "" : ` (it would be made in ${at})`;
    throw unavailable(dir, `cannot write there${where}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  await rm(probe, { force: true });
}

async function checkBucket(location: string): Promise<void> {
  const storage = openStorage(location);
  try {
    await storage.list("", { recursive: false });
  } catch (err) {
    const why = isLatentFleetError(err) ? err.message : (err as Error).message;
    throw new LatentFleetError("OUTPUT_UNAVAILABLE", `output ${location}: cannot reach it: ${why}`, {
      cause: err,
    });
  } finally {
    storage.close();
  }
}

function unavailable(dir: string, why: string): LatentFleetError {
  return new LatentFleetError("OUTPUT_UNAVAILABLE", `output folder ${dir}: ${why}`);
}

export interface CheckedJob {
  spec: JobSpec;
  model: ModelReport;
}

/** Everything checked before a job starts, in the order a user fixes things: spec, model, output. */
export async function checkJob(
  specArg: string,
  opts: { out?: string; device?: string },
): Promise<CheckedJob> {
  const spec = await loadJobSpec(specArg, opts.out);
  // The spec's default scheduler must suit the model (a flow scheduler on a UNet model samples garbage); a
  // row's own scheduler is checked by the worker, which fails that row's samples with the same message.
  const model = await checkModel(spec.model, opts.device, spec.defaults.scheduler ?? undefined);
  await checkOutputWritable(spec.output.dir);
  return { spec, model };
}
