/**
 * Bundles the compiled command (dist/src) into dist/bundle, which bin/latent-fleet.js runs.
 *
 * Why: `run` starts three Node processes on one machine (itself, the coordinator, a worker with its engine
 * thread), and each spent most of its start resolving, reading, compiling and linking a few hundred module
 * files. Now the command is one CommonJS script, `cli.cjs`, which bin/latent-fleet.js runs through
 * vm.Script with a V8 code cache (ES modules get none from Node 20): a process compiles next to nothing it
 * compiled the last time it ran that command, and the commands it does not run stay unevaluated behind
 * esbuild's lazy module wrappers. The worker threads (engine, PNG) start from ES module entries of their
 * own, code-split, next to the script (src/common/threads.ts resolves `./<name>.js` beside the caller).
 *
 * Left outside the bundle, loaded from node_modules as before: native addons and the packages only a test
 * or an optional feature loads. Bundled packages that name `__dirname` or `__filename` (the gRPC health and
 * reflection services read their .proto files through them) get them pointed at their own folder in
 * node_modules, as if they were not bundled. The gRPC packages are all inside: left outside, the health
 * and reflection services would load a second copy of @grpc/grpc-js, protobufjs and proto-loader from
 * node_modules into every process that serves gRPC (about 120 ms of a coordinator's start).
 *
 * It also compiles the live job page (src/coordinator/ui/page: app.ts for the browser, its HTML and styles)
 * into dist/ui, where the coordinator's page server reads it: the package and the images ship dist/.
 *
 * Usage: node scripts/bundle.mjs   (after tsc; `npm run build` runs both)
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const compiled = join(root, "dist", "src");
const outdir = join(root, "dist", "bundle");
const pageSrc = join(root, "src", "coordinator", "ui", "page");
const pageOut = join(root, "dist", "ui");

export const EXTERNAL_PACKAGES = [
  "onnxruntime-node",
  "@huggingface/tokenizers",
  "@aws-sdk/*",
  "@smithy/*",
  "hyparquet",
  "hyparquet-compressors",
  "hyparquet-writer",
  "@duckdb/*",
  "playwright-core",
];

/** The package a file of node_modules belongs to, and the file's path inside it. */
function packageFile(path) {
  const all = path.split(sep);
  const parts = all.slice(all.lastIndexOf("node_modules") + 1);
  const size = parts[0].startsWith("@") ? 2 : 1;
  return { name: parts.slice(0, size).join("/"), inside: parts.slice(size).join("/") };
}

/** A CommonJS file of a bundled package that names __dirname/__filename gets its own values back. */
const packagePaths = {
  name: "package-paths",
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/].*\.c?js$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      if (!/\b__(dirname|filename)\b/.test(source)) return undefined;
      const { name, inside } = packageFile(args.path);
      const preamble =
        `var __filename = __lfPackageFile(${JSON.stringify(name)}, ${JSON.stringify(inside)}); ` +
        "var __dirname = __lfDirname(__filename);\n";
      return { contents: preamble + source, loader: "js" };
    });
  },
};

/**
 * Where Node finds a package from the bundle: its main file's folder, up to the package's own. Runs in the
 * bundle (its source goes into the banner), with the banner's `require` and path helpers.
 */
function __lfPackageFile(name, inside) {
  const main = require.resolve(name);
  const marker = __lfSep + __lfJoin("node_modules", name) + __lfSep;
  const at = main.lastIndexOf(marker);
  return at < 0 ? __lfJoin(__lfDirname(main), inside) : __lfJoin(main.slice(0, at + marker.length), inside);
}

const helpers = [
  'import { createRequire as __lfCreateRequire } from "node:module";',
  'import { dirname as __lfDirname, join as __lfJoin, sep as __lfSep } from "node:path";',
];

