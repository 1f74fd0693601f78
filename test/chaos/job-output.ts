/**
 * The chaos suite's job specs and the checks every job's output must pass after a fault: metadata.jsonl
 * has every sample exactly once, every file it names is a valid PNG, no temporary files are left, and
 * errors.jsonl names exactly the samples expected to fail, each with its reason; and the samples made are
 * those of a fault-free run of the same spec, with the same seeds, file names and PNG bytes.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ErrorRow, MetadataRow } from "../../src/common/contract/job.js";
import { decodePng } from "../../src/engine/png.js";
import { listFiles } from "../helpers/cli-processes.js";
import { TINY_SHAPES } from "../helpers/paths.js";

export const IMAGE_SIZE = 16;

export interface ChaosJob {
  spec: string;
  /** Samples in the job. */
  total: number;
  /** Samples that must fail, by id, with the reason their error must match. */
  failing: Map<string, RegExp>;
}

/**
 * A job of `rows` template rows x `perPrompt` images (ids r000000000-0, ...), 16x16, one step, no guidance,
 * then `extra` rows from a JSONL file (one image each), which may hold poison rows.
 */
export async function writeChaosJob(
  dir: string,
  o: { rows: number; perPrompt: number; extra?: Record<string, unknown>[]; failing?: Map<string, RegExp> },
): Promise<ChaosJob> {
  await mkdir(dir, { recursive: true });
  const a = Math.min(o.rows, 30);
  const b = Math.ceil(o.rows / a);
  if (a * b !== o.rows) throw new Error(`rows must be a multiple of ${a}`);
  const values = (n: number, p: string) => `[${Array.from({ length: n }, (_, i) => `${p}${i}`).join(", ")}]`;
  const lines = [
    `model: ${TINY_SHAPES}`,
    "seed: 11",
    `images_per_prompt: ${o.perPrompt}`,
    `defaults: { steps: 1, guidance_scale: 1, scheduler: euler, width: ${IMAGE_SIZE}, height: ${IMAGE_SIZE} }`,
    "prompts:",
    '  - template: "a {a} {b} shape"',
    `    vars: { a: ${values(a, "hue")}, b: ${values(b, "kind")} }`,
  ];
  const extra = o.extra ?? [];
  if (extra.length > 0) {
    await writeFile(join(dir, "extra.jsonl"), extra.map((r) => JSON.stringify(r)).join("\n"));
    lines.push("  - file: extra.jsonl");
  }
  const spec = join(dir, "job.yaml");
  await writeFile(spec, `${lines.join("\n")}\n`);
  return { spec, total: o.rows * o.perPrompt + extra.length, failing: o.failing ?? new Map() };
}

/** The id of image k of template row r. */
export function templateSampleId(row: number, k: number): string {
  return `r${String(row).padStart(9, "0")}-${k}`;
}

export interface OutputCheck {
  rows: number;
  failed: number;
}

