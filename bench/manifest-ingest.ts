/**
 * bench/manifest-ingest: how fast the coordinator's manifest layer turns prompt files into samples, and how
 * much memory it takes doing so (it must not grow with the manifest).
 *
 * For each format and each row count, writes a manifest of that many rows to a temp folder, expands it in a
 * child process of its own (so each peak RSS, process.resourceUsage().maxRSS, is that run's alone), then
 * deletes it. By default 1 M and 10 M rows side by side, JSONL and CSV. Goals, checked at the largest count:
 *   - every row expanded into its sample (no row errors, none missing)
 *   - >= 200,000 rows/s
 *   - peak RSS < 200 MB
 *   - peak RSS flat: largest / smallest count <= 1.25x (needs two counts)
 * Prints a table and one PASS/FAIL line per goal; exits 1 when a goal fails. A 10 M row file is about
 * 0.75 GB; only one file exists at a time, and the folder is removed at the end (and on Ctrl-C).
 *
 * Usage: npm run bench:manifest-ingest -- [--rows 1000000,10000000] [--format jsonl|csv|both] [--ids]
 *        [--api events|batches]   (expandSpec, the default, or expandSpecBatches)
 * Quick run: --rows 100000 (one count: the flatness goal is not checked).
 */
import { type ChildProcess, execFile } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdtempSync, rmSync, statfsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import {
  expandSpec,
  expandSpecBatches,
  loadPromptsFileAsSpec,
  type ManifestEvent,
} from "../src/manifest/index.js";

const GOAL_ROWS_PER_S = 200_000;
const GOAL_PEAK_RSS_MB = 200;
const GOAL_RSS_GROWTH = 1.25;
/** Bytes per row written, with room to spare (a JSONL row is about 75, a CSV row about 62). */
const BYTES_PER_ROW_BOUND = 120;

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000,10000000" },
    format: { type: "string", default: "both" },
    ids: { type: "boolean", default: false },
    api: { type: "string", default: "events" },
    child: { type: "string" },
  },
});

const COLORS = ["red", "green", "blue", "yellow", "purple", "orange"];
const SHAPES = ["circle", "square", "triangle"];

/** Row i: a unique prompt; every 4th row a seed, every 8th its own steps, ids with --ids. */
function row(i: number, ids: boolean): Record<string, string | number> {
  const r: Record<string, string | number> = {
    prompt: `a ${COLORS[i % 6]} ${SHAPES[i % 3]} on a white background, variation ${i}`,
  };
  if (ids) r.id = `item-${i}`;
  if (i % 4 === 0) r.seed = i * 7;
  if (i % 8 === 0) r.steps = 25;
  return r;
}

