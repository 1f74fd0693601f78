import { join } from "node:path";
import { LatentFleetError } from "../../common/errors.js";
import { Bpe, parseMerges } from "./bpe.js";
import { byteEncode } from "./byte-encoder.js";
import { DEFAULT_MAX_LENGTH, readTokenizerFolder, type SpecialTokens } from "./load.js";
import { cleanText, preTokenize } from "./text.js";

export interface TokenizedText {
  /** BOS, content ids, EOS, then the pad id up to maxLength. */
  ids: Int32Array;
  /** True when content tokens were cut to fit maxLength; the caller should warn. */
  truncated: boolean;
  /** How many content tokens were cut. */
  droppedTokens: number;
  /** Tokens before padding, BOS and EOS included (at most maxLength). */
  length: number;
}

const CLIP_SPECIALS: Required<SpecialTokens> = {
  bos: "<|startoftext|>",
  eos: "<|endoftext|>",
  unk: "<|endoftext|>",
  pad: "<|endoftext|>",
};

/** The only strings CLIP's pre-tokenizer keeps whole; they bypass BPE, as in simple_tokenizer's cache. */
const TEXT_SPECIALS = new Set(["<|startoftext|>", "<|endoftext|>"]);

/** CLIP's BPE tokenizer (OpenAI simple_tokenizer / HF slow CLIPTokenizer), as Stable Diffusion uses it. */
export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  private readonly bpe: Bpe;

  private constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    ranks: ReadonlyMap<string, number>,
    special: Required<SpecialTokens>,
    readonly maxLength: number,
    specialSource: string,
  ) {
    this.bpe = new Bpe(ranks);
    const idOf = (name: keyof SpecialTokens): number => {
      const id = vocab.get(special[name]);
      if (id === undefined) {
        throw new LatentFleetError(
          "TOKENIZER_INVALID",
          `${specialSource}: ${name} token ${JSON.stringify(special[name])} is not in the vocabulary`,
        );
      }
      return id;
    };
    this.bosId = idOf("bos");
    this.eosId = idOf("eos");
    this.padId = idOf("pad");
    this.unkId = idOf("unk");
  }

  /**
   * Loads a Hugging Face CLIPTokenizer folder (vocab.json, merges.txt, optional special_tokens_map.json
   * and tokenizer_config.json). Throws TOKENIZER_INVALID naming the file at fault.
   */
  static async fromFolder(dir: string): Promise<ClipTokenizer> {
    const files = await readTokenizerFolder(dir);
    return ClipTokenizer.build(files.vocab, files.merges, files.special, files.maxLength, {
      vocab: files.vocabPath,
      merges: files.mergesPath,
      special: `${join(dir, "special_tokens_map.json")} (or tokenizer_config.json)`,
    });
  }

  /** Builds a tokenizer from in-memory data: vocab.json's object and merges.txt's text. */
  static fromData(
    vocab: Record<string, number>,
    merges: string,
    special: SpecialTokens = {},
    maxLength: number = DEFAULT_MAX_LENGTH,
  ): ClipTokenizer {
    return ClipTokenizer.build(vocab, merges, special, maxLength, {
      vocab: "vocab.json",
      merges: "merges.txt",
      special: "special tokens",
    });
  }

  private static build(
    vocabJson: Record<string, unknown>,
    merges: string,
    special: SpecialTokens,
    maxLength: number,
    sources: { vocab: string; merges: string; special: string },
  ): ClipTokenizer {
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new LatentFleetError("TOKENIZER_INVALID", `max length must be an integer >= 2, got ${maxLength}`);
    }
    // A Map, not the parsed object: prompt words such as "constructor" must not hit Object.prototype.
    const vocab = new Map<string, number>();
    for (const [token, id] of Object.entries(vocabJson)) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
        throw new LatentFleetError(
          "TOKENIZER_INVALID",
          `${sources.vocab}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected a non-negative integer`,
        );
      }
      vocab.set(token, id);
    }
    const ranks = parseMerges(merges, sources.merges);
    return new ClipTokenizer(vocab, ranks, { ...CLIP_SPECIALS, ...special }, maxLength, sources.special);
  }

  /** BPE tokens of `text`, without BOS/EOS or padding. */
  tokenize(text: string): string[] {
    const tokens: string[] = [];
    for (const piece of preTokenize(cleanText(text))) {
      if (TEXT_SPECIALS.has(piece)) tokens.push(piece);
      else tokens.push(...this.bpe.apply(byteEncode(piece)));
    }
    return tokens;
  }

  /** Token ids padded (or truncated) to maxLength, CLIP-style: BOS, content, EOS, pad... */
  encode(text: string): TokenizedText {
    const content = this.tokenize(text).map((t) => this.vocab.get(t) ?? this.unkId);
    const room = this.maxLength - 2;
    const kept = Math.min(content.length, room);
    const ids = new Int32Array(this.maxLength).fill(this.padId);
    ids[0] = this.bosId;
    ids.set(content.length > kept ? content.slice(0, kept) : content, 1);
    ids[kept + 1] = this.eosId;
    return { ids, truncated: content.length > kept, droppedTokens: content.length - kept, length: kept + 2 };
  }
}
