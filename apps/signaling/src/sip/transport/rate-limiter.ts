/**
 * Per-source flood limiter (a pike-like token bucket): each source IP earns `rate` tokens a second
 * up to `burst`; a message costs one token; with none left the message is dropped. Trusted
 * sources are never limited. Buckets that are full again are forgotten by sweep(). A rate of 0
 * turns the limit off. configure() changes rate and burst at run time (sip.rateLimit,
 * sip.rateLimitBurst); buckets keep their tokens, capped at the new burst.
 */
export interface RateLimitOptions {
  /** Sustained messages per second per source IP; 0: no limit. */
  rate: number;
  /** Messages a source may send at once. */
  burst: number;
  /** Sources never limited (trusted hosts). */
  exempt?: (ip: string) => boolean;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  last: number;
}

export class SourceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private rate: number;
  private burst: number;

  constructor(private readonly opts: RateLimitOptions) {
    this.now = opts.now ?? Date.now;
    this.rate = opts.rate;
    this.burst = opts.burst;
  }

  /** The limit in force. */
  get limit(): { rate: number; burst: number } {
    return { rate: this.rate, burst: this.burst };
  }

  /** New rate and burst, in force for the next message. */
  configure(rate: number, burst: number): void {
    this.rate = rate;
    this.burst = burst;
    if (rate <= 0) this.buckets.clear();
    else for (const b of this.buckets.values()) b.tokens = Math.min(b.tokens, burst);
  }

  /** Takes one token for this source; false when the source is over its rate. */
  allow(ip: string): boolean {
    if (this.rate <= 0) return true;
    const t = this.now();
    let b = this.buckets.get(ip);
    if (b === undefined) {
      if (this.opts.exempt?.(ip)) return true;
      b = { tokens: this.burst, last: t };
      this.buckets.set(ip, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((t - b.last) * this.rate) / 1000);
      b.last = t;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forgets sources whose bucket has refilled (idle ones); returns how many are still tracked. */
  sweep(): number {
    const t = this.now();
    for (const [ip, b] of this.buckets) if (b.tokens + ((t - b.last) * this.rate) / 1000 >= this.burst) this.buckets.delete(ip);
    return this.buckets.size;
  }

  get tracked(): number {
    return this.buckets.size;
  }
}
