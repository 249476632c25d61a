/**
 * Cache of DNS answers: each entry lives until its expiry time (the answer's TTL, or the negative
 * TTL for a name found missing), and at most `maxEntries` are kept, the least recently used going
 * first. The clock is the caller's (milliseconds).
 */
export class DnsCache<V> {
  // Map iteration order is insertion order: re-inserting on use keeps the least recently used first
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

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
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
