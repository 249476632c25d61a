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
  /** About how many rows a snapshot of the shard holds (what it costs to write); none: a handful. */
  snapshotRows?(shard: number): number;
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
  snapshotRows(shard: number): number {
    return this.shards[shard].size;
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

/**
 * A large list in a snapshot, serialised in slices by the snapshot store so that snapshotting a
 * big shard does not stall the event loop. `items` must be captured at the snapshot's position
 * and must not be mutated afterwards (bindings are replaced, never changed in place).
 */
export class DeferredRows<T = unknown> {
  constructor(
    readonly items: readonly T[],
    readonly toRow: (item: T) => unknown,
  ) {}
  toJSON(): unknown[] {
    return this.items.map(this.toRow);
  }
}

type Frozen = { json: string } | { rows: DeferredRows } | { entries: [string, Frozen][] };

/** Synchronous pass: everything but DeferredRows becomes JSON text now, at the snapshot's position. */
function freeze(value: unknown): Frozen {
  if (value instanceof DeferredRows) return { rows: value };
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype) {
    const entries: [string, Frozen][] = [];
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) entries.push([k, freeze(v)]);
    return { entries };
  }
  return { json: JSON.stringify(value) ?? 'null' };
}

async function emit(f: Frozen, sliceRows: number, out: string[]): Promise<void> {
  if ('json' in f) {
    out.push(f.json);
    return;
  }
  if ('entries' in f) {
    out.push('{');
    let first = true;
    for (const [k, v] of f.entries) {
      out.push(`${first ? '' : ','}${JSON.stringify(k)}:`);
      first = false;
      await emit(v, sliceRows, out);
    }
    out.push('}');
    return;
  }
  out.push('[');
  const { items, toRow } = f.rows;
  for (let i = 0; i < items.length; i += sliceRows) {
    if (i > 0) {
      await new Promise((r) => setImmediate(r));
      out.push(',');
    }
    out.push(JSON.stringify(items.slice(i, i + sliceRows).map(toRow)).slice(1, -1));
  }
  out.push(']');
}

/**
 * JSON of a snapshot state as UTF-8 buffers. Everything is captured synchronously when called
 * (so mutable models are read at the snapshot's position); DeferredRows are then written in
 * slices with a yield to the event loop between them, and the text is encoded piece by piece
 * (encoding one 25 MB rope string at once stalls the loop for ~250 ms; so does concatenating
 * the buffers: the caller streams them).
 */
export async function serializeSnapshot(value: unknown, sliceRows = 4000): Promise<Buffer[]> {
  const frozen = freeze(value);
  const pieces: string[] = [];
  await emit(frozen, sliceRows, pieces);
  const bufs: Buffer[] = [];
  let since = 0;
  for (const p of pieces) {
    bufs.push(Buffer.from(p));
    since += p.length;
    if (since > 2_000_000) {
      since = 0;
      await new Promise((r) => setImmediate(r));
    }
  }
  return bufs;
}
