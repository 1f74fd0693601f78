/// <reference lib="dom" />
/**
 * Writes docs/live-page.png: the live job page of a `latent-fleet run` of the bundled model, half-way,
 * taken by Debian's chromium through playwright-core. Needs a build (the run starts dist/).
 * Run: npm run docs:live-page
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { bundledModelDir, packageRoot } from "../src/common/package-root.js";

const tmp = await mkdtemp(join(tmpdir(), "lf-live-page-"));
const colors = ["red", "green", "blue", "yellow", "purple", "orange"];
const shapes = ["circle", "square", "triangle"];
const rows = colors.flatMap((c) =>
  shapes.map((s) => JSON.stringify({ prompt: `a ${c} ${s} on a white background` })),
);
rows.splice(3, 0, JSON.stringify({ prompt: "a grey star", guidance_scale: "high" }));
await writeFile(join(tmp, "prompts.jsonl"), `${rows.join("\n")}\n`);
await writeFile(
  join(tmp, "job.yaml"),
  [
    `model: ${bundledModelDir()}`,
    "output: out/shapes",
    "seed: 3",
    "images_per_prompt: 4",
    "defaults: { steps: 30, width: 64, height: 64 }",
    "prompts:",
    "  - file: prompts.jsonl",
  ].join("\n"),
);
const cli = join(packageRoot(), "bin", "latent-fleet.js");
const run = spawn(process.execPath, [cli, "run", "job.yaml", "--shard-size", "4"], {
  cwd: tmp,
  stdio: ["ignore", "ignore", "pipe"],
});
let text = "";
const url = await new Promise<string>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no live page after 2 minutes:\n${text}`)), 120_000);
  run.stderr.on("data", (c: Buffer) => {
    text += c.toString();
    const m = /live page: (\S+)/.exec(text);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  run.once("exit", () => reject(new Error(`run exited:\n${text}`)));
});
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(url);
  // Until a good part of the job is done, so that the chart, the workers and the gallery have something.
  await page.waitForFunction(
    () => {
      const p = document.querySelector("#progress") as HTMLProgressElement | null;
      return p !== null && p.value >= p.max * 0.4 && document.querySelectorAll("#newest .thumb").length >= 12;
    },
    null,
    { timeout: 180_000 },
  );
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(packageRoot(), "docs", "live-page.png"), fullPage: false });
} finally {
  await browser.close();
  run.kill("SIGTERM");
  await new Promise((r) => run.once("exit", r));
  await rm(tmp, { recursive: true, force: true });
}
