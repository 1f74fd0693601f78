/**
 * The layering of src/ (docs/architecture.md draws it). `npm run lint` runs this check; a violation fails it.
 *   common     the contracts and adapters every part shares: imports nothing else of src/
 *   engine     ONNX sampling; manifest: job specs and prompt files; outputs: output formats  -> common only
 *   coordinator -> common, manifest, outputs      worker -> common, engine, outputs
 *   cli        composes the roles: their index.ts only, never their inner files
 */
const LIBS = "engine|manifest|outputs|eval";
const ROLES = "coordinator|worker|cli";

/** A rule that `from` may not import `to` (both path regexes). */
const forbid = (name, comment, from, to) => ({
  name,
  comment,
  severity: "error",
  from: { path: from },
  to: { path: to },
});

module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "modules form no import cycle",
      severity: "error",
      from: { path: "^src" },
      to: { circular: true },
    },
    forbid(
      "common-imports-no-part",
      "common is the bottom layer",
      "^src/common/",
      `^src/(${LIBS}|${ROLES})/`,
    ),
    forbid(
      "engine-only-common",
      "the engine knows no queue, job or role",
      "^src/engine/",
      `^src/(manifest|outputs|eval|${ROLES})/`,
    ),
    forbid(
      "manifest-only-common",
      "the manifest layer knows no role",
      "^src/manifest/",
      `^src/(engine|outputs|eval|${ROLES})/`,
    ),
    forbid(
      "outputs-only-common",
      "output formats know no role",
      "^src/outputs/",
      `^src/(engine|manifest|eval|${ROLES})/`,
    ),
    forbid(
      "eval-no-role",
      "evaluation reads images, it runs no role",
      "^src/eval/",
      `^src/(manifest|outputs|${ROLES})/`,
    ),
    forbid(
      "coordinator-not-worker",
      "roles meet only through common contracts",
      "^src/coordinator/",
      "^src/(worker|engine|cli)/",
    ),
    forbid(
      "worker-not-coordinator",
      "roles meet only through common contracts",
      "^src/worker/",
      "^src/(coordinator|manifest|cli)/",
    ),
    {
      name: "cli-uses-role-entry-points",
      comment: "the CLI starts a role through its index.ts, never its inner files",
      severity: "error",
      from: { path: "^src/cli/" },
      to: { path: "^src/(coordinator|worker)/", pathNot: "^src/(coordinator|worker)/index\\.ts$" },
    },
    forbid(
      "src-not-tests",
      "the product imports no test, bench or script",
      "^src/",
      "^(test|bench|scripts)/",
    ),
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/common/proto/generated/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
