#!/usr/bin/env node
// The installed command. The build (npm run build, run by npm ci/install) compiles the TypeScript to
// dist/src and bundles it into dist/bundle, which starts several times sooner than the module tree.
import { existsSync } from "node:fs";

const entry = new URL("../dist/bundle/cli.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("latent-fleet: the build is missing; run `npm run build` in the package folder\n");
  process.exit(1);
}
await import(entry.href);
