import type { RedisClient } from '@traverse/redis';
import { ClusterError } from './errors';
import type { ClusterEvent, EventRegistry } from './events';
import { compareStreamIds, KeySpace } from './keys';
import { BATCH_APPEND, CLAIMED_APPEND, FENCED_APPEND, RAISE_FENCE, runScript, TRIM } from './lua';
import type { StreamEntry } from './projector';
import { parseXread } from './stream-reader';

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

export interface EventStoreOptions {
  /**
   * Group commit: plain appends made within this many ms are written together, in one script
   * per group (one round trip, and one wake-up of every node's stream reader instead of one per
   * event). An append made while the store is idle (nothing in flight, no group written for a
   * window) is written at once, so only appends under load wait. 0 writes each append at once.
   */
  commitWindowMs?: number;
  /** A group is written at once when it holds this many events (default 256). */
  maxBatch?: number;
  /** Redis Cluster: a script's keys must share a slot, so groups are per shard there. */
  perShard?: boolean;
  /**
   * The writer's read models. Each group's script first reads, from the streams it writes to
   * (from every stream with `readAll`), what lies past their positions, then appends: the answer
   * folds what was read and the group's own entries, which directly follow it, instead of the
   * stream reader bringing them back (it then skips them as already folded).
   */
  own?: OwnAppends;
  /** Read every shard stream in each group (one reader over all of them, not Redis Cluster). */
  readAll?: boolean;
  /** Most entries read from a stream by one group (default 2000). */
  readCount?: number;
  /** Receives errors thrown while folding (the stream reader folds what was left). */
  onError?: (e: unknown) => void;
}

/** Where a writer's read models stand, and how entries are folded into them. */
export interface OwnAppends {
  /** Id of the last entry folded from a shard's stream. */
  position(shard: number): string;
  /** Folds entries read from a shard's stream (those already folded are skipped). */
  apply(shard: number, entries: StreamEntry[]): void;
  /** Folds the writer's own entries appended to a shard's stream right after `after`, the last entry folded there (the store checks that first). */
  fold(shard: number, after: string, entries: StreamEntry[]): void;
}

