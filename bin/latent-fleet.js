#!/usr/bin/env node
// The installed command. The build (npm run build, run by npm ci/install) compiles the TypeScript to
// dist/src and bundles it into dist/bundle/cli.cjs, one script that starts several times sooner than the
// module tree. This file runs that script with a V8 code cache beside it, one per command (see
// docs/architecture.md, "The build"): a process then skips compiling the functions the command ran last
// time. A cache that is missing, stale (another build, another Node), damaged or unreadable is made again at exit
// where the folder is writable; the command runs the same either way. LF_CODE_CACHE=off turns it off, and
// LF_CODE_CACHE_DIR puts it elsewhere (an installation that its users cannot write to).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";
import { Worker } from "node:worker_threads";
import { crc32 } from "node:zlib";

const bundle = fileURLToPath(new URL("../dist/bundle/cli.cjs", import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write("latent-fleet: the build is missing; run `npm run build` in the package folder\n");
  process.exit(1);
}
// `worker` and `sample` load a model on an engine thread: started here, it loads its code and ONNX Runtime
// while this thread reads and compiles the command's; src/engine/engine-host.ts takes it (the CLI asks for
// it under the same condition, src/cli/index.ts).
if (
  (process.argv[2] === "worker" || process.argv[2] === "sample") &&
  !process.argv.some((a) => a === "--help" || a === "-h")
) {
  const thread = new Worker(new URL("../dist/bundle/engine-thread.js", import.meta.url));
  thread.unref();
  globalThis[Symbol.for("latent-fleet.engine-thread")] = thread;
}
const useCache = process.env.LF_CODE_CACHE !== "off";
// One cache per command: each compiles its own part of the script (a name that is not a plain word, such
// as an option, shares "other").
const command = /^[a-z][a-z-]*$/.test(process.argv[2] ?? "") ? process.argv[2] : "other";
const cacheDir = process.env.LF_CODE_CACHE_DIR || join(dirname(bundle), "code-cache");
const cacheFile = join(cacheDir, `${command}.bin`);
/**
 * V8 trusts a cache it is given (a damaged one can crash the process), so each file carries its length and
 * CRC-32 ahead of V8's bytes: "LFCC", length, CRC (little-endian), then the data.
 */
const MAGIC = 0x4343464c;
function readCache(file) {
  let bytes;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined; // none yet, or unreadable: compiled from source
  }
  const data = bytes.subarray(12);
  const whole =
    bytes.length >= 12 &&
    bytes.readUInt32LE(0) === MAGIC &&
    bytes.readUInt32LE(4) === data.length &&
    bytes.readUInt32LE(8) === crc32(data) >>> 0;
  return whole ? data : null;
}
function cacheBytes(data) {
  const head = Buffer.alloc(12);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(data.length, 4);
  head.writeUInt32LE(crc32(data) >>> 0, 8);
  return Buffer.concat([head, data]);
}
const found = useCache ? readCache(cacheFile) : undefined;
const cached = found ?? undefined;
// CommonJS's own wrapper, as Node's loader gives every module, and `__lfImport`: the script's import() of
// the packages left outside the bundle, made here (scripts/bundle.mjs), where Node's loader serves it.
const source = `(function (exports, require, module, __filename, __dirname, __lfImport) { ${readFileSync(bundle, "utf8")}\n});`;
const script = new Script(source, {
  filename: bundle,
  cachedData: cached,
});
const state = !useCache
  ? "off"
  : found === null
    ? "damaged"
    : cached === undefined
      ? "none"
      : script.cachedDataRejected
        ? "rejected"
        : "used";
if (process.env.LF_CODE_CACHE_REPORT) process.stderr.write(`code cache: ${state} (${cacheFile})\n`);
if (state !== "off" && state !== "used") {
  // At exit the cache holds every function the command compiled, not only the script's top level.
  process.once("exit", () => {
    try {
      mkdirSync(cacheDir, { recursive: true });
      const partial = `${cacheFile}.${process.pid}`;
      writeFileSync(partial, cacheBytes(script.createCachedData()));
      renameSync(partial, cacheFile);
    } catch {
      // a read-only install: the command runs without a cache
    }
  });
}
const module = { exports: {} };
const importOutside = (specifier) => import(specifier);
script.runInThisContext()(
  module.exports,
  createRequire(bundle),
  module,
  bundle,
  dirname(bundle),
  importOutside,
);
