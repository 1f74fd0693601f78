import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { LatentFleetError } from "../../common/errors.js";

/** Token strings the tokenizer needs; each defaults to CLIP's own (HF CLIPTokenizer's defaults). */
export interface SpecialTokens {
  bos?: string;
  eos?: string;
  unk?: string;
  pad?: string;
}

export const DEFAULT_MAX_LENGTH = 77;
/** HF writes 1e30 when a tokenizer has no limit; no CLIP text encoder has anywhere near this many positions. */
const MAX_SANE_LENGTH = 10_000;

/** The raw contents of a Hugging Face CLIPTokenizer folder. */
export interface TokenizerFiles {
  vocab: Record<string, number>;
  merges: string;
  special: SpecialTokens;
  maxLength: number;
  /** Paths, for error messages that name the file at fault. */
  vocabPath: string;
  mergesPath: string;
}

function invalid(message: string, cause?: unknown): LatentFleetError {
  return new LatentFleetError("TOKENIZER_INVALID", message, cause === undefined ? undefined : { cause });
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === "ENOENT";
}

/** Reads a text file; undefined when it is absent and optional. */
async function readText(path: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (isNotFound(err) && !required) return undefined;
    const why = isNotFound(err) ? "file not found" : `cannot read it (${(err as Error).message})`;
    throw invalid(`${path}: ${why}`, err);
  }
}

export async function readJsonObject(
  path: string,
  required: boolean,
): Promise<Record<string, unknown> | undefined> {
  const text = await readText(path, required);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(`${path}: malformed JSON (${(err as Error).message})`, err);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(`${path}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** A special token is written either as a string or as a serialised AddedToken with a `content` field. */
export function tokenContent(value: unknown, key: string, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "object" && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  throw invalid(`${path}: "${key}" should be a string or an object with a string "content"`);
}

function readSpecial(json: Record<string, unknown> | undefined, path: string): SpecialTokens {
  if (!json) return {};
  const out: SpecialTokens = {};
  for (const name of ["bos", "eos", "unk", "pad"] as const) {
    const content = tokenContent(json[`${name}_token`], `${name}_token`, path);
    if (content !== undefined) out[name] = content;
  }
  return out;
}

/** tokenizer_config.json's model_max_length when it is a usable integer. */
export function configMaxLength(config: Record<string, unknown> | undefined): number | undefined {
  const value = config?.model_max_length;
  if (typeof value === "number" && Number.isInteger(value) && value >= 2 && value <= MAX_SANE_LENGTH) {
    return value;
  }
  return undefined;
}

function readMaxLength(config: Record<string, unknown> | undefined): number {
  return configMaxLength(config) ?? DEFAULT_MAX_LENGTH;
}

/** The value of a settled read, or its error thrown. */
function settledValue<T>(r: PromiseSettledResult<T>): T {
  if (r.status === "rejected") throw r.reason;
  return r.value;
}

/** Reads vocab.json, merges.txt and the optional special_tokens_map.json / tokenizer_config.json. */
export async function readTokenizerFolder(dir: string): Promise<TokenizerFiles> {
  const vocabPath = join(dir, "vocab.json");
  const mergesPath = join(dir, "merges.txt");
  const specialPath = join(dir, "special_tokens_map.json");
  const configPath = join(dir, "tokenizer_config.json");
  // Read side by side; a problem is reported for the first file in this order, whichever read failed
  // first, so the same folder always gets the same message.
  const read = await Promise.allSettled([
    readJsonObject(vocabPath, true),
    readText(mergesPath, true),
    readJsonObject(specialPath, false),
    readJsonObject(configPath, false),
  ]);
  const [vocab, merges, specialJson, config] = [
    settledValue(read[0]),
    settledValue(read[1]),
    settledValue(read[2]),
    settledValue(read[3]),
  ];
  // As in transformers, special_tokens_map.json overrides the tokens named in tokenizer_config.json.
  const special = { ...readSpecial(config, configPath), ...readSpecial(specialJson, specialPath) };
  return {
    vocab: vocab as Record<string, number>, // ids are checked when the tokenizer is built
    merges: merges as string,
    special,
    maxLength: readMaxLength(config),
    vocabPath,
    mergesPath,
  };
}
