import { readFile } from "node:fs/promises";
import { type ErrorCode, LatentFleetError } from "./errors.js";

/** Reads and parses a JSON file; errors name the file and, for bad JSON, the parser's reason. */
export async function readJsonFile(path: string, code: ErrorCode): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "file not found" : String(err);
    throw new LatentFleetError(code, `${path}: ${reason}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LatentFleetError(code, `${path}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
