import { LatentFleetError } from "../../common/errors.js";

/** Suffix CLIP puts on the last symbol of each word, so word-final and word-inner pieces differ. */
export const END_OF_WORD = "</w>";

/**
 * HF's slow CLIPTokenizer only reads this many merges (49152 tokens - 256 bytes - 2 specials); files
 * with the full 262k OpenAI list would otherwise produce tokens missing from the 49408-entry vocab.
 */
export const MAX_MERGES = 49152 - 256 - 2;

/** Most words a Bpe keeps; a worker tokenizes prompts for days, so the cache must not grow forever. */
const CACHE_LIMIT = 50_000;

/** Parses merges.txt ("a b" per line in rank order, after an optional "#version" header). */
export function parseMerges(text: string, source = "merges.txt"): Map<string, number> {
  const ranks = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  let rank = 0;
  for (let i = 0; i < lines.length && rank < MAX_MERGES; i++) {
    const line = lines[i].trim();
    if (line === "" || (i === 0 && line.startsWith("#version"))) continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) {
      throw new LatentFleetError(
        "TOKENIZER_INVALID",
        `${source}: line ${i + 1} should hold two symbols separated by a space, got ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    // A repeated pair takes its last rank, as Python's dict(zip(merges, range(...))) does.
    ranks.set(pairKey(parts[0], parts[1]), rank++);
  }
  return ranks;
}

// Byte-level symbols never contain spaces, so a space-joined key cannot collide.
function pairKey(a: string, b: string): string {
  return `${a} ${b}`;
}

/** Byte-pair encoding of single words, lowest-rank merge first, as CLIP's simple_tokenizer.bpe. */
export class Bpe {
  private readonly cache = new Map<string, readonly string[]>();

  constructor(private readonly ranks: ReadonlyMap<string, number>) {}

  /** Splits one byte-encoded word into BPE tokens; the last one carries the `</w>` suffix. */
  apply(word: string): readonly string[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const chars = Array.from(word);
    let symbols = chars.slice(0, -1);
    symbols.push(chars[chars.length - 1] + END_OF_WORD);
    while (symbols.length > 1) {
      let best = Number.POSITIVE_INFINITY;
      let first = "";
      let second = "";
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.ranks.get(pairKey(symbols[i], symbols[i + 1]));
        if (rank !== undefined && rank < best) {
          best = rank;
          first = symbols[i];
          second = symbols[i + 1];
        }
      }
      if (best === Number.POSITIVE_INFINITY) break;
      // Merge every occurrence of the pair, left to right without overlap.
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i < symbols.length - 1 && symbols[i] === first && symbols[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols = merged;
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, symbols);
    return symbols;
  }
}
