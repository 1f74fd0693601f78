/**
 * `latent-fleet run` as a user runs it: a real nats-server, a coordinator and workers as processes.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MetadataRow } from "../../src/common/job-contract.js";
import { expandSpec, loadSpec } from "../../src/coordinator/manifest/index.js";
import { decodePng } from "../../src/worker/engine/png.js";
import { CLI, TINY_SHAPES } from "../helpers/paths.js";

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, "run", ...args], { encoding: "utf8", timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function readMetadata(out: string): Promise<MetadataRow[]> {
  const text = await readFile(join(out, "metadata.jsonl"), "utf8");
  return text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as MetadataRow);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe("latent-fleet run", () => {
  let tmp: string;
  let spec: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-run-"));
    await writeFile(
      join(tmp, "prompts.jsonl"),
      [
        JSON.stringify({ prompt: "a green square on a black background", id: "sq-1" }),
        JSON.stringify({ prompt: "a yellow triangle on a gray background", seed: 100, images_per_prompt: 3 }),
      ].join("\n"),
    );
    await writeFile(
      join(tmp, "prompts.csv"),
      'prompt,seed,guidance_scale\n"a blue circle, on a white background",5,\n"a red\nsquare",,2.5\n',
    );
    spec = join(tmp, "job.yaml");
    await writeFile(
      spec,
      [
        `model: ${TINY_SHAPES}`,
        "output: out/mixed",
        "seed: 42",
        "images_per_prompt: 2",
        "defaults: { steps: 6, guidance_scale: 4.0, scheduler: euler, width: 64, height: 64 }",
        "prompts:",
        '  - "a red circle on a white background"',
        "  - file: prompts.jsonl",
        "  - file: prompts.csv",
        '  - template: "a {color} {shape} on a white background"',
        "    vars: { color: [orange, purple], shape: [circle, triangle] }",
        "    images_per_prompt: 1",
      ].join("\n"),
    );
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("turns a mixed spec into every sample once, in manifest order, with 2 workers", async () => {
    const out = join(tmp, "two-workers");
    const r = run([spec, "--out", out, "--workers", "2", "--batch-size", "4", "--shard-size", "3"]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code, r.stderr).toBe(0);
    const expected: string[] = [];
    for await (const e of expandSpec(await loadSpec(spec, { outputOverride: out }))) {
      if (e.type === "sample") expected.push(e.sample.sampleId);
    }
    // 1 inline row x 2, JSONL 2 + 3, CSV 2 rows x 2, template 4 x 1.
    expect(expected).toHaveLength(15);
    expect(r.stdout).toMatch(/SUCCEEDED, 15\/15 done, 0 failed/);
    const rows = await readMetadata(out);
    expect(rows.map((row) => row.id)).toEqual(expected);
    for (const row of rows) {
      const png = decodePng(await readFile(join(out, row.file_name)));
      expect([png.width, png.height]).toEqual([64, 64]);
      expect(row.model).toBe("tiny-shapes");
    }
    const files = await listFiles(out);
    expect(files.filter((f) => f.endsWith(".png"))).toHaveLength(15);
    expect(files.filter((f) => f.includes(".tmp"))).toEqual([]);
  });

  it("gives the same images with 1 worker at batch size 1 and 3 workers at batch size 8", async () => {
    const one = join(tmp, "one");
    const three = join(tmp, "three");
    expect(run([spec, "--out", one, "--workers", "1", "--batch-size", "1"]).code).toBe(0);
    expect(run([spec, "--out", three, "--workers", "3", "--batch-size", "8", "--shard-size", "2"]).code).toBe(
      0,
    );
    const a = await readMetadata(one);
    const b = await readMetadata(three);
    expect(b.map((row) => row.id)).toEqual(a.map((row) => row.id));
    for (let i = 0; i < a.length; i++) {
      expect(b[i].seed).toBe(a[i].seed);
      const pa = decodePng(await readFile(join(one, a[i].file_name))).rgb;
      const pb = decodePng(await readFile(join(three, b[i].file_name))).rgb;
      let max = 0;
      for (let k = 0; k < pa.length; k++) max = Math.max(max, Math.abs(pa[k] - pb[k]));
      expect(max, a[i].id).toBeLessThanOrEqual(1);
    }
  });

  it("refuses a bad spec before starting anything, naming file, line and field", async () => {
    const bad = join(tmp, "bad.yaml");
    await writeFile(bad, `model: ${TINY_SHAPES}\ndefaults: { steps: twenty }\nprompts: ["x"]\n`);
    const r = run([bad, "--out", join(tmp, "bad-out")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bad\.yaml:2: defaults\.steps must be an integer/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toMatch(/NATS nats:/);
  });
});
