/**
 * bench/manifest-ingest: how fast the coordinator's manifest layer turns prompt files into samples, and how
 * much memory it takes doing so (it must not grow with the manifest).
 *
 * Writes a JSONL and a CSV manifest of N rows to a temp folder, then expands each in a child process of its
 * own (so each peak RSS is that format's alone) and prints rows/s, samples/s and peak RSS
 * (process.resourceUsage().maxRSS). Goals: >= 200,000 rows/s, peak RSS < 200 MB at 10 million rows.
 * Usage: node dist/bench/manifest-ingest.js [--rows 1000000] [--format jsonl|csv|both] [--ids]
 *        [--api events|batches]   (expandSpec, the default, or expandSpecBatches)
 */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  expandSpec,
  expandSpecBatches,
  loadPromptsFileAsSpec,
  type ManifestEvent,
} from "../src/manifest/index.js";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
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
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ rows, samples, errors, seconds, maxRssMB })}\n`);
}

async function main(): Promise<void> {
  const n = Number(values.rows);
  const formats = values.format === "both" ? ["jsonl", "csv"] : [values.format];
  const dir = mkdtempSync(join(tmpdir(), "lf-bench-manifest-"));
  try {
    console.log(
      `manifest ingest: ${n} rows${values.ids ? " with ids" : ""}, ${values.api === "batches" ? "expandSpecBatches" : "expandSpec"}, ` +
        `node ${process.version} (goals: >= 200,000 rows/s; peak RSS < 200 MB at 10M rows)`,
    );
    for (const format of formats) {
      const path = join(dir, `prompts.${format}`);
      if (format === "jsonl") await writeLines(path, n, (i) => JSON.stringify(row(i, values.ids)));
      else {
        const cols = ["prompt", ...(values.ids ? ["id"] : []), "seed", "steps"];
        const cell = (v: string | number | undefined) => (typeof v === "string" ? `"${v}"` : (v ?? ""));
        await writeLines(
          path,
          n,
          (i) => cols.map((c) => cell(row(i, values.ids)[c])).join(","),
          cols.join(","),
        );
      }
      const mb = statSync(path).size / 1e6;
      const args = [fileURLToPath(import.meta.url), "--child", path, "--api", values.api];
      const out = execFileSync(process.execPath, args, {
        encoding: "utf8",
      });
      const r = JSON.parse(out) as {
        rows: number;
        samples: number;
        errors: number;
        seconds: number;
        maxRssMB: number;
      };
      console.log(
        `${format.padEnd(5)} ${mb.toFixed(0).padStart(6)} MB file: ${r.rows} rows, ${r.samples} samples, ` +
          `${r.errors} row errors in ${r.seconds.toFixed(2)} s = ${Math.round(r.rows / r.seconds)} rows/s; ` +
          `peak RSS ${r.maxRssMB.toFixed(0)} MB`,
      );
      rmSync(path);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.child) await child(values.child);
else await main();
