#!/usr/bin/env node
// The installed command. The TypeScript build (npm run build, run by npm ci/install) lives in dist/.
import { existsSync } from "node:fs";

const entry = new URL("../dist/src/cli/index.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("latent-fleet: the build is missing; run `npm run build` in the package folder\n");
  process.exit(1);
}
await import(entry.href);
