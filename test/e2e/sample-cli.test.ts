import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePng } from "../../src/engine/png.js";
import { CLI, TINY_SHAPES } from "../helpers/paths.js";

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("latent-fleet sample", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-sample-"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("writes one PNG and says what it made", async () => {
    const out = join(tmp, "x.png");
    const r = cli([
      "sample",
      "--model",
      TINY_SHAPES,
      "--prompt",
      "a red circle on a white background",
      "--seed",
      "3",
      "--out",
      out,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/64x64, seed 3, 20 steps, euler/);
    const png = decodePng(await readFile(out));
    expect([png.width, png.height]).toEqual([64, 64]);
  });

  it("gives the same bytes for the same seed and settings", async () => {
    const a = join(tmp, "a.png");
    const b = join(tmp, "b.png");
    const args = [
      "sample",
      "--model",
      TINY_SHAPES,
      "--prompt",
      "a blue square on a gray background",
      "--seed",
      "77",
    ];
    args.push("--scheduler", "dpmpp_2m", "--steps", "12");
    expect(cli([...args, "--out", a]).code).toBe(0);
    expect(cli([...args, "--out", b]).code).toBe(0);
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
  });

  const failures: [string, string[], RegExp][] = [
    [
      "a missing model folder",
      ["--model", "/nonexistent/model"],
      /model folder \/nonexistent\/model does not exist/,
    ],
    ["an unknown scheduler", ["--scheduler", "plms"], /unknown scheduler "plms"/i],
    ["a size not a multiple of 8", ["--width", "100"], /width must be a multiple of 8, got 100/],
    ["a bad seed", ["--seed", "abc"], /--seed must be an integer/],
    ["an unknown device", ["--device", "gpu0"], /unknown device "gpu0"/],
  ];
  for (const [what, extra, message] of failures) {
    it(`explains ${what} without a stack trace`, () => {
      const r = cli([
        "sample",
        "--prompt",
        "a red circle on a white background",
        "--out",
        join(tmp, "bad.png"),
        ...extra,
      ]);
      // Each is found before any sampling starts: the bad-argument code.
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it("explains a malformed model folder", () => {
    const r = cli(["sample", "--model", tmp, "--prompt", "x", "--out", join(tmp, "bad.png")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model_index\.json is missing/);
  });
});
