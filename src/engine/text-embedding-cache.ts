/**
 * The texts a pipeline has encoded, kept for later batches (negative prompts and repeated prompts are
 * common). Bounded both by entry count and by bytes: one FLUX T5 embedding is 512 x 4096 float32 (8 MiB), so
 * a count alone would let the cache hold gigabytes. The least recently used entries go first.
 */
import type { TextEmbedding } from "./families/types.js";

/** Texts whose embeddings a pipeline keeps by default. */
export const TEXT_CACHE_SIZE = 1024;

/** Bytes of embeddings (hidden states plus pooled vectors) a pipeline keeps by default: 256 MiB. */
export const TEXT_CACHE_BYTES = 256 * 1024 * 1024;

/** The bytes an embedding holds: its hidden states and its pooled vector. */
export function embeddingBytes(embedding: TextEmbedding): number {
  return embedding.hidden.byteLength + (embedding.pooled?.byteLength ?? 0);
}

export class TextEmbeddingCache {
  /** In eviction order: the first key is the least recently used. */
  private readonly entries = new Map<string, TextEmbedding>();
  private heldBytes = 0;

  constructor(
    /** Most texts kept. */
    readonly maxEntries = TEXT_CACHE_SIZE,
    /** Most bytes of embeddings kept; an embedding larger than this is not kept at all. */
    readonly maxBytes = TEXT_CACHE_BYTES,
  ) {
    for (const [name, v] of [
      ["maxEntries", maxEntries],
      ["maxBytes", maxBytes],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) {
        throw new RangeError(`text cache ${name} must be a non-negative integer, got ${v}`);
      }
    }
  }

  /** Texts held. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes of embeddings held. */
  get bytes(): number {
    return this.heldBytes;
  }

  has(text: string): boolean {
    return this.entries.has(text);
  }

  /** The text's embedding; a hit moves the text to the back of the eviction order. */
  get(text: string): TextEmbedding | undefined {
    const hit = this.entries.get(text);
    if (hit === undefined) return undefined;
    this.entries.delete(text);
    this.entries.set(text, hit);
    return hit;
  }

  /**
   * Keeps the text's embedding as the most recently used, evicting the least recently used texts until both
   * the count and the byte budget hold. An embedding larger than the whole budget is not kept (nor does it
   * evict anything), and drops any older embedding of the same text.
   */
  set(text: string, embedding: TextEmbedding): void {
    this.delete(text);
    const size = embeddingBytes(embedding);
    if (size > this.maxBytes || this.maxEntries === 0) return;
    for (const [oldest, old] of this.entries) {
      if (this.entries.size < this.maxEntries && this.heldBytes + size <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.heldBytes -= embeddingBytes(old);
    }
    this.entries.set(text, embedding);
    this.heldBytes += size;
  }

  delete(text: string): boolean {
    const old = this.entries.get(text);
    if (old === undefined) return false;
    this.entries.delete(text);
    this.heldBytes -= embeddingBytes(old);
    return true;
  }

  /** The texts held, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }
}
