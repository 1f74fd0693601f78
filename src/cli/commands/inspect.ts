/**
 * `latent-fleet inspect <output>`: what a job's output holds (format, samples, failures by code, shards
 * complete and not), from a folder or an S3 prefix; `--extract KEY` writes one sample's PNG and prints its
 * metadata; `--contact-sheet FILE [--count N]` writes a PNG grid of the first N samples with their prompts.
 * Exit 1 when some shard is incomplete, so scripts can check an output before training on it; 2
 * when the folder does not exist.
 */
import { stat, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { LatentFleetError } from "../../common/errors.js";
import { CONTACT_SHEET_OPTIONS, compileOptions } from "../../common/options/index.js";
import { isS3Url, type ObjectStorage, openStorage } from "../../common/storage/index.js";
import { sampleSheet } from "../../eval/sample-sheet.js";
import { extractSample, firstSamples, type InspectReport, inspectOutput } from "../../outputs/index.js";
import { addDefinedOptions } from "../options.js";
import { addS3Options, applyS3Options, type S3CliOptions } from "../storage-options.js";

interface InspectOptions extends S3CliOptions {
  extract?: string;
  to?: string;
  verify?: boolean;
  json?: boolean;
  contactSheet?: string;
  count?: number;
}

export function registerInspect(program: Command): void {
  const cmd = program
    .command("inspect")
    .description("summarize a job's output (folder or s3://bucket/prefix), or extract one sample by key")
    .argument("<output>", "the job's output folder or s3://bucket/prefix")
    .option("--extract <key>", "write this sample's PNG (webdataset key, or imagefolder sample id)")
    .option("--to <file>", "where --extract writes the PNG (default: <key>.png)")
    .option("--verify", "also read every tar (CRC-32, members) or PNG through")
    .option("--json", "print JSON");
  addDefinedOptions(cmd, CONTACT_SHEET_OPTIONS);
  addS3Options(cmd).action(async (output: string, opts: InspectOptions) => {
    applyS3Options(opts);
    if (!isS3Url(output)) await requireFolder(output);
    const storage = openStorage(output);
    try {
      if (opts.contactSheet !== undefined) {
        if (opts.extract !== undefined) {
          throw new LatentFleetError("INVALID_ARGUMENT", "--contact-sheet and --extract: one at a time");
        }
        await writeContactSheet(storage, opts);
        return;
      }
      if (opts.extract !== undefined) {
        const sample = await extractSample(storage, opts.extract);
        const to = opts.to ?? `${opts.extract}.png`;
        await writeFile(to, sample.png);
        process.stdout.write(
          opts.json
            ? `${JSON.stringify({ file: to, metadata: sample.metadata })}\n`
            : `${to}\n${JSON.stringify(sample.metadata, null, 2)}\n`,
        );
        return;
      }
      const report = await inspectOutput(storage, { verify: opts.verify });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      if (report.shards.incomplete.length > 0) process.exitCode = 1;
    } finally {
      storage.close();
    }
  });
}

/** The sheet of the first --count samples, and what it shows (which samples, where on the sheet). */
async function writeContactSheet(storage: ObjectStorage, opts: InspectOptions): Promise<void> {
  const { contactSheet: file, count } = compileOptions(CONTACT_SHEET_OPTIONS, {
    contactSheet: opts.contactSheet,
    count: opts.count,
  });
  if (file === undefined) return;
  const samples = await firstSamples(storage, count);
  const sheet = sampleSheet(
    samples.map((s) => ({ png: s.png, caption: `${s.metadata.prompt}, seed ${s.metadata.seed}` })),
  );
  await writeFile(file, sheet.png);
  const shown = samples.map((s, i) => ({
    key: s.key,
    id: s.metadata.id,
    prompt: s.metadata.prompt,
    seed: s.metadata.seed,
    cell: sheet.cells[i],
  }));
  const { width, height, columns } = sheet;
  process.stdout.write(
    opts.json
      ? `${JSON.stringify({ file, width, height, columns, samples: shown })}\n`
      : `${file}: ${samples.length} samples, ${width}x${height}\n` +
          shown.map((s) => `  ${s.key}  seed ${s.seed}  ${s.prompt}\n`).join(""),
  );
}

/** A mistyped folder is an error, not an empty output (an empty S3 prefix cannot be told apart). */
async function requireFolder(path: string): Promise<void> {
  const full = resolve(path);
  const info = await stat(full).catch(() => undefined);
  if (!info) throw new LatentFleetError("INVALID_ARGUMENT", `${full}: no such output folder`);
  if (!info.isDirectory()) throw new LatentFleetError("INVALID_ARGUMENT", `${full} is not a folder`);
}

export function formatReport(r: InspectReport): string {
  const lines = [`${r.location} (${r.format})`];
  if (r.stats) {
    const s = r.stats;
    lines.push(
      `job ${s.job_id} ${s.state}, ${s.duration_seconds} s, ${s.images_per_second} images/s generated` +
        (s.samples.reused > 0 ? `, ${s.samples.reused} samples reused from an earlier run` : ""),
    );
  }
  lines.push(`samples: ${r.samples.done} done, ${r.samples.failed} failed`);
  const incomplete = r.shards.incomplete.length;
  lines.push(
    `shards: ${r.shards.complete} complete, ${incomplete} incomplete${r.verified ? " (verified)" : ""}`,
  );
  for (const [code, n] of Object.entries(r.failures)) lines.push(`  failed ${code}: ${n}`);
  for (const s of r.shards.incomplete.slice(0, 20)) lines.push(`  shard ${s.shard}: ${s.why}`);
  if (incomplete > 20) lines.push(`  ... and ${incomplete - 20} more`);
  return `${lines.join("\n")}\n`;
}
