import type { RedisClient } from '@traverse/redis';
import type { StreamEntry } from './projector';

export interface StreamReaderOptions {
  /** Opens a dedicated connection for blocking reads. */
  connect: () => RedisClient;
  /** Stream keys, index = shard. */
  streams: string[];
  /** Current position of a shard (last applied id). */
  position: (shard: number) => string;
  onEntries: (shard: number, entries: StreamEntry[]) => void;
  /**
   * 'single': one XREAD over all shards on one connection (standalone, Sentinel).
   * 'per-shard': one blocking XREAD per shard on its own connection (Redis Cluster: keys of a
   * multi-key XREAD must share a slot, and the shards deliberately do not).
   */
  mode: 'single' | 'per-shard';
  /**
   * Appends of this node in flight, when their answers fold their own entries: the next read
   * waits for them (for at most a moment), so that it does not fetch those entries once more.
   */
  writing?: () => Promise<void> | undefined;
  /**
   * While this node keeps appending, its appends read every stream: a promise that settles when
   * they stop, when the reader blocks on the streams again (waiting at most one block time).
   */
  quiet?: () => Promise<void> | undefined;
  count?: number;
  blockMs?: number;
  onError?: (e: unknown) => void;
}

/** Parses an XREAD reply in RESP2 ([[key, entries]...]) or RESP3-legacy ([key, entries, ...]) shape. */
export function parseXread(r: unknown): [string, StreamEntry[]][] {
  if (!r || !Array.isArray(r) || r.length === 0) return [];
  if (Array.isArray(r[0])) return r as [string, StreamEntry[]][];
  const out: [string, StreamEntry[]][] = [];
  for (let i = 0; i + 1 < r.length; i += 2) out.push([String(r[i]), r[i + 1] as StreamEntry[]]);
  return out;
}

/** How long a read waits for this node's appends in flight. */
const WRITE_WAIT_MS = 50;

function settledWithin(p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    void p.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Tails the shard streams with blocking XREADs and hands entries over in order, per shard. */
export class StreamReader {
  private running = false;
  private conns: RedisClient[] = [];
  private loops: Promise<void>[] = [];
  private readonly shardOfKey: Map<string, number>;

  constructor(private readonly o: StreamReaderOptions) {
    this.shardOfKey = new Map(o.streams.map((k, i) => [k, i]));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const groups = this.o.mode === 'single' ? [this.o.streams.map((_, i) => i)] : this.o.streams.map((_, i) => [i]);
    for (const shards of groups) {
      const conn = this.o.connect();
      this.conns.push(conn);
      this.loops.push(this.loop(conn, shards));
    }
  }

  private async loop(conn: RedisClient, shards: number[]): Promise<void> {
    const count = this.o.count ?? 2000;
    const block = this.o.blockMs ?? 1000;
    while (this.running) {
      try {
        const args: (string | number)[] = ['COUNT', count, 'BLOCK', block, 'STREAMS'];
        for (const s of shards) args.push(this.o.streams[s]);
        for (const s of shards) args.push(this.o.position(s));
        const r = parseXread(await conn.call('XREAD', ...args));
        if (!this.running) break;
        for (const [key, entries] of r) {
          const s = this.shardOfKey.get(key);
          if (s !== undefined && entries.length) this.o.onEntries(s, entries);
        }
        const w = this.o.writing?.();
        if (w) await settledWithin(w, WRITE_WAIT_MS);
        const q = this.o.quiet?.();
        if (q) await settledWithin(q, block);
      } catch (e) {
        if (!this.running) break;
        this.o.onError?.(e);
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const c of this.conns) c.disconnect();
    await Promise.all(this.loops.map((l) => l.catch(() => undefined)));
    this.conns = [];
    this.loops = [];
  }
}
