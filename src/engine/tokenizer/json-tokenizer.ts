/**
 * Tokenizers shipped as a Hugging Face `tokenizer.json` (T5's SentencePiece Unigram, CLIP's BPE in the fast
 * layout, ...), run by @huggingface/tokenizers; this module adds what a text encoder needs on top: the ids
 * padded or truncated to a fixed length with the post-processor's special tokens kept, and truncation reported.
 */
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { LatentFleetError } from "../../common/errors.js";
import type { TokenizedText } from "./clip-tokenizer.js";
import { configMaxLength, readJsonObject, tokenContent } from "./load.js";

export interface JsonTokenizerOptions {
  /** Positions of the text encoder (T5: 256 for SD3 and FLUX.1-schnell, 512 for FLUX.1-dev); wins over the config. */
  maxLength?: number;
}

function invalid(message: string, cause?: unknown): LatentFleetError {
  return new LatentFleetError("TOKENIZER_INVALID", message, cause === undefined ? undefined : { cause });
}

function sameIds(a: readonly number[], offset: number, b: readonly number[]): boolean {
  for (let i = 0; i < b.length; i++) if (a[offset + i] !== b[i]) return false;
  return true;
}

/** tokenizer.json's own `truncation.max_length`, when it sets one. */
function truncationLength(json: Record<string, unknown>): number | undefined {
  const truncation = json.truncation as { max_length?: unknown } | null | undefined;
  const value = truncation?.max_length;
  return typeof value === "number" && Number.isInteger(value) && value >= 2 ? value : undefined;
}

export class JsonTokenizer {
  /** Ids the post-processor puts before the text (CLIP: BOS; T5: none). */
  readonly prefixIds: readonly number[];
  /** Ids it puts after the text (CLIP and T5: EOS). */
  readonly suffixIds: readonly number[];

  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly maxLength: number,
    readonly padId: number,
    source: string,
  ) {
    // The post-processor's template, read off a probe: the text's ids with and without special tokens.
    const probe = "a";
    const bare = tokenizer.encode(probe, { add_special_tokens: false }).ids;
    const full = tokenizer.encode(probe, { add_special_tokens: true }).ids;
    const at = Array.from({ length: full.length - bare.length + 1 }, (_, i) => i).find((i) =>
      sameIds(full, i, bare),
    );
    if (at === undefined) throw invalid(`${source}: the post-processor changes the text's own tokens`);
    this.prefixIds = full.slice(0, at);
    this.suffixIds = full.slice(at + bare.length);
    const specials = this.prefixIds.length + this.suffixIds.length;
    if (maxLength <= specials) {
      throw invalid(`${source}: max length ${maxLength} leaves no room beside ${specials} special tokens`);
    }
  }

  /**
   * Loads `tokenizer.json` and the optional `tokenizer_config.json` (model_max_length, pad_token) of a folder.
   * Throws TOKENIZER_INVALID naming the file at fault.
   */
  static async fromFolder(dir: string, options: JsonTokenizerOptions = {}): Promise<JsonTokenizer> {
    const jsonPath = join(dir, "tokenizer.json");
    const configPath = join(dir, "tokenizer_config.json");
    const [json, config] = await Promise.all([
      readJsonObject(jsonPath, true),
      readJsonObject(configPath, false),
    ]);
    return JsonTokenizer.fromData(json ?? {}, config ?? {}, options, { json: jsonPath, config: configPath });
  }

  /** Builds a tokenizer from parsed `tokenizer.json` and `tokenizer_config.json` objects. */
  static fromData(
    json: Record<string, unknown>,
    config: Record<string, unknown> = {},
    options: JsonTokenizerOptions = {},
    sources: { json: string; config: string } = { json: "tokenizer.json", config: "tokenizer_config.json" },
  ): JsonTokenizer {
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (err) {
      throw invalid(`${sources.json}: ${(err as Error).message}`, err);
    }
    const maxLength = options.maxLength ?? configMaxLength(config) ?? truncationLength(json);
    if (maxLength === undefined) {
      throw invalid(
        `${sources.config}: no usable model_max_length (got ${JSON.stringify(config.model_max_length)}), ` +
          `and none was given: the text encoder's length must be known`,
      );
    }
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw invalid(`max length must be a positive integer (got ${maxLength})`);
    }
    const padToken = tokenContent(config.pad_token, "pad_token", sources.config);
    const padding = json.padding as { pad_id?: unknown } | null | undefined;
    const padId = padToken === undefined ? padding?.pad_id : tokenizer.token_to_id(padToken);
    if (typeof padId !== "number" || !Number.isInteger(padId) || padId < 0) {
      const which =
        padToken === undefined ? "no pad_token is named" : `pad_token ${JSON.stringify(padToken)}`;
      throw invalid(`${sources.config}: ${which} is not in ${sources.json}'s vocabulary`);
    }
    return new JsonTokenizer(tokenizer, maxLength, padId, sources.json);
  }

  /** The tokens of `text`, without special tokens or padding. */
  tokenize(text: string): string[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).tokens;
  }

  /** Ids padded (or truncated) to maxLength: prefix specials, content, suffix specials, pad... */
  encode(text: string): TokenizedText {
    const content = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const room = this.maxLength - this.prefixIds.length - this.suffixIds.length;
    const kept = Math.min(content.length, room);
    const ids = new Int32Array(this.maxLength).fill(this.padId);
    ids.set(this.prefixIds, 0);
    ids.set(content.slice(0, kept), this.prefixIds.length);
    ids.set(this.suffixIds, this.prefixIds.length + kept);
    const length = this.prefixIds.length + kept + this.suffixIds.length;
    return { ids, truncated: content.length > kept, droppedTokens: content.length - kept, length };
  }
}
