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
  readonly nonce: string;
  nc: number;
  readonly expiresAt: number;
  readonly issuedAt: number;
}

/** Entries taken from the head of the queue before it is compacted (amortized O(1) per entry). */
const COMPACT_AFTER = 1024;

export class NonceCountTracker {
  private readonly entries = new Map<string, Entry>();
  /**
   * The entries in the order they were added, from `head` on: expiry and eviction take them from
   * there. (Not the Map's own iteration: a Map keeps the slots of deleted entries until it is
   * rehashed, and an iteration from its start steps over each of them, so under churn finding the
   * oldest entry that way costs time in proportion to the entries dropped before it.)
   */
  private queue: (Entry | undefined)[] = [];
  private head = 0;
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

  /** Drops the oldest entry. */
  private dropOldest(): void {
    const e = this.queue[this.head]!;
    this.queue[this.head++] = undefined;
    this.entries.delete(e.nonce);
    if (e.issuedAt > this.watermark) this.watermark = e.issuedAt;
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Drops expired entries from the head of the table (oldest first use), a few per call. */
  private sweep(now: number): void {
    for (let budget = 16; budget > 0 && this.head < this.queue.length && this.queue[this.head]!.expiresAt < now; budget--) this.dropOldest();
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
      this.dropOldest();
      if (issuedAt <= this.watermark) return 'stale';
    }
    // the nonce is usually cut from the request's text: kept as a copy of its own, or the entry would hold that text
    const added: Entry = { nonce: detached(nonce), nc, issuedAt, expiresAt: issuedAt + this.lifetimeMs };
    this.entries.set(added.nonce, added);
    this.queue.push(added);
    return 'ok';
  }
}
