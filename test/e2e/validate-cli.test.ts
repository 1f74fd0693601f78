/**
 * `latent-fleet validate` and `run --dry-run` through the real CLI: a good spec prints what the job would be
 * and exits 0; a bad spec, a rejected row, a missing model or an unwritable output exits 2 with one line on
 * stderr. Nothing starts: nats-server is a stand-in that leaves a mark when executed (a control run shows
 * that `run` does execute it), and no output folder appears.
 */
import { execFile } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, ROOT, TINY_SHAPES } from "../helpers/paths.js";

describe("latent-fleet validate / run --dry-run", () => {
  let tmp: string;
  let natsMark: string;
  let fakeNats: string;
  const shapes = join(ROOT, "examples", "shapes.yaml");

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-validate-"));
    natsMark = join(tmp, "nats-server-ran");
    fakeNats = join(tmp, "bin", "nats-server");
    await mkdir(join(tmp, "bin"));
    await writeFile(fakeNats, `#!/bin/sh\ntouch '${natsMark}'\nexit 3\n`);
    await chmod(fakeNats, 0o755);
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function cli(args: string[]) {
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const child = execFile(
        process.execPath,
        [CLI, ...args],
        {
          encoding: "utf8",
          timeout: 60_000,
          cwd: tmp,
          env: { ...process.env, PATH: `${join(tmp, "bin")}:${process.env.PATH}` },
        },
        (_err, stdout, stderr) => done({ code: child.exitCode, stdout, stderr }),
      );
    });
  }

  async function exists(path: string): Promise<boolean> {
    return stat(path).then(
      () => true,
      () => false,
    );
  }

  it("validate: rows, samples, shards, model, output and the first samples; exit 0, nothing started", async () => {
    const out = join(tmp, "out-validate");
    const r = await cli(["validate", shapes, "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`model: ${TINY_SHAPES} (tiny-shapes`);
    expect(r.stdout).toContain(`output: ${out} (imagefolder, writable)`);
    // One prompt, then 6 colours x 3 shapes x 3 backgrounds; 2 images each; shards of 32 (the default).
    expect(r.stdout).toMatch(/^rows: 55$/m);
    expect(r.stdout).toMatch(/^samples: 110$/m);
    expect(r.stdout).toMatch(/^shards: 4 \(shard size 32\)$/m);
    expect(r.stdout).toMatch(
      /^ {2}r000000000-0: "a red circle on a white background" \(seed \d+, steps 20, guidance 4, euler, 64x64\)/m,
    );
    expect(r.stdout.match(/^ {2}r\d+-\d: /gm)).toHaveLength(5);
    expect(r.stdout).toMatch(/^max failed: 0 \(the default: a single failure fails the job\)$/m);
    expect(await exists(out)).toBe(false);
    expect(await exists(natsMark)).toBe(false);
  });

  it("validate: the spec's max_failed", async () => {
    const spec = join(tmp, "tolerant.yaml");
    await writeFile(spec, `model: ${TINY_SHAPES}\nmax_failed: 2%\nprompts: ["a red circle"]\n`);
    const r = await cli(["validate", spec]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^max failed: 2% \(the spec's max_failed\)$/m);
  });

  it("run --dry-run: the same report with run's shard size and tolerance; no nats-server, no output", async () => {
    const out = join(tmp, "out-dry-run");
    const r = await cli([
      "run",
      shapes,
      "--dry-run",
      "--out",
      out,
      "--shard-size",
      "100",
      "--max-failed",
      "3",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^shards: 2 \(shard size 100\)$/m);
    expect(r.stdout).toMatch(/^max failed: 3 \(--max-failed\)$/m);
    expect(r.stdout).toMatch(/^samples: 110$/m);
    expect(await exists(out)).toBe(false);
    expect(await exists(natsMark)).toBe(false);
  });

  const refusals: { name: string; args: () => Promise<string[]>; stderr: RegExp }[] = [
    {
      name: "a bad spec",
      args: async () => ["validate", join(ROOT, "test", "fixtures", "bad-input", "specs", "steps-zero.yaml")],
      stderr: /steps-zero\.yaml:2: defaults\.steps must be an integer in \[1, 500\], got 0 \[SPEC_INVALID\]/,
    },
    {
      name: "a spec whose max_failed is not a tolerance",
      args: async () => [
        "validate",
        join(ROOT, "test", "fixtures", "bad-input", "specs", "max-failed-not-a-tolerance.yaml"),
      ],
      stderr:
        /max-failed-not-a-tolerance\.yaml:2: max_failed must be a count of failures .* got "5 percent" \[SPEC_INVALID\]/,
    },
    {
      name: "a row the job would reject",
      args: async () => {
        const dir = join(tmp, "bad-rows");
        await cp(join(ROOT, "test", "fixtures", "manifests", "bad-rows"), dir, { recursive: true });
        await mkdir(join(dir, "models"));
        await symlink(TINY_SHAPES, join(dir, "models", "tiny-shapes"));
        return ["run", "--dry-run", join(dir, "job.yaml")];
      },
      stderr: /bad\.jsonl:\d+: .* \[ROW_INVALID\]/,
    },
    {
      name: "a missing model folder",
      args: async () => {
        const spec = join(tmp, "no-model.yaml");
        await writeFile(spec, 'model: ./no-such-model\nprompts: ["a red circle"]\n');
        return ["validate", spec];
      },
      stderr: /model folder .*no-such-model does not exist \[MODEL_NOT_FOUND\]/,
    },
    {
      name: "an output under a file",
      args: async () => {
        await writeFile(join(tmp, "a-file"), "x");
        return ["run", shapes, "--dry-run", "--out", join(tmp, "a-file", "out")];
      },
      stderr: /output folder .*a-file\/out: .*a-file is a file, not a folder \[OUTPUT_UNAVAILABLE\]/,
    },
    {
      // No coordinator listens there: the refusal can only come from submit's own checks.
      name: "submit of a spec whose model folder is missing",
      args: async () => ["submit", join(tmp, "no-model.yaml"), "--coordinator", "127.0.0.1:1"],
      stderr: /model folder .*no-such-model does not exist \[MODEL_NOT_FOUND\]/,
    },
    {
      // Nor a NATS server: the worker checks its model before it connects.
      name: "a worker whose model folder is missing",
      args: async () => ["worker", "--nats", "nats://127.0.0.1:1", "--model", join(tmp, "no-such-model")],
      stderr: /model folder .*no-such-model does not exist \[MODEL_NOT_FOUND\]/,
    },
  ];

  it.each(refusals)("$name: exit 2, one line on stderr, nothing started", async ({ args, stderr }) => {
    const before = await readdir(tmp);
    const r = await cli(await args());
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^[^\n]+\n$/);
    expect(r.stderr).toMatch(stderr);
    expect(r.stdout).toBe("");
    expect(await exists(natsMark)).toBe(false);
    // Only what the case itself wrote (its spec or fixture copy) is new.
    const created = (await readdir(tmp)).filter((f) => !before.includes(f));
    expect(created.filter((f) => !["bad-rows", "no-model.yaml", "a-file"].includes(f))).toEqual([]);
  });

  it("control: without --dry-run, run does execute the nats-server it finds (the mark can appear)", async () => {
    const r = await cli(["run", shapes, "--out", join(tmp, "out-control"), "--nats-server-bin", fakeNats]);
    expect(r.code).not.toBe(0);
    expect(await exists(natsMark)).toBe(true);
  });
});
