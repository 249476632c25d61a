import type { EventRegistry, StoredEvent } from './events';
import { compareStreamIds } from './keys';
import type { ReadModel } from './read-models/read-model';

export type StreamEntry = [id: string, fields: string[]];

export interface ShardState {
  /** Stream id of the last event folded into the state. */
  pos: string;
  /** Model name -> that model's state of the shard. */
  models: Record<string, unknown>;
}

/**
 * Folds stream entries into the read models and tracks, per shard, the id of the last entry
 * applied. Everything is synchronous: at any point between two batches the models' state of a
 * shard corresponds exactly to `positions[shard]`, which is what makes snapshots consistent.
 */
export class Projector {
  readonly positions: string[];
  private readonly byType = new Map<string, ReadModel[]>();
  private readonly listeners: ((e: StoredEvent) => void)[] = [];
  private waiters: { shard: number; id: string; resolve: () => void }[] = [];
  applied = 0;
  skipped = 0;

  constructor(
    readonly registry: EventRegistry,
    readonly models: readonly ReadModel[],
    readonly shardCount: number,
  ) {
    this.positions = Array.from({ length: shardCount }, () => '0-0');
    for (const m of models)
      for (const t of m.handles) {
        let l = this.byType.get(t);
        if (!l) this.byType.set(t, (l = []));
        l.push(m);
      }
  }

  /** Called for every applied event after the models folded it (CQRS bridge, router...). */
  onEvent(fn: (e: StoredEvent) => void): void {
    this.listeners.push(fn);
  }

  applyEntries(shard: number, entries: StreamEntry[]): void {
    for (const [id, fields] of entries) {
      if (compareStreamIds(id, this.positions[shard]) <= 0) continue; // already in the state (snapshot overlap)
      const e = this.registry.decode(shard, id, fields);
      this.positions[shard] = id;
      if (!e) {
        this.skipped++;
        continue;
      }
      this.applied++;
      const ms = this.byType.get(e.type);
      if (ms) for (const m of ms) m.apply(e);
      for (const l of this.listeners) l(e);
    }
    if (this.waiters.length) this.wake();
  }

  /** Resolves once the event appended at (shard, id) has been applied here. */
  waitFor(shard: number, id: string): Promise<void> {
    if (compareStreamIds(this.positions[shard], id) >= 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ shard, id, resolve }));
  }

  private wake(): void {
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (compareStreamIds(this.positions[w.shard], w.id) >= 0) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  snapshotShard(shard: number): ShardState {
    const models: Record<string, unknown> = {};
    for (const m of this.models) {
      const s = m.snapshot(shard);
      if (s !== undefined) models[m.name] = s;
    }
    return { pos: this.positions[shard], models };
  }

  /** About how many rows a snapshot of the shard holds, over every model. */
  shardRows(shard: number): number {
    let n = 0;
    for (const m of this.models) n += m.snapshotRows?.(shard) ?? 0;
    return n;
  }

  restoreShard(shard: number, state: ShardState | undefined): void {
    for (const m of this.models) m.restore(shard, state?.models[m.name]);
    this.positions[shard] = state?.pos ?? '0-0';
    if (this.waiters.length) this.wake();
  }
}
