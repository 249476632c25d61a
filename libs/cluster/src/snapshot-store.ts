import { promisify } from 'node:util';
import { once } from 'node:events';
import { createDeflate, inflate, constants as zconst } from 'node:zlib';
import type { RedisClient } from '@traverse/redis';
import type { KeySpace } from './keys';
import { runScript, SAVE_SNAPSHOT } from './lua';
import type { ShardState } from './projector';
import { serializeSnapshot } from './read-models/read-model';

const inflateAsync = promisify(inflate);
const FORMAT = 2;

export interface SnapshotMeta {
  pos?: string;
  prevPos?: string;
  time?: number;
  node?: string;
}

/**
 * Snapshots of the read models' state, per shard, compressed JSON, two generations kept. Only
 * the master writes them; every node reads them when it starts or finds a gap in its stream.
 */
export class SnapshotStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
  ) {}

  async save(shard: number, state: ShardState, node: string): Promise<number> {
    const pieces = await serializeSnapshot({ f: FORMAT, ...state });
    // [u32 raw length][deflate]: the reader inflates into one buffer of the right size (no chunk concatenation).
    const header = Buffer.alloc(4);
    header.writeUInt32BE(pieces.reduce((n, b) => n + b.length, 0));
    const out: Buffer[] = [header];
    const z = createDeflate({ level: zconst.Z_BEST_SPEED, chunkSize: 1 << 20 });
    z.on('data', (c: Buffer) => out.push(c));
    const ended = once(z, 'end');
    for (const p of pieces) if (!z.write(p)) await once(z, 'drain');
    z.end();
    await ended;
    const data = Buffer.concat(out);
    await runScript(
      this.redis,
      SAVE_SNAPSHOT,
      [this.keys.snapshot(shard), this.keys.previousSnapshot(shard), this.keys.snapshotMeta(shard)],
      [data, state.pos, Date.now(), node],
    );
    return data.length;
  }

  async meta(shard: number): Promise<SnapshotMeta> {
    const r = (await this.redis.call('HGETALL', this.keys.snapshotMeta(shard))) as string[] | Record<string, string>;
    const o: Record<string, string> = Array.isArray(r)
      ? Object.fromEntries(Array.from({ length: r.length / 2 }, (_, i) => [r[2 * i], r[2 * i + 1]]))
      : r;
    const m: SnapshotMeta = {};
    if (o.pos) m.pos = o.pos;
    if (o.prevPos) m.prevPos = o.prevPos;
    if (o.time) m.time = Number(o.time);
    if (o.node) m.node = o.node;
    return m;
  }

  /** Loads the latest snapshot of a shard (or the previous one). Undefined when none or unreadable. */
  async load(shard: number, generation: 'latest' | 'previous' = 'latest'): Promise<ShardState | undefined> {
    const key = generation === 'latest' ? this.keys.snapshot(shard) : this.keys.previousSnapshot(shard);
    const buf = await this.redis.getBuffer(key);
    if (!buf) return undefined;
    try {
      const rawLength = buf.readUInt32BE(0);
      const o = JSON.parse((await inflateAsync(buf.subarray(4), { chunkSize: Math.max(64, rawLength + 64) })).toString()) as ShardState & {
        f: number;
      };
      if (o.f !== FORMAT) return undefined;
      return { pos: o.pos, models: o.models };
    } catch {
      return undefined;
    }
  }
}
