/**
 * `latent-fleet run` as a user runs it: a real nats-server, a coordinator and workers as processes.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteFile } from "hyparquet-writer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ErrorRow, JobStatsFile } from "../../src/common/contract/job.js";
import { decodePng } from "../../src/engine/png.js";
import { expandSpec, loadSpec } from "../../src/manifest/index.js";
import { listFiles, readMetadata, startCli } from "../helpers/cli-processes.js";
import { CLI, ROOT, TINY_SHAPES } from "../helpers/paths.js";
import { waitFor } from "../helpers/worker-fixtures.js";

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, "run", ...args], { encoding: "utf8", timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `run`'s own log lines (where its start went) are there, each a JSON object. */
function expectJsonLogLines(stderr: string): void {
  const records = stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { msg: string; component: string; ms: number });
  expect(records.map((r) => r.msg)).toEqual(["nats-server started", "coordinator serving", "job submitted"]);
  for (const r of records) {
    expect(r.component).toBe("run");
    expect(r.ms).toBeGreaterThan(0);
  }
  expect(stderr).not.toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO/m);
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
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:2: defaults\.steps must be an integer/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toMatch(/NATS nats:/);
  });

  it("reports every kind of bad row with file, line and field, and still makes the good rows (Parquet too)", async () => {
    const dir = join(tmp, "bad-rows");
    await cp(join(ROOT, "test", "fixtures", "manifests", "bad-rows"), dir, { recursive: true });
    parquetWriteFile({
      filename: join(dir, "prompts.parquet"),
      columnData: [
        {
          name: "prompt",
          data: ["parquet ok", "zero steps", "a prompt longer than this job's limit of forty"],
          type: "STRING",
        },
        { name: "steps", data: Int32Array.from([3, 0, 3]), type: "INT32" },
      ],
    });
    await writeFile(
      join(dir, "job.yaml"),
      [
        `model: ${TINY_SHAPES}`,
        "defaults: { steps: 2, guidance_scale: 1, width: 16, height: 16 }",
        "limits: { max_prompt_length: 40 }",
        "prompts:",
        "  - file: bad.jsonl",
        "  - file: bad.csv",
        "  - file: bad-syntax.csv",
        "  - file: prompts.parquet",
        '  - "after all the bad files"',
      ].join("\n"),
    );
    const out = join(tmp, "bad-rows-out");
    const r = run([join(dir, "job.yaml"), "--out", out, "--workers", "1", "--log-format", "json"]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expectJsonLogLines(r.stderr);
    // Rejected rows make the job FAILED, after every good row was made.
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED, 8\/8 done, 0 failed, 20 rows rejected/);
    // Every process was healthy: the summary says why, the logs are kept but not dumped.
    expect(r.stderr).not.toMatch(/\(last lines\) ---/);
    expect(r.stderr).toMatch(/^logs: \S+/m);

    const rows = await readMetadata(out);
    expect(rows.map((row) => row.prompt)).toEqual([
      "jsonl ok first",
      "x",
      "jsonl ok last",
      "csv ok first",
      "csv ok last",
      "before the error",
      "parquet ok",
      "after all the bad files",
    ]);
    for (const row of rows) expect(decodePng(await readFile(join(out, row.file_name))).width).toBe(16);

    const errors = (await readFile(join(out, "errors.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as ErrorRow);
    expect(errors).toHaveLength(20);
    const at = (file: string, line: number) => `${join(dir, file)}:${line}`;
    const find = (where: string) => errors.find((e) => e.where === where);
    expect(find(at("bad.jsonl", 2))?.error).toMatch(/^line is not valid JSON/);
    expect(find(at("bad.jsonl", 3))).toMatchObject({ field: "prompt" });
    expect(find(at("bad.jsonl", 7))).toMatchObject({ field: "scheduler" });
    expect(find(at("bad.jsonl", 11))?.error).toMatch(/id "DUP" is used by an earlier row/);
    expect(find(at("bad.csv", 4))).toMatchObject({ field: "steps" });
    expect(find(at("bad.csv", 6))?.error).toMatch(/row has 2 fields, the header has 4/);
    expect(find(at("bad-syntax.csv", 3))?.error).toMatch(/CSV syntax error/);
    expect(find(at("prompts.parquet", 2))).toMatchObject({ field: "steps" });
    expect(find(at("prompts.parquet", 3))).toMatchObject({ field: "prompt" });
    expect(find(at("prompts.parquet", 3))?.error).toMatch(/40/);
    for (const e of errors) expect(e.where).toMatch(/\.(jsonl|csv|parquet):\d+$/);
  });

  // Two runs: the spec's max_failed alone, and --max-failed over it (the strict rule by default is the
  // verdict's, test/unit/job-verdict.test.ts, and the coordinator's, test/integration/coordinator/pipeline).
  it("fails on a planted bad row with --max-failed 0 over the spec's max_failed: 1, and succeeds with the spec's alone (reported in the summary and _stats.json)", async () => {
    const dir = join(tmp, "max-failed");
    await mkdir(dir, { recursive: true });
    // A good row, one with steps out of range, a good row.
    await cp(
      join(ROOT, "test", "fixtures", "bad-input", "rows", "steps-range.jsonl"),
      join(dir, "rows.jsonl"),
    );
    await writeFile(
      join(dir, "job.yaml"),
      [
        `model: ${TINY_SHAPES}`,
        "max_failed: 1",
        "defaults: { steps: 2, guidance_scale: 1, width: 16, height: 16 }",
        "prompts:",
        "  - file: rows.jsonl",
      ].join("\n"),
    );
    // The flag wins over the spec's key: without it (or without its reaching the coordinator) this succeeds.
    const strict = run([join(dir, "job.yaml"), "--out", join(dir, "strict"), "--max-failed", "0"]);
    expect(strict.code, strict.stderr).toBe(1);
    // Not a terminal, no --log-format: JSON, as the fleet commands log.
    expectJsonLogLines(strict.stderr);
    expect(strict.stdout).toMatch(
      /FAILED, 2\/2 done, 0 failed, 1 rows rejected, 1 manifest row was rejected/,
    );
    const strictStats = JSON.parse(
      await readFile(join(dir, "strict", "_stats.json"), "utf8"),
    ) as JobStatsFile;
    expect(strictStats.failure_budget).toEqual({ max_failed: "0", allowed: 0, failures: 1 });

    const out = join(dir, "lenient");
    // The spec's max_failed alone: the command sends no tolerance of its own.
    const lenient = run([join(dir, "job.yaml"), "--out", out, "--log-format", "text"]);
    expect(lenient.code, lenient.stderr).toBe(0);
    expect(lenient.stderr).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}job submitted component=run job=\S+ ms=\d+$/m,
    );
    expect(lenient.stderr).not.toMatch(/^\{/m);
    expect(lenient.stdout).toMatch(
      /SUCCEEDED, 2\/2 done, 0 failed, 1 rows rejected, 1 failure within the spec's max_failed 1$/m,
    );
    expect((await readMetadata(out)).map((row) => row.id)).toEqual(["good-first-0", "good-last-0"]);
    const stats = JSON.parse(await readFile(join(out, "_stats.json"), "utf8")) as JobStatsFile;
    expect(stats.state).toBe("SUCCEEDED");
    expect(stats.rows_rejected).toBe(1);
    expect(stats.failure_budget).toEqual({ max_failed: "1", allowed: 1, failures: 1 });
    const errors = (await readFile(join(out, "errors.jsonl"), "utf8")).trim().split("\n");
    expect(errors.map((line) => (JSON.parse(line) as ErrorRow).where)).toEqual([
      `${join(dir, "rows.jsonl")}:2`,
    ]);

    // A tolerance that is not one is refused before anything starts.
    const bad = run([join(dir, "job.yaml"), "--out", join(dir, "bad"), "--max-failed", "5 percent"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-failed must be a count of failures \(N\) or a percentage/);
    expect(bad.stderr).not.toMatch(/NATS nats:/);
  });

  it("stops every process it started on Ctrl-C and exits 130", async () => {
    const out = join(tmp, "interrupted");
    const p = startCli("run", ["run", spec, "--out", out, "--workers", "2", "--batch-size", "2"]);
    await p.waitForOutput(/job \S+: writing to/, 60_000);
    const pid = p.child.pid as number;
    // Its children: nats-server, the coordinator and the workers.
    const children = (await readdir("/proc"))
      .filter((name) => /^\d+$/.test(name))
      .map((name) => Number(name))
      .filter((child) => parentPid(child) === pid);
    expect(children.length).toBe(4);
    p.child.kill("SIGINT");
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 60_000);
    const exit = await p.exited;
    clearTimeout(timer);
    expect(exit.code, p.output()).toBe(130);
    expect(p.output()).toMatch(/interrupted: stopping workers and coordinator/);
    expect(p.output()).not.toMatch(/\n\s+at /);
    const gone = await waitFor(() => children.every((child) => !isAlive(child)), 5_000);
    expect(gone).toBe(true);
    expect((await listFiles(out)).filter((f) => f.includes(".tmp"))).toEqual([]);
  });
});

function parentPid(pid: number): number {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return -1;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
