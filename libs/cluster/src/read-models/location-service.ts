import type { StoredEvent } from '../events';
import { bindingKey, type ContactBindingData, type RegistrationRemovedReason } from '../cluster-events';
import { shardOf } from '../keys';
import type { ReadModel } from './read-model';

export interface ContactBinding extends ContactBindingData {
  /** Identity within the AOR (see bindingKey). */
  key: string;
  /** Stream id of the add/refresh that set this state: an expiry must name it to apply. */
  lastEvent: string;
  /** Time of that event. */
  updatedAt: number;
}

type ExpiryHandler = (aor: string, key: string, basedOn: string) => void;

/**
 * Location service: AOR -> contact bindings. Answers lookups from memory; keeps an index of
 * expiry times (one-second buckets) so that the master finds due expiries without scanning.
 */
export class LocationService implements ReadModel {
  readonly name = 'location';
  readonly handles = ['registration.added', 'registration.refreshed', 'registration.removed', 'registration.expired'];
  private readonly shards: Map<string, Map<string, ContactBinding>>[];
  /** second -> set of "aor\0key" due in that second (lazy: entries are checked when swept). */
  private readonly due = new Map<number, Set<string>>();
  private bindings = 0;
  private readonly removedListeners: ((b: ContactBinding, why: RegistrationRemovedReason | 'expired') => void)[] = [];

  constructor(readonly shardCount: number) {
    this.shards = Array.from({ length: shardCount }, () => new Map());
  }

  apply(e: StoredEvent): void {
    const m = this.shards[e.shard]!;
    switch (e.type) {
      case 'registration.added':
      case 'registration.refreshed': {
        const d = e.data as ContactBindingData;
        const key = bindingKey(d);
        let aor = m.get(d.aor);
        if (!aor) m.set(d.aor, (aor = new Map()));
        if (!aor.has(key)) this.bindings++;
        const b: ContactBinding = { ...d, key, lastEvent: e.id, updatedAt: e.time };
        aor.set(key, b);
        this.index(b);
        break;
      }
      case 'registration.removed': {
        const d = e.data as { aor: string; key?: string; reason: RegistrationRemovedReason };
        const aor = m.get(d.aor);
        if (!aor) return;
        for (const [k, b] of aor) {
          if (d.key !== undefined && k !== d.key) continue;
          aor.delete(k);
          this.bindings--;
          for (const l of this.removedListeners) l(b, d.reason);
        }
        if (aor.size === 0) m.delete(d.aor);
        break;
      }
      case 'registration.expired': {
        const d = e.data as { aor: string; key: string; basedOn: string };
        const aor = m.get(d.aor);
        const b = aor?.get(d.key);
        // A refresh that landed after the expiry was decided wins: the expiry names what it expires.
        if (!aor || !b || b.lastEvent !== d.basedOn) return;
        aor.delete(d.key);
        this.bindings--;
        if (aor.size === 0) m.delete(d.aor);
        for (const l of this.removedListeners) l(b, 'expired');
        break;
      }
    }
  }

  private index(b: ContactBinding): void {
    const sec = Math.floor(b.expiresAt / 1000);
    let set = this.due.get(sec);
    if (!set) this.due.set(sec, (set = new Set()));
    set.add(`${b.aor}\0${b.key}`);
  }

  /** Called when a binding leaves the location service (removed or expired). */
  onRemoved(fn: (b: ContactBinding, why: RegistrationRemovedReason | 'expired') => void): void {
    this.removedListeners.push(fn);
  }

  /** Live bindings of an AOR, best q first, then most recent. */
  lookup(aor: string, now = Date.now()): ContactBinding[] {
    const m = this.shards[shardOf(aor, this.shardCount)]!.get(aor);
    if (!m) return [];
    const out: ContactBinding[] = [];
    for (const b of m.values()) if (b.expiresAt > now) out.push(b);
    return out.sort((a, b) => b.q - a.q || b.updatedAt - a.updatedAt);
  }

  binding(aor: string, key: string): ContactBinding | undefined {
    return this.shards[shardOf(aor, this.shardCount)]!.get(aor)?.get(key);
  }

  /** Number of bindings held (including ones past expiry whose expired event is not in yet). */
  get size(): number {
    return this.bindings;
  }
  get aorCount(): number {
    let n = 0;
    for (const m of this.shards) n += m.size;
    return n;
  }

  *all(): IterableIterator<ContactBinding> {
    for (const m of this.shards) for (const aor of m.values()) yield* aor.values();
  }

  /** Bindings of flows held by one node. */
  *ownedBy(node: string): IterableIterator<ContactBinding> {
    for (const b of this.all()) if (b.node === node) yield b;
  }

  /** Bindings whose expiry is at or before `now` (each with the event id it would expire). */
  dueForExpiry(now: number, limit = 10_000): ContactBinding[] {
    const out: ContactBinding[] = [];
    const nowSec = Math.floor(now / 1000);
    const secs = [...this.due.keys()].filter((s) => s <= nowSec).sort((a, b) => a - b);
    for (const sec of secs) {
      const set = this.due.get(sec)!;
      for (const item of set) {
        const i = item.indexOf('\0');
        const b = this.binding(item.slice(0, i), item.slice(i + 1));
        if (!b || Math.floor(b.expiresAt / 1000) !== sec) {
          set.delete(item); // refreshed to a later second, or gone
          continue;
        }
        if (b.expiresAt > now) continue;
        if (out.length >= limit) return out;
        out.push(b);
      }
      if (set.size === 0) this.due.delete(sec);
    }
    return out;
  }

  snapshot(shard: number): unknown {
    const rows: unknown[] = [];
    for (const aor of this.shards[shard]!.values()) for (const b of aor.values()) rows.push(b);
    return rows;
  }

  restore(shard: number, state: unknown): void {
    const old = this.shards[shard]!;
    for (const aor of old.values()) this.bindings -= aor.size;
    const m = new Map<string, Map<string, ContactBinding>>();
    for (const b of (state as ContactBinding[] | undefined) ?? []) {
      let aor = m.get(b.aor);
      if (!aor) m.set(b.aor, (aor = new Map()));
      aor.set(b.key, b);
      this.bindings++;
      this.index(b);
    }
    this.shards[shard] = m;
  }
}
