/**
 * The bundle that bin/latent-fleet.js runs (scripts/bundle.mjs, part of `npm run build`): every file it
 * needs at run time is where it looks. The command's own tests run it; these catch what they would not
 * reach (a package's files named through __dirname, a thread entry that is never started here).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BUNDLE = join(ROOT, "dist", "bundle");
const chunks = existsSync(BUNDLE) ? readdirSync(BUNDLE).filter((f) => /\.c?js$/.test(f)) : [];
const read = (f: string) => readFileSync(join(BUNDLE, f), "utf8");

describe("the command's bundle", () => {
  it("is what the installed command runs", () => {
    const bin = readFileSync(join(ROOT, "bin", "latent-fleet.js"), "utf8");
    expect(bin).toContain('new URL("../dist/bundle/cli.cjs", import.meta.url)');
    expect(existsSync(join(BUNDLE, "cli.cjs")), "run `npm run build`").toBe(true);
  });

  it("has each worker thread's entry beside the chunks that start it", () => {
    // src/common/threads.ts resolves `./<name>.js` against the URL of the code that calls it.
    for (const name of ["engine-thread", "png-thread"]) {
      const starters = chunks.filter((f) => read(f).includes(`"${name}"`));
      expect(starters.length, name).toBeGreaterThan(0);
      expect(existsSync(join(BUNDLE, `${name}.js`)), name).toBe(true);
    }
  });

  it("points each bundled package's __dirname at a file of that package that exists", () => {
    // The banner's helper, as the chunks run it: the package's main file, up to the package's folder.
    const require = createRequire(join(BUNDLE, "cli.js"));
    const calls = chunks.flatMap((f) => [...read(f).matchAll(/__lfPackageFile\("([^"]+)", "([^"]+)"\)/g)]);
    expect(calls.length).toBeGreaterThan(0);
    for (const [, name, inside] of calls) {
      const main = require.resolve(name);
      const marker = `${sep}node_modules${sep}${name.split("/").join(sep)}${sep}`;
      const file = join(main.slice(0, main.lastIndexOf(marker) + marker.length), inside);
      expect(existsSync(file), `${name}: ${inside}`).toBe(true);
    }
  });

  it("is ASCII only, so that V8 holds each file as a one-byte string", () => {
    expect(chunks.length).toBeGreaterThan(2);
    for (const f of chunks) expect(read(f).match(/[\u0080-\uffff]/)?.[0], f).toBeUndefined();
  });

  it("leaves no bare __dirname or __filename in a bundled package's module", () => {
    // esbuild wraps each CommonJS file as `"node_modules/<path>"(exports, module) { ... }`: one that names
    // them without the preamble would throw in an ES module chunk.
    let wrapped = 0;
    for (const f of chunks) {
      for (const part of read(f).split(/(?=\n\s*"node_modules\/[^"]+"\([^)]*\)\s*\{)/)) {
        const file = /^\n\s*"(node_modules\/[^"]+)"/.exec(part)?.[1];
        if (!file) continue;
        wrapped++;
        const code = part.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
        if (!/\b__(dirname|filename)\b/.test(code)) continue;
        expect(code, file).toMatch(/^\s*"[^"]+"\([^)]*\)\s*\{\s*var __filename = __lfPackageFile\(/);
      }
    }
    expect(wrapped).toBeGreaterThan(100);
  });
});

describe("the installed command's engine thread", () => {
  const dir = mkdtempSync(join(tmpdir(), "lf-engine-thread-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** Loaded before the command: counts the engine threads the process starts, and says so at its exit. */
  const counter = join(dir, "count-engine-threads.cjs");
  writeFileSync(
    counter,
    [
      'const threads = require("node:worker_threads");',
      "const Original = threads.Worker;",
      "let started = 0;",
      "threads.Worker = class extends Original {",
      "  constructor(entry, options) {",
      '    if (String(entry).includes("engine-thread")) started++;',
      "    super(entry, options);",
      "  }",
      "};",
      'require("node:module").syncBuiltinESMExports();',
      "if (threads.isMainThread)",
      '  process.on("exit", () => process.stderr.write("engine threads started: " + started + "\\n"));',
    ].join("\n"),
  );
  const run = (args: string[]) =>
    spawnSync(process.execPath, ["--require", counter, join(ROOT, "bin", "latent-fleet.js"), ...args], {
      encoding: "utf8",
      timeout: 60_000,
    });

  it("is started once, by the launcher, and the command takes it", () => {
    const out = join(dir, "x.png");
    const model = join(ROOT, "models", "tiny-shapes");
    const r = run(["sample", "--model", model, "--prompt", "a red circle", "--steps", "2", "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(r.stderr).toMatch(/^engine threads started: 1$/m);
  });

  it("is not started for a command without a model, nor for help", () => {
    expect(run(["validate", join(ROOT, "examples", "shapes.yaml")]).stderr).toMatch(
      /^engine threads started: 0$/m,
    );
    const help = run(["sample", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stderr).toMatch(/^engine threads started: 0$/m);
  });
});

describe("the command's code cache", () => {
  const dir = mkdtempSync(join(tmpdir(), "lf-code-cache-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** Runs the installed command: its stdout, and what it says of its cache. */
  const cli = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [join(ROOT, "bin", "latent-fleet.js"), ...args], {
      env: { ...process.env, LF_CODE_CACHE_DIR: dir, LF_CODE_CACHE_REPORT: "1", ...env },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    return { stdout: r.stdout, cache: /code cache: (\w+)/.exec(r.stderr)?.[1] };
  };

  it("is made by a command's first run and used by the next, with the same result", () => {
    const args = ["validate", join(ROOT, "examples", "shapes.yaml")];
    const first = cli(args);
    expect(first.cache).toBe("none");
    expect(existsSync(join(dir, "validate.bin"))).toBe(true);
    const second = cli(args);
    expect(second.cache).toBe("used");
    expect(second.stdout).toBe(first.stdout);
    expect(second.stdout).toMatch(/samples/);
  });

  it("is made again when damaged or made under other V8 flags, and the command runs the same", () => {
    const version = cli(["--version"]).stdout;
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect(cli(["--version"]).cache).toBe("used");
    const file = join(dir, "other.bin");
    // V8 itself would take flipped bytes (and crash on them): the file's own checksum catches them.
    const bytes = readFileSync(file);
    for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 4000; i++) bytes[i] ^= 0x5a;
    writeFileSync(file, bytes);
    expect(cli(["--version"])).toEqual({ stdout: version, cache: "damaged" });
    expect(cli(["--version"]).cache).toBe("used");
    writeFileSync(file, bytes.subarray(0, 20));
    expect(cli(["--version"])).toEqual({ stdout: version, cache: "damaged" });
    expect(cli(["--version"]).cache).toBe("used");
    const otherFlags = { NODE_OPTIONS: "--max-old-space-size=1000" };
    expect(cli(["--version"], otherFlags)).toEqual({ stdout: version, cache: "rejected" });
    expect(cli(["--version"], otherFlags).cache).toBe("used");
  });

  it("is neither read nor written with LF_CODE_CACHE=off", () => {
    const off = join(dir, "off");
    expect(cli(["--version"], { LF_CODE_CACHE: "off", LF_CODE_CACHE_DIR: off }).cache).toBe("off");
    expect(existsSync(off)).toBe(false);
  });
});
