import type { RedisClient } from '@traverse/redis';
import { ClusterError } from './errors';
import type { ClusterEvent, EventRegistry } from './events';
import { compareStreamIds, KeySpace } from './keys';
import { CLAIMED_APPEND, FENCED_APPEND, RAISE_FENCE, runScript, TRIM } from './lua';

export interface StreamInfo {
  shard: number;
  length: number;
  firstId?: string;
  lastId: string;
  /** Highest id removed by trimming or XDEL ("0-0" when nothing was). */
  maxDeletedId: string;
}

export interface AppendResult {
  shard: number;
  /** Stream id the event got. */
  id: string;
}

/**
 * Appends events to the shard streams. Plain appends are single XADDs that ioredis
 * autopipelines (and groups per Cluster node); appends that need authority go through Lua
 * with a fencing token; appends that must happen once cluster-wide go through a claim.
 */
export class EventStore {
  constructor(
    private readonly redis: RedisClient,
    readonly keys: KeySpace,
    readonly registry: EventRegistry,
    readonly node: string,
  ) {}

  shardOf(event: ClusterEvent): number {
    const c = event.constructor as unknown as { aggregateOf(d: unknown): string };
    return this.keys.shardOf(c.aggregateOf(event.data));
  }

  async append(event: ClusterEvent): Promise<AppendResult> {
    const shard = this.shardOf(event);
    const id = (await this.redis.call('XADD', this.keys.stream(shard), '*', ...this.registry.encode(event, this.node))) as string;
    return { shard, id };
  }

  /** Appends many events in one round of pipelined XADDs; order is kept per shard. */
  appendAll(events: ClusterEvent[]): Promise<AppendResult[]> {
    return Promise.all(events.map((e) => this.append(e)));
  }

  /** Appends if `token` is not lower than the highest token a fenced write used on that shard. */
  async appendFenced(event: ClusterEvent, token: number): Promise<AppendResult> {
    const shard = this.shardOf(event);
    try {
      const id = (await runScript(
        this.redis,
        FENCED_APPEND,
        [this.keys.stream(shard), this.keys.fence(shard)],
        [token, ...this.registry.encode(event, this.node)],
      )) as string;
      return { shard, id };
    } catch (e) {
      if (String((e as Error).message).includes('STALE_FENCING_TOKEN'))
        throw new ClusterError('STALE_FENCING_TOKEN', `fencing token ${token} is stale (${(e as Error).message})`);
      throw e;
    }
  }

  /** Raises the fence of every shard to `token`, so that writes with older tokens are refused. */
  async raiseFences(token: number): Promise<void> {
    await Promise.all(
      Array.from({ length: this.keys.shards }, (_, s) => runScript(this.redis, RAISE_FENCE, [this.keys.fence(s)], [token])),
    );
  }

  /**
   * Appends unless `claimId` was claimed before (within `ttlMs`): the event is emitted at most
   * once across the cluster however many nodes race. Returns undefined when someone else won.
   */
  async appendOnce(event: ClusterEvent, claimId: string, ttlMs = 120_000): Promise<AppendResult | undefined> {
    const shard = this.shardOf(event);
    const id = (await runScript(
      this.redis,
      CLAIMED_APPEND,
      [this.keys.stream(shard), this.keys.claim(shard, claimId)],
      [ttlMs, ...this.registry.encode(event, this.node)],
    )) as string | null;
    return id ? { shard, id } : undefined;
  }

  /** Length and first/last ids of each shard stream, and the highest id trimming deleted. */
  info(): Promise<StreamInfo[]> {
    return Promise.all(Array.from({ length: this.keys.shards }, (_, shard) => this.infoOf(shard)));
  }

  async infoOf(shard: number): Promise<StreamInfo> {
    const [i, trimmed] = await Promise.all([
      this.xinfo(shard),
      this.redis.call('HGET', this.keys.snapshotMeta(shard), 'maxTrimmed') as Promise<string | null>,
    ]);
    if (trimmed && compareStreamIds(trimmed, i.maxDeletedId) > 0) i.maxDeletedId = trimmed;
    return i;
  }

  private async xinfo(shard: number): Promise<StreamInfo> {
    try {
      const r = (await this.redis.call('XINFO', 'STREAM', this.keys.stream(shard))) as unknown[];
      const get = (k: string) => r[r.indexOf(k) + 1];
      const first = get('first-entry') as [string, string[]] | null;
      const out = {
        shard,
        length: Number(get('length')),
        lastId: String(get('last-generated-id')),
        maxDeletedId: String((get('max-deleted-entry-id') as string | undefined) ?? '0-0'),
      };
      return first ? { ...out, firstId: first[0] } : out;
    } catch (e) {
      if (String((e as Error).message).includes('no such key')) return { shard, length: 0, lastId: '0-0', maxDeletedId: '0-0' };
      throw e;
    }
  }

  /** Deletes the entries with ids below `minId` (exact trimming: it runs once per snapshot, not per event). */
  async trim(shard: number, minId: string): Promise<number> {
    return Number(await runScript(this.redis, TRIM, [this.keys.stream(shard), this.keys.snapshotMeta(shard)], [minId]));
  }
}
