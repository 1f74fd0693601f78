/**
 * One entry point for a model folder's tokenizer: `tokenizer.json` when the folder ships one (T5, fast CLIP),
 * else the CLIP vocab.json + merges.txt pair that ClipTokenizer reads.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { ClipTokenizer, type TokenizedText } from "./clip-tokenizer.js";
import { JsonTokenizer, type JsonTokenizerOptions } from "./json-tokenizer.js";
import { readTokenizerFolder } from "./load.js";

/** What a text encoder needs from a tokenizer: fixed-length ids, and whether the prompt was cut. */
export interface PromptTokenizer {
  readonly maxLength: number;
  readonly padId: number;
  encode(text: string): TokenizedText;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Loads the folder's tokenizer; `maxLength` (e.g. T5's 256 or 512) wins over tokenizer_config.json. */
export async function loadPromptTokenizer(
  dir: string,
  options: JsonTokenizerOptions = {},
): Promise<PromptTokenizer> {
  if (await exists(join(dir, "tokenizer.json"))) return JsonTokenizer.fromFolder(dir, options);
  if (options.maxLength === undefined) return ClipTokenizer.fromFolder(dir);
  const files = await readTokenizerFolder(dir);
  return ClipTokenizer.fromData(files.vocab, files.merges, files.special, options.maxLength);
}
