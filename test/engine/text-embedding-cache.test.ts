import { describe, expect, it } from "vitest";
import type { TextEmbedding } from "../../src/engine/families/types.js";
import {
  embeddingBytes,
  TEXT_CACHE_BYTES,
  TEXT_CACHE_SIZE,
  TextEmbeddingCache,
} from "../../src/engine/text-embedding-cache.js";

/** An embedding of `hidden` float32 values (4 bytes each) and, if given, `pooled` more. */
function embedding(hidden: number, pooled?: number): TextEmbedding {
  return {
    hidden: new Float32Array(hidden),
    pooled: pooled === undefined ? undefined : new Float32Array(pooled),
  };
}

describe("TextEmbeddingCache", () => {
  it("counts an embedding's hidden states and pooled vector", () => {
    expect(embeddingBytes(embedding(10))).toBe(40);
    expect(embeddingBytes(embedding(10, 5))).toBe(60);
    const cache = new TextEmbeddingCache(10, 1000);
    cache.set("a", embedding(10, 5));
    cache.set("b", embedding(25));
    expect(cache.bytes).toBe(160);
    expect(cache.size).toBe(2);
  });

  it("defaults to 1024 texts and 256 MiB", () => {
    const cache = new TextEmbeddingCache();
    expect(cache.maxEntries).toBe(TEXT_CACHE_SIZE);
    expect(cache.maxBytes).toBe(TEXT_CACHE_BYTES);
    expect(TEXT_CACHE_BYTES).toBe(256 * 1024 * 1024);
  });

  it("evicts the least recently used texts until the byte budget holds", () => {
    const cache = new TextEmbeddingCache(100, 350);
    for (const t of ["a", "b", "c"]) cache.set(t, embedding(25)); // 100 bytes each
    expect(cache.bytes).toBe(300);
    cache.set("d", embedding(50)); // 200 bytes: a and b must go, 100 + 200 <= 350 (200 + 200 is not)
    expect(cache.keys()).toEqual(["c", "d"]);
    expect(cache.bytes).toBe(300);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("b")).toBeUndefined();
  });

  it("evicts the least recently used text when the count is full, whatever the bytes", () => {
    const cache = new TextEmbeddingCache(3, 1_000_000);
    for (const t of ["a", "b", "c", "d"]) cache.set(t, embedding(1));
    expect(cache.keys()).toEqual(["b", "c", "d"]);
    expect(cache.size).toBe(3);
    expect(cache.bytes).toBe(12);
  });

  it("a hit moves the text to the back of the eviction order", () => {
    const cache = new TextEmbeddingCache(3, 1_000_000);
    const a = embedding(1);
    cache.set("a", a);
    cache.set("b", embedding(1));
    cache.set("c", embedding(1));
    expect(cache.get("a")).toBe(a);
    expect(cache.keys()).toEqual(["b", "c", "a"]);
    cache.set("d", embedding(1));
    expect(cache.keys()).toEqual(["c", "a", "d"]);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(a);
  });

  it("a hit protects the text from a byte eviction too", () => {
    const cache = new TextEmbeddingCache(100, 300);
    for (const t of ["a", "b", "c"]) cache.set(t, embedding(25));
    cache.get("a");
    cache.set("d", embedding(50)); // needs 200 free bytes: b and c go, a was used last
    expect(cache.keys()).toEqual(["a", "d"]);
  });

  it("does not keep an embedding larger than the whole budget, nor evict anything for it", () => {
    const cache = new TextEmbeddingCache(10, 100);
    cache.set("a", embedding(20));
    cache.set("huge", embedding(20, 6)); // 104 bytes > 100
    expect(cache.has("huge")).toBe(false);
    expect(cache.get("huge")).toBeUndefined();
    expect(cache.keys()).toEqual(["a"]);
    expect(cache.bytes).toBe(80);
    cache.set("exact", embedding(25)); // exactly the budget: kept, alone
    expect(cache.keys()).toEqual(["exact"]);
    expect(cache.bytes).toBe(100);
  });

  it("replacing a text counts its new size, not both", () => {
    const cache = new TextEmbeddingCache(10, 100);
    cache.set("a", embedding(10));
    cache.set("b", embedding(10));
    cache.set("a", embedding(15));
    expect(cache.bytes).toBe(100);
    expect(cache.keys()).toEqual(["b", "a"]);
    cache.set("a", embedding(30)); // too large now: the older embedding of "a" goes as well
    expect(cache.keys()).toEqual(["b"]);
    expect(cache.bytes).toBe(40);
  });

  it("a budget of zero texts or zero bytes keeps nothing", () => {
    const noTexts = new TextEmbeddingCache(0, 1000);
    noTexts.set("a", embedding(1));
    expect(noTexts.size).toBe(0);
    const noBytes = new TextEmbeddingCache(10, 0);
    noBytes.set("a", embedding(1));
    expect(noBytes.size).toBe(0);
    expect(noBytes.bytes).toBe(0);
  });

  it("refuses a negative or fractional limit", () => {
    expect(() => new TextEmbeddingCache(-1, 10)).toThrow(/maxEntries/);
    expect(() => new TextEmbeddingCache(10, 1.5)).toThrow(/maxBytes/);
  });
});
