import type { StoredEvent } from '../events';

/**
 * A read model folds stored events into in-memory state. State is kept per shard so that a
 * shard can be restored from its snapshot on its own; events of one aggregate always land in
 * the same shard, in order. Reducers must be deterministic: they use event data and event time,
 * never the wall clock, so that snapshot + tail equals full replay on every node.
 */
export interface ReadModel {
  readonly name: string;
  /** Event types this model folds; others are not passed to apply(). */
  readonly handles: readonly string[];
  apply(e: StoredEvent): void;
  /** JSON-serialisable state of one shard. */
  snapshot(shard: number): unknown;
  /** Replaces the state of one shard (undefined: empty). */
  restore(shard: number, state: unknown): void;
}

/** Helper base: an array of per-shard maps. */
export abstract class ShardedMapModel<V> implements ReadModel {
  abstract readonly name: string;
  abstract readonly handles: readonly string[];
  protected readonly shards: Map<string, V>[];
  constructor(readonly shardCount: number) {
    this.shards = Array.from({ length: shardCount }, () => new Map<string, V>());
  }
  abstract apply(e: StoredEvent): void;
  snapshot(shard: number): unknown {
    return [...this.shards[shard].entries()];
  }
  restore(shard: number, state: unknown): void {
    this.shards[shard] = new Map((state as [string, V][] | undefined) ?? []);
  }
  protected *allValues(): IterableIterator<V> {
    for (const m of this.shards) yield* m.values();
  }
  get size(): number {
    let n = 0;
    for (const m of this.shards) n += m.size;
    return n;
  }
}