/**
 * The text with every character outside ASCII written as a \\u escape. A script with even one such
 * character (a dash in a package's comment) is held by V8 as a two-byte string: reading cli.cjs and compiling
 * it with its cache took 30-60 % longer in every process than the same script in ASCII. The escape means the
 * same character in strings, regular expressions, template literals and identifiers, and nothing in comments.
 */
function asciiOnly(text) {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

await rm(outdir, { recursive: true, force: true });
const common = {
  outdir,
  bundle: true,
  platform: "node",
  target: "node20",
  external: EXTERNAL_PACKAGES,
  plugins: [packagePaths],
  sourcemap: "linked",
  logLevel: "warning",
};
// The command: one CommonJS script. Its modules' import.meta.url is the script's own URL, so the thread
// entries resolve beside it; the banner gives it the helper above (CommonJS has `require` already).
await build({
  ...common,
  entryPoints: { cli: join(compiled, "cli", "index.js") },
  outExtension: { ".js": ".cjs" },
  format: "cjs",
  define: { "import.meta.url": "__lfImportMetaUrl" },
  banner: {
    js: [
      'const { dirname: __lfDirname, join: __lfJoin, sep: __lfSep } = require("node:path");',
      'const __lfImportMetaUrl = require("node:url").pathToFileURL(__filename).href;',
      __lfPackageFile.toString(),
    ].join("\n"),
  },
});
// A script run through vm.Script (bin/latent-fleet.js) cannot import() on Node 20 without an experimental
// flag, and loses the way to once its functions come from the code cache: the import() of packages left
// outside (ES modules only, such as hyparquet) is handed to the loader's own, `__lfImport`.
const script = join(outdir, "cli.cjs");
const text = await readFile(script, "utf8");
const outside = (spec) =>
  EXTERNAL_PACKAGES.some((e) => (e.endsWith("/*") ? spec.startsWith(e.slice(0, -1)) : spec === e));
const handed = text.replace(/\bimport\((["'])([^"'\s]+)\1\)/g, (call, quote, spec) =>
  outside(spec) ? `__lfImport(${quote}${spec}${quote})` : call,
);
const left = handed.match(/\bimport\((["'])[^"'\s]+\1\)/g);
if (left) throw new Error(`cli.cjs: import() of ${left.join(", ")} would fail in the loader's script`);
await writeFile(script, handed);
// The worker threads: ES modules, code-split between them. Every chunk gets `require` for the CommonJS
// packages inside (an ES module has none) and the helper above.
await build({
  ...common,
  entryPoints: {
    "engine-thread": join(compiled, "engine", "engine-thread.js"),
    "png-thread": join(compiled, "worker", "png-thread.js"),
    "thumbnail-thread": join(compiled, "coordinator", "ui", "thumbnail-thread.js"),
  },
  splitting: true,
  format: "esm",
  banner: {
    js: [...helpers, "const require = __lfCreateRequire(import.meta.url);", __lfPackageFile.toString()].join(
      "\n",
    ),
  },
});
// Every file of the bundle in ASCII (the thread chunks too), once all are written.
for (const file of await readdir(outdir)) {
  if (!/\.c?js$/.test(file)) continue;
  const path = join(outdir, file);
  const code = await readFile(path, "utf8");
  const ascii = asciiOnly(code);
  if (ascii !== code) await writeFile(path, ascii);
}

// The live job page: one ES module for the browser (tsc leaves the page out; its own tsconfig checks it),
// beside the page and its styles as they are. ASCII as the rest, for the same reason.
await rm(pageOut, { recursive: true, force: true });
await mkdir(pageOut, { recursive: true });
await build({
  entryPoints: [join(pageSrc, "app.ts")],
  outfile: join(pageOut, "app.js"),
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  tsconfig: join(pageSrc, "tsconfig.json"),
  logLevel: "warning",
});
const page = join(pageOut, "app.js");
await writeFile(page, asciiOnly(await readFile(page, "utf8")));
for (const name of ["index.html", "style.css"]) await copyFile(join(pageSrc, name), join(pageOut, name));
