/**
 * A map that keeps its most recently used entries (Map keeps insertion order, and a hit moves a key to the
 * back), bounded by an entry count and, where `weigh` is given, by the total weight of its values (bytes,
 * say). An entry heavier than the whole budget is not kept, nor does it evict anything.
 */
export interface LruLimits<V> {
  /** Most entries kept. */
  maxEntries: number;
  /** Most total weight kept (default: no bound). */
  maxWeight?: number;
  /** A value's weight (default: 0). */
  weigh?: (value: V) => number;
}

export class Lru<V> {
  /** In eviction order: the first key is the least recently used. */
  private readonly entries = new Map<string, V>();
  private held = 0;
  readonly maxEntries: number;
  readonly maxWeight: number;
  private readonly weigh: (value: V) => number;

  constructor(limits: number | LruLimits<V>) {
    const l = typeof limits === "number" ? { maxEntries: limits } : limits;
    this.maxEntries = l.maxEntries;
    this.maxWeight = l.maxWeight ?? Number.POSITIVE_INFINITY;
    this.weigh = l.weigh ?? (() => 0);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Total weight of the values held. */
  get weight(): number {
    return this.held;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The key's value; a hit moves the key to the back of the eviction order. */
  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, v);
    return v;
  }

  /** Keeps the value as the most recently used, evicting the least recently used until both bounds hold. */
  set(key: string, value: V): void {
    this.delete(key);
    const w = this.weigh(value);
    if (w > this.maxWeight || this.maxEntries <= 0) return;
    for (const [oldest, old] of this.entries) {
      if (this.entries.size < this.maxEntries && this.held + w <= this.maxWeight) break;
      this.entries.delete(oldest);
      this.held -= this.weigh(old);
    }
    this.entries.set(key, value);
    this.held += w;
  }

  delete(key: string): boolean {
    const old = this.entries.get(key);
    if (old === undefined) return false;
    this.entries.delete(key);
    this.held -= this.weigh(old);
    return true;
  }

  /** The keys held, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }
}
