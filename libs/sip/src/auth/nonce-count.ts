/**
 * Nonce-count replay protection (RFC 7616 section 3.3 / 5.13): remembers the highest nc
 * accepted per nonce and rejects a repeated or lower one. Pure, bounded and O(1) per call:
 * entries are dropped once their nonce has expired, and when the table is full the oldest
 * entry is evicted. Dropped nonces can never come back: a nonce issued no later than the
 * newest dropped one, and not in the table, is refused as stale (the client then gets a
 * fresh nonce), so neither expiry nor eviction opens a window for replay.
 */

import { detached } from '../chars';

export interface NonceCountTrackerOptions {
  /** Lifetime of a nonce (entries expire with their nonce). */
  readonly lifetimeMs: number;
  /** Most nonces tracked at once (default 100 000). */
  readonly maxEntries?: number;
}

export type NonceCountCheck = 'ok' | 'replay' | 'stale';

interface Entry {
  nc: number;
  readonly expiresAt: number;
  readonly issuedAt: number;
}

export class NonceCountTracker {
  private readonly entries = new Map<string, Entry>();
  private readonly lifetimeMs: number;
  private readonly maxEntries: number;
  /** Issue time of the newest nonce dropped from the table; older untracked nonces are refused. */
  private watermark = -Infinity;

  constructor(options: NonceCountTrackerOptions) {
    this.lifetimeMs = options.lifetimeMs;
    this.maxEntries = Math.max(1, options.maxEntries ?? 100_000);
  }

  get size(): number {
    return this.entries.size;
  }

  private drop(key: string, e: Entry): void {
    this.entries.delete(key);
    if (e.issuedAt > this.watermark) this.watermark = e.issuedAt;
  }

  /** Drops expired entries from the head of the table (oldest first use), a few per call. */
  private sweep(now: number): void {
    let budget = 16;
    for (const [key, e] of this.entries) {
      if (budget-- <= 0 || e.expiresAt >= now) break;
      this.drop(key, e);
    }
  }

  /**
   * Accepts `nc` for `nonce` (issued at `issuedAt`) if it is above every nc accepted before
   * for that nonce. Call only after the response has been verified, so that a forged request
   * cannot burn counts. nc 0 is never accepted.
   */
  check(nonce: string, issuedAt: number, nc: number, now: number): NonceCountCheck {
    this.sweep(now);
    const e = this.entries.get(nonce);
    if (e !== undefined) {
      if (nc <= e.nc) return 'replay';
      e.nc = nc;
      return 'ok';
    }
    if (nc < 1) return 'replay';
    if (issuedAt <= this.watermark) return 'stale';
    if (this.entries.size >= this.maxEntries) {
      const head = this.entries.entries().next();
      if (!head.done) this.drop(head.value[0], head.value[1]);
      if (issuedAt <= this.watermark) return 'stale';
    }
    // the nonce is usually cut from the request's text: kept as a copy of its own, or the entry would hold that text
    this.entries.set(detached(nonce), { nc, issuedAt, expiresAt: issuedAt + this.lifetimeMs });
    return 'ok';
  }
}
