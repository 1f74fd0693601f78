/**
 * The bundle that bin/latent-fleet.js runs (scripts/bundle.mjs, part of `npm run build`): every file it
 * needs at run time is where it looks. The command's own tests run it; these catch what they would not
 * reach (a package's files named through __dirname, a thread entry that is never started here).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BUNDLE = join(ROOT, "dist", "bundle");
const chunks = existsSync(BUNDLE) ? readdirSync(BUNDLE).filter((f) => f.endsWith(".js")) : [];
const read = (f: string) => readFileSync(join(BUNDLE, f), "utf8");

describe("the command's bundle", () => {
  it("is what the installed command runs", () => {
    const bin = readFileSync(join(ROOT, "bin", "latent-fleet.js"), "utf8");
    expect(bin).toContain('new URL("../dist/bundle/cli.js", import.meta.url)');
    expect(existsSync(join(BUNDLE, "cli.js")), "run `npm run build`").toBe(true);
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
