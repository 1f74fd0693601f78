import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteFile } from "hyparquet-writer";
import {
  type ExpandOptions,
  expandSpec,
  type JobSpec,
  type ManifestEvent,
  type ManifestSample,
  type RowError,
} from "../../../src/manifest/index.js";
import { ROOT } from "../../helpers/paths.js";

export const FIXTURES = join(ROOT, "test", "fixtures", "manifests");

const tempDirs: string[] = [];

/** A new temp folder, removed by removeTempDirs (call it from afterAll). */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lf-manifest-${name}-`));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A fresh copy of a fixture folder in a temp dir (tests write next to the spec, e.g. Parquet files). */
export function copyFixture(name: string): string {
  const dir = tempDir(name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

/** The mixed fixture's Parquet file: 3 rows in row groups of 2, a null prompt, INT64 seeds, an extra column. */
export function writeMixedParquet(path: string): void {
  parquetWriteFile({
    filename: path,
    columnData: [
      { name: "prompt", data: ["parquet one", "parquet two", null], type: "STRING", nullable: true },
      { name: "seed", data: [11n, null, 3n], type: "INT64", nullable: true },
      { name: "guidance_scale", data: [null, 1.5, null], type: "DOUBLE", nullable: true },
      { name: "other", data: [1, 2, 3], type: "INT32" },
    ],
    rowGroupSize: 2,
  });
}

export async function collect(spec: JobSpec, options?: ExpandOptions): Promise<ManifestEvent[]> {
  const events: ManifestEvent[] = [];
  for await (const e of expandSpec(spec, options)) events.push(e);
  return events;
}

export function samplesOf(events: ManifestEvent[]): ManifestSample[] {
  return events.flatMap((e) => (e.type === "sample" ? [e.sample] : []));
}

export function rowErrorsOf(events: ManifestEvent[]): RowError[] {
  return events.flatMap((e) =>
    e.type === "row_error"
      ? [{ rowIndex: e.rowIndex, where: e.where, field: e.field, message: e.message }]
      : [],
  );
}