interface PendingAppend {
  shard: number;
  fields: string[];
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/** A group waiting for an earlier one that reads the same streams to be answered. */
interface QueuedGroup {
  group: PendingAppend[];
  together: boolean;
  /** The shards whose streams its script reads (-1: all of them). */
  reads: number[];
  /** Settles its place in `writing` once it is answered. */
  answered: () => void;
}

/** Shard key of a group that reads every stream (readAll). */
const ALL_SHARDS = -1;

/**
 * Appends events to the shard streams. Plain appends are grouped over a short commit window and
 * written by one script per group (or one XADD when alone), in the order they were made; appends
 * that need authority go through Lua with a fencing token; appends that must happen once
 * cluster-wide go through a claim.
 */
export class EventStore {
  private pending: PendingAppend[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the last group was written (performance.now()). */
  private lastWrite = -Infinity;
  private readonly windowMs: number;
  private readonly maxBatch: number;
  private answered: Promise<void> | undefined;
  private inFlight = 0;
  /** Shards whose streams an unanswered group reads (ALL_SHARDS: every one). */
  private readonly reading = new Set<number>();
  /** Groups waiting for those, in the order they were made. */
  private queue: QueuedGroup[] = [];
  private busy = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private quietWaiters: (() => void)[] = [];
  private readonly streamShard: Map<string, number>;

  constructor(
    private readonly redis: RedisClient,
    readonly keys: KeySpace,
    readonly registry: EventRegistry,
    readonly node: string,
    private readonly options: EventStoreOptions = {},
  ) {
    this.windowMs = Math.max(0, options.commitWindowMs ?? 0);
    this.maxBatch = Math.max(1, options.maxBatch ?? 256);
    this.streamShard = new Map(Array.from({ length: keys.shards }, (_, i) => [keys.stream(i), i]));
  }

  shardOf(event: ClusterEvent): number {
    const c = event.constructor as unknown as { aggregateOf(d: unknown): string };
    return this.keys.shardOf(c.aggregateOf(event.data));
  }

  append(event: ClusterEvent): Promise<AppendResult> {
    let shard: number;
    let fields: string[];
    try {
      shard = this.shardOf(event);
      fields = this.registry.encode(event, this.node);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    if (this.idleTimer) this.stillBusy();
    return new Promise<AppendResult>((resolve, reject) => {
      this.pending.push({ shard, fields, resolve, reject });
      if (this.pending.length >= this.maxBatch || this.windowMs === 0) this.flush();
      else if (this.timer === undefined) {
        if (this.inFlight === 0 && performance.now() - this.lastWrite >= this.windowMs) this.flush();
        else this.timer = setTimeout(() => this.flush(), this.windowMs);
      }
    });
  }

  /** Appends many events in one group; order is kept per shard. */
  appendAll(events: ClusterEvent[]): Promise<AppendResult[]> {
    return Promise.all(events.map((e) => this.append(e)));
  }

  /**
   * Appends events as one atomic step (one script): a reader folds all of them in one batch or
   * none, whatever the commit window (e.g. the keys of one settings change). Appends waiting for
   * the window are written first, so order is kept. On Redis Cluster the events must share a shard.
   */
  appendTogether(events: ClusterEvent[]): Promise<AppendResult[]> {
    if (events.length === 0) return Promise.resolve([]);
    const shards = events.map((e) => this.shardOf(e));
    if (this.options.perShard && shards.some((sh) => sh !== shards[0]))
      return Promise.reject(new ClusterError('MIXED_SHARDS', 'events appended together must share a shard on Redis Cluster'));
    let fields: string[][];
    try {
      fields = events.map((e) => this.registry.encode(e, this.node));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    if (this.idleTimer) this.stillBusy();
    this.flush();
    const group: PendingAppend[] = [];
    const done = events.map(
      (_, i) => new Promise<AppendResult>((resolve, reject) => group.push({ shard: shards[i], fields: fields[i], resolve, reject })),
    );
    this.write(group, true);
    return Promise.all(done);
  }

  /**
   * Settles once the groups written so far are answered (and their own entries folded);
   * undefined when none is waiting for its answer.
   */
  get writing(): Promise<void> | undefined {
    return this.answered;
  }

  /**
   * With `readAll`, while appends keep coming each group reads every stream: resolves once they
   * stopped (no append for a commit window after the last answer), when a blocking read is
   * needed again; undefined when that is already so.
   */
  quiet(): Promise<void> | undefined {
    if (!this.busy) return undefined;
    return new Promise((resolve) => this.quietWaiters.push(resolve));
  }

  private stillBusy(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** After an answer: when nothing waits or is in flight, the store turns quiet unless appends come within a window. */
  private maybeQuiet(): void {
    if (this.inFlight > 0 || this.pending.length > 0 || this.queue.length > 0 || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.inFlight > 0 || this.pending.length > 0 || this.queue.length > 0) return;
      this.busy = false;
      const w = this.quietWaiters;
      this.quietWaiters = [];
      for (const f of w) f();
    }, this.windowMs);
  }

  /** Writes the appends waiting for the commit window now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    if (!this.options.perShard) {
      this.write(batch);
      return;
    }
    const byShard = new Map<number, PendingAppend[]>();
    for (const p of batch) {
      const g = byShard.get(p.shard);
      if (g) g.push(p);
      else byShard.set(p.shard, [p]);
    }
    for (const g of byShard.values()) this.write(g);
  }

  private write(group: PendingAppend[], together = false): void {
    this.lastWrite = performance.now();
    const own = this.options.own;
    if (group.length === 1 && !own) {
      const p = group[0];
      (this.redis.call('XADD', this.keys.stream(p.shard), '*', ...p.fields) as Promise<string>).then(
        (id) => p.resolve({ shard: p.shard, id }),
        p.reject,
      );
      return;
    }
    // The script reads the streams it writes to from this node's positions. While an earlier group
    // that reads them is unanswered, those positions are behind that group's appends, and this one
    // would read them all back (a burst of groups would read quadratically): it waits its turn, and
    // plain appends that come meanwhile join the last waiting group (up to maxBatch).
    const reads = own === undefined ? [] : this.options.readAll === true ? [ALL_SHARDS] : [...new Set(group.map((p) => p.shard))];
    if (this.queue.length > 0 || reads.some((s) => this.reading.has(s))) {
      const tail = this.queue[this.queue.length - 1];
      if (
        !together &&
        tail !== undefined &&
        !tail.together &&
        tail.group.length + group.length <= this.maxBatch &&
        (!this.options.perShard || tail.group[0].shard === group[0].shard)
      ) {
        tail.group.push(...group);
        for (const s of reads) if (!tail.reads.includes(s)) tail.reads.push(s);
        return;
      }
      let answered!: () => void;
      this.track(new Promise<void>((resolve) => (answered = resolve)));
      this.queue.push({ group, together, reads, answered });
      return;
    }
    this.track(this.send(group, together, reads));
  }

  /** The answer of the latest group written or queued (groups are answered in order). */
  private track(answered: Promise<void>): void {
    this.answered = answered;
    void answered.then(() => {
      if (this.answered === answered) this.answered = undefined;
    });
  }

  /** Sends the queued groups whose streams no unanswered group reads, in order. */
  private pump(): void {
    while (this.queue.length > 0 && !this.queue[0].reads.some((s) => this.reading.has(s))) {
      const q = this.queue.shift()!;
      void this.send(q.group, q.together, q.reads).then(q.answered);
    }
  }

  /** Writes a group by one script; settles once it is answered and its own entries are folded. */
  private send(group: PendingAppend[], together: boolean, reads: number[]): Promise<void> {
    const own = this.options.own;
    for (const s of reads) this.reading.add(s);
    const done = () => {
      for (const s of reads) this.reading.delete(s);
      this.pump();
    };
    // the script's keys: every shard stream with readAll, else the group's; their positions
    const keys: string[] = [];
    const shards: number[] = [];
    const keyOf: number[] = [];
    const readAll = own !== undefined && this.options.readAll === true;
    if (readAll) {
      for (let s = 0; s < this.keys.shards; s++) {
        keys.push(this.keys.stream(s));
        shards.push(s);
      }
      for (const p of group) keyOf.push(p.shard + 1);
    } else {
      const keyIndex = new Map<number, number>();
      for (const p of group) {
        let k = keyIndex.get(p.shard);
        if (k === undefined) {
          k = keys.push(this.keys.stream(p.shard));
          shards.push(p.shard);
          keyIndex.set(p.shard, k);
        }
        keyOf.push(k);
      }
    }
    const positions = shards.map((s) => (own ? own.position(s) : ''));
    const count = this.options.readCount ?? 2000;
    const args: (string | number)[] = [group.length, count, ...positions];
    group.forEach((p, i) => args.push(keyOf[i], p.fields.length, ...p.fields));
    this.inFlight++;
    if (readAll) this.busy = true;
    // EVAL, not EVALSHA with a fallback: a NOSCRIPT retry would let a later group overtake this one
    return this.redis.call('EVAL', BATCH_APPEND.lua, keys.length, ...keys, ...args).then(
      (reply) => {
        this.inFlight--;
        const [ids, read] = reply as [string[], unknown];
        if (own) this.foldOwn(own, group, keyOf, ids, shards, positions, read, count, together);
        group.forEach((p, i) => p.resolve({ shard: p.shard, id: String(ids[i]) }));
        done();
        this.maybeQuiet();
      },
      (e) => {
        this.inFlight--;
        for (const p of group) p.reject(e);
        done();
        this.maybeQuiet();
      },
    );
  }

  /**
   * Folds what a group's script read, then the group's own entries of each stream where they
   * follow what is folded (the read was not cut short, and nothing else was folded meanwhile).
   */
  private foldOwn(
    own: OwnAppends,
    group: PendingAppend[],
    keyOf: number[],
    ids: string[],
    shards: number[],
    positions: string[],
    read: unknown,
    count: number,
    together: boolean,
  ): void {
    // where each key's own entries go: after the last entry read, else after the position sent
    const after = positions.slice();
    for (const [key, entries] of parseXread(read)) {
      const s = this.streamShard.get(key);
      if (s === undefined || entries.length === 0) continue;
      const k = shards.indexOf(s);
      after[k] = entries.length >= count ? '' : entries[entries.length - 1][0];
      try {
        own.apply(s, entries);
      } catch (e) {
        this.options.onError?.(e);
      }
    }
    const entries: (StreamEntry[] | undefined)[] = shards.map(() => undefined);
    group.forEach((p, i) => (entries[keyOf[i] - 1] ??= []).push([String(ids[i]), p.fields]));
    const follows = (k: number) => after[k] !== '' && own.position(shards[k]) === after[k];
    // events appended together are folded together: all now, or all by the stream reader
    if (together && entries.some((e, k) => e !== undefined && !follows(k))) return;
    for (let k = 0; k < shards.length; k++) {
      const e = entries[k];
      if (e === undefined || !follows(k)) continue;
      try {
        own.fold(shards[k], after[k], e);
      } catch (err) {
        this.options.onError?.(err);
      }
    }
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
