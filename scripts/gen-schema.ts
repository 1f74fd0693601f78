/**
 * Writes schema/job-spec.schema.json, the job spec's JSON Schema, from the parser's definitions.
 * Run: npm run gen:schema (a test fails while the committed file differs from what this writes).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { packageRoot } from "../src/common/package-root.js";
import { specSchemaText } from "../src/manifest/spec-schema.js";

const file = join(packageRoot(), "schema", "job-spec.schema.json");
await writeFile(file, specSchemaText());
process.stdout.write(`wrote ${file}\n`);
