/**
 * The exit codes a script can trust (README: "Exit codes"), through the real CLI: every usage, spec, model
 * or device problem found before anything starts exits 2 with one line on stderr that names it, and
 * nothing is started (no working folder, nothing on stdout). No case runs a job.
 */
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COORDINATOR_OPTIONS } from "../../src/common/options/index.js";
import { CLI, ROOT, TINY_SHAPES } from "../helpers/paths.js";

/** The exit code README.md documents for a problem found before the job starts. */
const BAD_ARGUMENTS = 2;

/**
 * Whether this onnxruntime-node install has a CUDA provider library beside its native binding, read from
 * the install itself (not through the code under test).
 */
function cudaProviderInstalled(): boolean {
  const packageDir = dirname(createRequire(import.meta.url).resolve("onnxruntime-node/package.json"));
  const binDir = join(packageDir, "bin");
  const files = readdirSync(binDir, { recursive: true, encoding: "utf8" });
  return files.some((f) => /onnxruntime_providers_cuda\.(so|dll)$/.test(f));
}

describe("latent-fleet exit codes", () => {
  let tmp: string;
  let missingModelSpec: string;
  const shapes = join(ROOT, "examples", "shapes.yaml");

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-exit-codes-"));
    missingModelSpec = join(tmp, "missing-model.yaml");
    await writeFile(missingModelSpec, 'model: ./no-such-model\nprompts:\n  - "a red circle"\n');
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** Runs the CLI with its own empty temporary folder, where `run` would make its working folder. */
  async function cli(args: string[]) {
    const ownTmp = await mkdtemp(join(tmp, "t-"));
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const child = execFile(
        process.execPath,
        [CLI, ...args],
        { encoding: "utf8", timeout: 60_000, cwd: tmp, env: { ...process.env, TMPDIR: ownTmp } },
        (_err, stdout, stderr) => done({ code: child.exitCode, stdout, stderr }),
      );
    });
    return { ...r, tmpLeft: await readdir(ownTmp) };
  }

  const cases: { name: string; args: () => string[]; stderr: RegExp }[] = [
    { name: "unknown command", args: () => ["bogus"], stderr: /unknown command 'bogus'/ },
    {
      name: "unknown command, with commander's suggestion on the same line",
      args: () => ["rn"],
      stderr: /unknown command 'rn'.*Did you mean run\?/,
    },
    {
      name: "unknown option",
      args: () => ["run", shapes, "--bogus"],
      stderr: /unknown option '--bogus'/,
    },
    { name: "missing argument", args: () => ["run"], stderr: /missing required argument 'spec'/ },
    {
      name: "submit --max-failed that is neither a count nor a percentage",
      args: () => ["submit", shapes, "--max-failed", "101%"],
      stderr:
        /--max-failed must be a count of failures \(N\) or a percentage .* got "101%" \[INVALID_ARGUMENT\]/,
    },
    {
      name: "missing required option",
      args: () => ["sample", "--out", join(tmp, "x.png")],
      stderr: /required option '--prompt <text>' not specified/,
    },
    {
      name: "sample --steps 0",
      args: () => ["sample", "--prompt", "x", "--steps", "0", "--out", join(tmp, "x.png")],
      stderr: /--steps must be an integer in \[1, \d+\], got 0 \[INVALID_ARGUMENT\]/,
    },
    {
      name: "run on a missing spec file",
      args: () => ["run", join(tmp, "no-such-spec.yaml")],
      stderr: /no-such-spec\.yaml: cannot find the spec file \[SPEC_INVALID\]/,
    },
    {
      name: "run on a spec with a YAML error",
      args: () => ["run", join(ROOT, "test", "fixtures", "bad-input", "specs", "yaml-syntax.yaml")],
      stderr: /yaml-syntax\.yaml:3: cannot parse the spec.*\[SPEC_INVALID\]/,
    },
    {
      name: "run on a spec whose model folder is missing",
      args: () => ["run", missingModelSpec],
      stderr: /model folder .*no-such-model does not exist \[MODEL_NOT_FOUND\]/,
    },
    {
      // The worker starts its engine thread before it checks the folder: that thread must not hold it.
      name: "worker on a model folder that does not exist",
      args: () => ["worker", "--model", join(tmp, "no-such-model"), "--nats", "nats://127.0.0.1:1"],
      stderr: /model folder .*no-such-model does not exist \[MODEL_NOT_FOUND\]/,
    },
    {
      name: "inspect on a path that does not exist",
      args: () => ["inspect", join(tmp, "no-such-output")],
      stderr: /no-such-output: no such output folder \[INVALID_ARGUMENT\]/,
    },
    {
      name: "run --shard-size 5000",
      args: () => ["run", shapes, "--shard-size", String(COORDINATOR_OPTIONS.shardSize.max + 1)],
      stderr: /--shard-size must be an integer in \[1, 4096\], got 4097 \[INVALID_ARGUMENT\]/,
    },
  ];

  it.each(cases)("$name: exit 2, one line naming it, nothing started", async ({ args, stderr }) => {
    const r = await cli(args());
    expect(r.code, r.stderr).toBe(BAD_ARGUMENTS);
    expect(r.stderr).toMatch(/^[^\n]+\n$/);
    expect(r.stderr).toMatch(stderr);
    expect(r.stdout).toBe("");
    expect(r.tmpLeft).toEqual([]);
  });

  it("--help and --version still exit 0", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: latent-fleet/);
    const version = await cli(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.skipIf(cudaProviderInstalled())(
    "sample --device cuda:0 without the CUDA provider: exit 2, one line that says how to install it",
    async () => {
      const r = await cli([
        "sample",
        "--model",
        TINY_SHAPES,
        "--prompt",
        "x",
        "--steps",
        "1",
        "--device",
        "cuda:0",
        "--out",
        join(tmp, "cuda.png"),
      ]);
      expect(r.code, r.stderr).toBe(BAD_ARGUMENTS);
      expect(r.stderr).toMatch(/^[^\n]+\n$/);
      expect(r.stderr).toMatch(/CUDA execution provider is not available/);
      expect(r.stderr).toContain("ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci");
      expect(r.stderr).toMatch(/\[DEVICE_UNAVAILABLE\]$/m);
      // Not blamed on the model, and no native ONNX Runtime log.
      expect(r.stderr).not.toMatch(/model\.onnx|MODEL_INVALID|onnxruntime_src/);
      expect(r.stdout).toBe("");
    },
  );

  it.skipIf(cudaProviderInstalled())(
    "run --device cuda without the CUDA provider: refused before it starts anything",
    async () => {
      const r = await cli(["run", shapes, "--device", "cuda", "--out", join(tmp, "cuda-out")]);
      expect(r.code, r.stderr).toBe(BAD_ARGUMENTS);
      expect(r.stderr).toMatch(/^[^\n]+\n$/);
      expect(r.stderr).toMatch(/CUDA execution provider is not available.*\[DEVICE_UNAVAILABLE\]/);
      expect(r.tmpLeft).toEqual([]);
    },
  );
});
