/**
 * Cache of DNS answers: each entry lives until its expiry time (the answer's TTL, or the negative
 * TTL for a name found missing), and at most `maxEntries` are kept, the least recently used going
 * first. The clock is the caller's (milliseconds).
 */
export class DnsCache<V> {
  // Map iteration order is insertion order: re-inserting on use keeps the least recently used first
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  /**
   * Where eviction stands in the Map: one iterator kept across evictions. Everything before it has
   * been evicted, so it yields the least recently used entry next. (A fresh iterator would start
   * at the Map's first slot and step over the slot of every entry deleted since the Map was last
   * rehashed: thousands, once the cache is full.)
   */
  private cursor: Iterator<string> | undefined;

  constructor(private readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError(`cache size must be a whole number >= 0, got ${maxEntries}`);
  }

  /** The live value of a key, or undefined (an expired entry is dropped). */
  get(key: string, now: number): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    if (e.expiresAt <= now) return undefined;
    this.entries.set(key, e);
    return e.value;
  }

  /** Keeps a value for ttlMs (nothing is kept for a TTL of 0 or less, or with a cache of size 0). */
  set(key: string, value: V, ttlMs: number, now: number): void {
    if (this.maxEntries === 0 || !(ttlMs > 0)) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: now + ttlMs });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.oldest());
  }

  /** The least recently used key (the cache is not empty). */
  private oldest(): string {
    let r = this.cursor?.next();
    if (r === undefined || r.done === true) {
      // an iterator that reached the end stays there: start again from the first slot
      this.cursor = this.entries.keys();
      r = this.cursor.next();
    }
    return r.value as string;
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
    this.cursor = undefined;
  }

  get size(): number {
    return this.entries.size;
  }
}
