/**
 * Readers of a job's outputs that are not this project's: DuckDB (its Node package) for metadata.jsonl and
 * the Parquet files, Python's standard library (tarfile, json) for the webdataset tars. What they see is
 * what a user's own tools see.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";

export const PYTHON = "/usr/bin/python3";

export function hasPython(): boolean {
  return existsSync(PYTHON);
}

/** The rows of one DuckDB query, each value as DuckDB's JSON form gives it (BIGINTs as strings). */
export async function duckdbRows(sql: string): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowsJson();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** A path inside a single-quoted SQL string. */
export function sqlPath(path: string): string {
  return `'${path.replaceAll("'", "''")}'`;
}

/** One sample of a tar as Python's tarfile reads it: its members by extension. */
export interface PythonTarSample {
  tar: string;
  key: string;
  /** The `.txt` member. */
  caption: string;
  /** The `.json` member, parsed by Python's json. */
  record: Record<string, unknown>;
  /** The `.png` member's size from its IHDR chunk. */
  png: { width: number; height: number };
}

const READ_TARS = `
import json, struct, sys, tarfile, pathlib
out = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.tar")):
    members = {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            key, ext = m.name.rsplit(".", 1)
            members.setdefault(key, {})[ext] = tar.extractfile(m).read()
    for key, parts in sorted(members.items()):
        png = parts["png"]
        assert png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", key
        width, height = struct.unpack(">II", png[16:24])
        out.append({"tar": path.name, "key": key, "caption": parts["txt"].decode("utf-8"),
                    "record": json.loads(parts["json"]), "png": {"width": width, "height": height}})
print(json.dumps(out))
`;

/** Every sample of every tar in the folder, as Python's tarfile and json read them. */
export function pythonTarSamples(dir: string): PythonTarSample[] {
  const text = execFileSync(PYTHON, ["-c", READ_TARS, dir], { encoding: "utf8", timeout: 60_000 });
  return JSON.parse(text) as PythonTarSample[];
}
