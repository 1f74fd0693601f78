/**
 * A job's errors.jsonl for the page: the failed samples and the rejected manifest rows, each with where
 * they came from (file:line). Read as a stream, keeping the first rows of each kind and counting the rest.
 * The file grows in the job's local work folder while it runs; an S3 job's copy is in the bucket after.
 */
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ERRORS_FILE, type ErrorRow } from "../../common/contract/job.js";
import { openStorage } from "../../common/storage/index.js";
import { localWorkDir } from "../job-input.js";

export interface JobErrors {
  failed: ErrorRow[];
  rejected: ErrorRow[];
  failedTotal: number;
  rejectedTotal: number;
}

export const ERRORS_SHOWN = 500;

function collect(rows: Iterable<ErrorRow>, into: JobErrors): void {
  for (const row of rows) {
    const sample = row.id !== undefined;
    if (sample) into.failedTotal++;
    else into.rejectedTotal++;
    const list = sample ? into.failed : into.rejected;
    if (list.length < ERRORS_SHOWN) list.push(row);
  }
}

function* parsedLines(lines: Iterable<string>): Generator<ErrorRow> {
  for (const line of lines) {
    if (line.trim() === "") continue;
    try {
      yield JSON.parse(line) as ErrorRow;
    } catch {
      // A line being written as it is read: the next read has it whole.
    }
  }
}

export async function readJobErrors(output: string): Promise<JobErrors> {
  const out: JobErrors = { failed: [], rejected: [], failedTotal: 0, rejectedTotal: 0 };
  const local = join(localWorkDir(output), ERRORS_FILE);
  try {
    const rl = createInterface({
      input: createReadStream(local, { encoding: "utf8" }),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    const batch: string[] = [];
    for await (const line of rl) {
      batch.push(line);
      if (batch.length >= 1000) collect(parsedLines(batch.splice(0)), out);
    }
    collect(parsedLines(batch), out);
    return out;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (local === join(output, ERRORS_FILE)) return out;
  const storage = openStorage(output);
  try {
    const data = await storage.get(ERRORS_FILE);
    if (data) collect(parsedLines(data.toString("utf8").split("\n")), out);
  } finally {
    storage.close();
  }
  return out;
}