async function writeLines(
  path: string,
  n: number,
  line: (i: number) => string,
  header?: string,
): Promise<void> {
  const out = createWriteStream(path);
  if (header) out.write(`${header}\n`);
  let chunk = "";
  for (let i = 0; i < n; i++) {
    chunk += `${line(i)}\n`;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  out.end(chunk);
  await once(out, "finish");
}

async function writeManifest(path: string, format: string, n: number): Promise<void> {
  if (format === "jsonl") return writeLines(path, n, (i) => JSON.stringify(row(i, values.ids)));
  const cols = ["prompt", ...(values.ids ? ["id"] : []), "seed", "steps"];
  const cell = (v: string | number | undefined) => (typeof v === "string" ? `"${v}"` : (v ?? ""));
  return writeLines(path, n, (i) => cols.map((c) => cell(row(i, values.ids)[c])).join(","), cols.join(","));
}

interface ChildResult {
  rows: number;
  samples: number;
  errors: number;
  seconds: number;
  maxRssMB: number;
}

interface Run extends ChildResult {
  format: string;
  n: number;
  fileMB: number;
}

async function child(path: string): Promise<void> {
  const started = process.hrtime.bigint();
  const spec = await loadPromptsFileAsSpec(path);
  let samples = 0;
  let rows = 0;
  let errors = 0;
  const count = (event: ManifestEvent) => {
    if (event.type === "sample") {
      samples++;
      rows = event.sample.rowIndex + 1;
    } else if (event.type === "row_error") {
      errors++;
      rows = event.rowIndex + 1;
    }
  };
  if (values.api === "batches") {
    for await (const batch of expandSpecBatches(spec)) for (const event of batch) count(event);
  } else {
    for await (const event of expandSpec(spec)) count(event);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const maxRssMB = process.resourceUsage().maxRSS / 1024; // KiB on Linux and macOS
  const result: ChildResult = { rows, samples, errors, seconds, maxRssMB };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function rowCounts(text: string): number[] {
  const counts = text.split(",").map((t) => {
    const n = Number(t.replaceAll("_", ""));
    if (!Number.isInteger(n) || n < 1) throw new Error(`--rows: ${t} is not a positive integer`);
    return n;
  });
  return [...new Set(counts)].sort((a, b) => a - b);
}

function formatsOf(text: string): string[] {
  if (text === "both") return ["jsonl", "csv"];
  if (text === "jsonl" || text === "csv") return [text];
  throw new Error(`--format must be jsonl, csv or both, got ${text}`);
}

/** Fails early, before minutes of writing, when the largest manifest cannot fit in the temp folder. */
function checkFreeSpace(dir: string, rows: number): void {
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const need = rows * BYTES_PER_ROW_BOUND;
  if (free < need) {
    throw new Error(
      `${dir} has ${(free / 1e9).toFixed(1)} GB free; ${rows} rows need up to ${(need / 1e9).toFixed(1)} GB`,
    );
  }
}

const run = promisify(execFile);
/** The expansion running now, stopped with this process (a signal to this one alone would orphan it). */
let running: ChildProcess | undefined;

async function measure(dir: string, format: string, n: number): Promise<Run> {
  const path = join(dir, `prompts-${n}.${format}`);
  try {
    await writeManifest(path, format, n);
    const fileMB = statSync(path).size / 1e6;
    const args = [fileURLToPath(import.meta.url), "--child", path, "--api", values.api];
    const pending = run(process.execPath, args, { encoding: "utf8" });
    running = pending.child;
    const { stdout } = await pending;
    running = undefined;
    return { format, n, fileMB, ...(JSON.parse(stdout) as ChildResult) };
  } finally {
    rmSync(path, { force: true });
  }
}

const int = (x: number) => Math.round(x).toLocaleString("en-US");

function printTable(runs: Run[]): void {
  const head = ["format", "rows", "file MB", "seconds", "rows/s", "samples", "row errors", "peak RSS MB"];
  const body = runs.map((r) => [
    r.format,
    int(r.n),
    r.fileMB.toFixed(0),
    r.seconds.toFixed(2),
    int(r.rows / r.seconds),
    int(r.samples),
    int(r.errors),
    r.maxRssMB.toFixed(0),
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  const line = (cells: string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ");
  console.log(line(head));
  for (const b of body) console.log(line(b));
}

/** One PASS/FAIL line per goal and format, at the largest count; true when all pass. */
function judge(runs: Run[], formats: string[], counts: number[]): boolean {
  let ok = true;
  const verdict = (pass: boolean, text: string) => {
    ok &&= pass;
    console.log(`${pass ? "PASS" : "FAIL"}  ${text}`);
  };
  const largest = counts[counts.length - 1];
  const smallest = counts[0];
  for (const format of formats) {
    const big = runs.find((r) => r.format === format && r.n === largest);
    const small = runs.find((r) => r.format === format && r.n === smallest);
    if (!big || !small) throw new Error(`no ${format} run`);
    const at = `${format} at ${int(largest)} rows`;
    for (const r of runs.filter((x) => x.format === format)) {
      const whole = r.rows === r.n && r.samples === r.n && r.errors === 0;
      verdict(
        whole,
        `${format} at ${int(r.n)} rows: every row expanded (${int(r.rows)} rows, ${int(r.samples)} samples, ${int(r.errors)} row errors)`,
      );
    }
    const rate = big.rows / big.seconds;
    verdict(rate >= GOAL_ROWS_PER_S, `${at}: ${int(rate)} rows/s (goal >= ${int(GOAL_ROWS_PER_S)})`);
    verdict(
      big.maxRssMB < GOAL_PEAK_RSS_MB,
      `${at}: peak RSS ${big.maxRssMB.toFixed(0)} MB (goal < ${GOAL_PEAK_RSS_MB} MB)`,
    );
    if (largest === smallest) {
      console.log(
        ` --   ${format}: peak RSS growth not checked (one row count; give two, e.g. --rows 1000000,10000000)`,
      );
      continue;
    }
    const growth = big.maxRssMB / small.maxRssMB;
    verdict(
      growth <= GOAL_RSS_GROWTH,
      `${format}: peak RSS at ${int(largest)} / at ${int(smallest)} rows = ${growth.toFixed(2)}x ` +
        `(${big.maxRssMB.toFixed(0)} / ${small.maxRssMB.toFixed(0)} MB; goal <= ${GOAL_RSS_GROWTH}x)`,
    );
  }
  return ok;
}

async function main(): Promise<void> {
  const counts = rowCounts(values.rows);
  const formats = formatsOf(values.format);
  if (values.api !== "events" && values.api !== "batches") {
    throw new Error(`--api must be events or batches, got ${values.api}`);
  }
  const dir = mkdtempSync(join(tmpdir(), "lf-bench-manifest-"));
  const cleanUp = () => rmSync(dir, { recursive: true, force: true });
  const interrupted = (signal: NodeJS.Signals) => {
    running?.kill();
    cleanUp();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    checkFreeSpace(dir, counts[counts.length - 1]);
    console.log(
      `manifest ingest: ${counts.map(int).join(" and ")} rows${values.ids ? " with ids" : ""}, ${formats.join(" and ")}, ` +
        `${values.api === "batches" ? "expandSpecBatches" : "expandSpec"}, node ${process.version}, temp folder ${dir}`,
    );
    const runs: Run[] = [];
    for (const format of formats) {
      for (const n of counts) {
        const r = await measure(dir, format, n);
        runs.push(r);
        console.log(
          `  ${format} ${int(n)} rows: ${r.seconds.toFixed(2)} s, ${int(r.rows / r.seconds)} rows/s, peak RSS ${r.maxRssMB.toFixed(0)} MB`,
        );
      }
    }
    console.log("");
    printTable(runs);
    console.log("");
    if (!judge(runs, formats, counts)) process.exitCode = 1;
  } finally {
    cleanUp();
  }
}

if (values.child) await child(values.child);
else
  await main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  });
