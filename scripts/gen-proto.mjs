// Regenerates the TypeScript types of proto/latentfleet/v1 (npm run gen:proto).
// The same options are used when the .proto files are loaded at run time (src/common/proto/load.ts).
import { execFileSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const protoDir = "proto";
const outDir = "src/common/proto/generated";
const files = readdirSync(join(protoDir, "latentfleet/v1"))
  .filter((f) => f.endsWith(".proto"))
  .map((f) => `latentfleet/v1/${f}`)
  .sort();
rmSync(outDir, { recursive: true, force: true });
execFileSync(
  "npx",
  [
    "proto-loader-gen-types",
    "--grpcLib=@grpc/grpc-js",
    "--longs=String",
    "--enums=String",
    "--defaults",
    "--oneofs",
    "--keepCase",
    "--importFileExtension=.js",
    "--inputTemplate=%s__Input",
    "--outputTemplate=%s",
    `--includeDirs=${protoDir}`,
    `--outDir=${outDir}`,
    ...files,
  ],
  { stdio: "inherit" },
);
