/**
 * A prom-client counter for the per-message path. An increment is a plain addition in a small
 * table (no label object, no label hashing or validation); the counts reach the prom-client
 * counter when it is collected (a scrape of the registry, or its get()).
 */
import { Counter, type Registry } from 'prom-client';

interface Pending {
  labels: Record<string, string>;
  n: number;
}

export class TalliedCounter {
  private readonly counter: Counter<string>;
  private readonly pending = new Map<string, Map<string, Pending>>();

  constructor(config: { name: string; help: string; labelNames: readonly [string] | readonly [string, string]; registers: Registry[] }) {
    const flush = () => this.flush();
    this.counter = new Counter({
      name: config.name,
      help: config.help,
      labelNames: [...config.labelNames],
      registers: config.registers,
      collect() {
        flush();
      },
    });
    this.labelNames = config.labelNames;
  }

  private readonly labelNames: readonly [string] | readonly [string, string];

  /** Counts one for the label values (the second only for a counter with two labels). */
  inc(a: string, b = ''): void {
    let m = this.pending.get(a);
    if (m === undefined) this.pending.set(a, (m = new Map()));
    let p = m.get(b);
    if (p === undefined) {
      const [n0, n1] = this.labelNames;
      m.set(b, (p = { labels: n1 === undefined ? { [n0]: a } : { [n0]: a, [n1]: b }, n: 0 }));
    }
    p.n++;
  }

  private flush(): void {
    for (const m of this.pending.values())
      for (const p of m.values())
        if (p.n > 0) {
          this.counter.inc(p.labels, p.n);
          p.n = 0;
        }
  }
}
