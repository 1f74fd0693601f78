/**
 * The layering rules of .dependency-cruiser.cjs (run by `npm run lint`): the real rules, run by the real
 * dependency-cruiser over small trees, so a rule that stopped matching (a renamed folder, a typo in a regex)
 * is caught here rather than found years later as a quietly allowed import.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.js";

const run = promisify(execFile);
const DEPCRUISE = join(ROOT, "node_modules", ".bin", "depcruise");

let tree: string | undefined;
afterEach(async () => {
  if (tree) await rm(tree, { recursive: true, force: true });
  tree = undefined;
});

/** Writes `files` (path -> the paths it imports) under a temp root with the project's rules, and checks it. */
async function check(files: Record<string, string[]>): Promise<{ ok: boolean; output: string }> {
  tree = await mkdtemp(join(tmpdir(), "lf-layers-"));
  await copyFile(join(ROOT, ".dependency-cruiser.cjs"), join(tree, ".dependency-cruiser.cjs"));
  await writeFile(join(tree, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "nodenext" } }));
  for (const [file, imports] of Object.entries(files)) {
    await mkdir(join(tree, dirname(file)), { recursive: true });
    const lines = imports.map((to, i) => {
      const rel = relative(dirname(file), to).replace(/\.ts$/, ".js");
      return `import * as m${i} from "${rel.startsWith(".") ? rel : `./${rel}`}";\nexport const u${i} = m${i};`;
    });
    await writeFile(join(tree, file), `${lines.join("\n")}\nexport const here = 1;\n`);
  }
  try {
    const { stdout } = await run(DEPCRUISE, ["src", "--config", ".dependency-cruiser.cjs"], { cwd: tree });
    return { ok: true, output: stdout };
  } catch (err) {
    return { ok: false, output: String((err as { stdout?: string }).stdout ?? err) };
  }
}

describe("the layering check", () => {
  it("accepts the allowed directions", async () => {
    const r = await check({
      "src/common/errors.ts": [],
      "src/engine/pipeline.ts": ["src/common/errors.ts"],
      "src/manifest/expand.ts": ["src/common/errors.ts"],
      "src/coordinator/coordinator.ts": ["src/manifest/expand.ts", "src/common/errors.ts"],
      "src/coordinator/index.ts": ["src/coordinator/coordinator.ts"],
      "src/worker/worker.ts": ["src/engine/pipeline.ts"],
      "src/worker/index.ts": ["src/worker/worker.ts"],
      "src/cli/index.ts": ["src/coordinator/index.ts", "src/worker/index.ts", "src/engine/pipeline.ts"],
    });
    expect(r.output).toContain("no dependency violations");
    expect(r.ok).toBe(true);
  }, 60_000);

  it.each([
    ["coordinator-not-worker", { "src/coordinator/a.ts": ["src/worker/b.ts"], "src/worker/b.ts": [] }],
    ["coordinator-not-worker", { "src/coordinator/a.ts": ["src/engine/b.ts"], "src/engine/b.ts": [] }],
    ["worker-not-coordinator", { "src/worker/a.ts": ["src/coordinator/b.ts"], "src/coordinator/b.ts": [] }],
    ["worker-not-coordinator", { "src/worker/a.ts": ["src/manifest/b.ts"], "src/manifest/b.ts": [] }],
    ["common-imports-no-part", { "src/common/a.ts": ["src/worker/b.ts"], "src/worker/b.ts": [] }],
    ["engine-only-common", { "src/engine/a.ts": ["src/worker/b.ts"], "src/worker/b.ts": [] }],
    ["cli-uses-role-entry-points", { "src/cli/a.ts": ["src/worker/deep.ts"], "src/worker/deep.ts": [] }],
    ["no-cycles", { "src/common/a.ts": ["src/common/b.ts"], "src/common/b.ts": ["src/common/a.ts"] }],
  ])(
    "refuses an import that breaks %s",
    async (rule, files) => {
      const r = await check(files);
      expect(r.ok).toBe(false);
      expect(r.output).toContain(`error ${rule}`);
    },
    60_000,
  );
});
