/**
 * The texts a pipeline has encoded, kept for later batches (negative prompts and repeated prompts are
 * common). Bounded both by entry count and by bytes: one FLUX T5 embedding is 512 x 4096 float32 (8 MiB), so
 * a count alone would let the cache hold gigabytes. The least recently used entries go first.
 */
import { Lru } from "../common/lru.js";
import type { TextEmbedding } from "./families/types.js";

/** Texts whose embeddings a pipeline keeps by default. */
export const TEXT_CACHE_SIZE = 1024;

/** Bytes of embeddings (hidden states plus pooled vectors) a pipeline keeps by default: 256 MiB. */
export const TEXT_CACHE_BYTES = 256 * 1024 * 1024;

/** The bytes an embedding holds: its hidden states and its pooled vector. */
export function embeddingBytes(embedding: TextEmbedding): number {
  return embedding.hidden.byteLength + (embedding.pooled?.byteLength ?? 0);
}

/** The encoded texts, least recently used evicted first, within both bounds. */
export class TextEmbeddingCache extends Lru<TextEmbedding> {
  constructor(
    /** Most texts kept. */
    maxEntries = TEXT_CACHE_SIZE,
    /** Most bytes of embeddings kept; an embedding larger than this is not kept at all. */
    maxBytes = TEXT_CACHE_BYTES,
  ) {
    for (const [name, v] of [
      ["maxEntries", maxEntries],
      ["maxBytes", maxBytes],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) {
        throw new RangeError(`text cache ${name} must be a non-negative integer, got ${v}`);
      }
    }
    super({ maxEntries, maxWeight: maxBytes, weigh: embeddingBytes });
  }

  get maxBytes(): number {
    return this.maxWeight;
  }

  /** Bytes of embeddings held. */
  get bytes(): number {
    return this.weight;
  }
}