/** Throws with what is wrong; returns the counts when the output is complete. */
export async function checkOutput(out: string, job: ChaosJob): Promise<OutputCheck> {
  const problems: string[] = [];
  const meta = await readJsonl<MetadataRow>(join(out, "metadata.jsonl"));
  const ids = meta.map((r) => r.id);
  const unique = new Set(ids);
  if (unique.size !== ids.length) problems.push(`metadata.jsonl repeats ${ids.length - unique.size} ids`);
  const expectedRows = job.total - job.failing.size;
  if (meta.length !== expectedRows) {
    problems.push(`metadata.jsonl has ${meta.length} rows, expected ${expectedRows}`);
  }
  for (const id of job.failing.keys())
    if (unique.has(id)) problems.push(`failing sample ${id} is in metadata`);
  let badPngs = 0;
  for (const row of meta) {
    try {
      const png = decodePng(await readFile(join(out, row.file_name)));
      if (png.width !== IMAGE_SIZE || png.height !== IMAGE_SIZE) badPngs++;
    } catch {
      badPngs++;
    }
  }
  if (badPngs > 0)
    problems.push(`${badPngs} files named in metadata.jsonl are not valid ${IMAGE_SIZE}px PNGs`);
  const files = await listFiles(out);
  const pngs = files.filter((f) => f.endsWith(".png"));
  if (pngs.length !== meta.length) problems.push(`${pngs.length} PNG files for ${meta.length} metadata rows`);
  const tmp = files.filter((f) => f.includes(".tmp"));
  if (tmp.length > 0) problems.push(`temporary files left: ${tmp.slice(0, 3).join(", ")}`);

  const errorsPath = join(out, "errors.jsonl");
  const hasErrors = await stat(errorsPath).then(
    () => true,
    () => false,
  );
  if (job.failing.size === 0) {
    if (hasErrors)
      problems.push(`errors.jsonl exists: ${(await readFile(errorsPath, "utf8")).slice(0, 400)}`);
  } else {
    const errors = hasErrors ? await readJsonl<ErrorRow>(errorsPath) : [];
    const byId = new Map(errors.map((e) => [e.id ?? "", e]));
    if (byId.size !== errors.length) problems.push("errors.jsonl names a sample twice");
    for (const [id, why] of job.failing) {
      const e = byId.get(id);
      if (!e) problems.push(`errors.jsonl does not name ${id}`);
      else if (!why.test(e.error)) problems.push(`${id} failed with "${e.error}", expected ${why}`);
      else if (!e.where) problems.push(`${id} has no "where"`);
    }
    const unexpected = errors.filter((e) => !job.failing.has(e.id ?? ""));
    if (unexpected.length > 0) {
      problems.push(
        `unexpected errors: ${unexpected
          .slice(0, 3)
          .map((e) => `${e.id}: ${e.error}`)
          .join("; ")}`,
      );
    }
  }
  if (problems.length > 0) throw new Error(`output of ${out} is wrong:\n  ${problems.join("\n  ")}`);
  return { rows: meta.length, failed: job.failing.size };
}

/** What a sample of an output is: its metadata row's seed and file name, and its PNG's SHA-256. */
export type OutputDigest = Map<string, { seed: number; file: string; sha256: string }>;

export async function digestOutput(out: string): Promise<OutputDigest> {
  const digest: OutputDigest = new Map();
  for (const row of await readJsonl<MetadataRow>(join(out, "metadata.jsonl"))) {
    const sha256 = createHash("sha256")
      .update(await readFile(join(out, row.file_name)))
      .digest("hex");
    digest.set(row.id, { seed: row.seed, file: row.file_name, sha256 });
  }
  return digest;
}

/**
 * Throws unless `out` holds exactly the samples of the fault-free `reference` less those of `job` expected
 * to fail, each with the reference's seed, file name and PNG bytes. Returns how many samples it compared.
 */
export async function compareWithReference(
  out: string,
  job: ChaosJob,
  reference: OutputDigest,
): Promise<number> {
  const got = await digestOutput(out);
  const expected = [...reference].filter(([id]) => !job.failing.has(id));
  const missing = expected.filter(([id]) => !got.has(id)).map(([id]) => id);
  const extra = [...got.keys()].filter((id) => !reference.has(id) || job.failing.has(id));
  const differ: string[] = [];
  for (const [id, want] of expected) {
    const have = got.get(id);
    if (!have) continue;
    if (have.seed !== want.seed) differ.push(`${id}: seed ${have.seed}, fault-free ${want.seed}`);
    else if (have.file !== want.file) differ.push(`${id}: file ${have.file}, fault-free ${want.file}`);
    else if (have.sha256 !== want.sha256) differ.push(`${id}: PNG bytes differ from the fault-free run's`);
  }
  const problems = [
    missing.length > 0
      ? `${missing.length} samples of the fault-free run missing: ${missing.slice(0, 3)}`
      : "",
    extra.length > 0 ? `${extra.length} samples the fault-free run has not: ${extra.slice(0, 3)}` : "",
    differ.length > 0 ? `${differ.length} samples differ: ${differ.slice(0, 3).join("; ")}` : "",
  ].filter((p) => p !== "");
  if (problems.length > 0)
    throw new Error(`output of ${out} is not the fault-free run's:\n  ${problems.join("\n  ")}`);
  return expected.length;
}

async function readJsonl<T>(path: string): Promise<T[]> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}
