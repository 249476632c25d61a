import type { StoredEvent } from '../events';
import { bindingKey, type ContactBindingData, type RegistrationRemovedReason } from '../cluster-events';
import { shardOf } from '../keys';
import { DeferredRows, type ReadModel } from './read-model';

export interface ContactBinding extends ContactBindingData {
  /** Identity within the AOR (see bindingKey). */
  key: string;
  /** Stream id of the add/refresh that set this state: an expiry must name it to apply. */
  lastEvent: string;
  /** Time of that event. */
  updatedAt: number;
  /** When this binding was first registered (event time; kept across refreshes). */
  registeredAt: number;
}

/**
 * Location service: AOR -> contact bindings. Answers lookups from memory; keeps an index of
 * expiry times (one-second buckets) so that the master finds due expiries without scanning.
 */
export class LocationService implements ReadModel {
  readonly name = 'location';
  readonly handles = ['registration.added', 'registration.refreshed', 'registration.removed', 'registration.expired'];
  /** Per shard: AOR -> its one binding (the common case: no Map per AOR), or a Map key -> binding. */
  private readonly shards: Map<string, Slot>[];
  /** second -> bindings due in that second (lazy: an entry is stale when the binding object was replaced). */
  private readonly due = new Map<number, Set<ContactBinding>>();
  /** The expiry index is built on first use (on the master): other nodes never pay for it. */
  private indexed = false;
  private bindings = 0;
  private readonly removedListeners: ((b: ContactBinding, why: RegistrationRemovedReason | 'expired') => void)[] = [];

  constructor(readonly shardCount: number) {
    this.shards = Array.from({ length: shardCount }, () => new Map());
  }

  apply(e: StoredEvent): void {
    const m = this.shards[e.shard];
    switch (e.type) {
      case 'registration.added':
      case 'registration.refreshed': {
        const d = e.data as ContactBindingData;
        const key = bindingKey(d);
        const old = slotGet(m.get(d.aor), key);
        if (old) this.unindex(old);
        else this.bindings++;
        const registeredAt = old !== undefined && old.expiresAt > e.time ? old.registeredAt : e.time;
        const b: ContactBinding = { ...d, key, lastEvent: e.id, updatedAt: e.time, registeredAt };
        slotSet(m, b);
        this.index(b);
        break;
      }
      case 'registration.removed': {
        const d = e.data as { aor: string; key?: string; reason: RegistrationRemovedReason };
        const slot = m.get(d.aor);
        if (!slot) return;
        for (const b of [...slotValues(slot)]) {
          if (d.key !== undefined && b.key !== d.key) continue;
          slotDelete(m, b.aor, b.key);
          this.unindex(b);
          this.bindings--;
          for (const l of this.removedListeners) l(b, d.reason);
        }
        break;
      }
      case 'registration.expired': {
        const d = e.data as { aor: string; key: string; basedOn: string };
        const b = slotGet(m.get(d.aor), d.key);
        // A refresh that landed after the expiry was decided wins: the expiry names what it expires.
        if (!b || b.lastEvent !== d.basedOn) return;
        slotDelete(m, d.aor, d.key);
        this.unindex(b);
        this.bindings--;
        for (const l of this.removedListeners) l(b, 'expired');
        break;
      }
    }
  }

  private index(b: ContactBinding): void {
    if (!this.indexed) return;
    const sec = Math.floor(b.expiresAt / 1000);
    let set = this.due.get(sec);
    if (!set) this.due.set(sec, (set = new Set()));
    set.add(b);
  }

  private unindex(b: ContactBinding): void {
    if (!this.indexed) return;
    const sec = Math.floor(b.expiresAt / 1000);
    const set = this.due.get(sec);
    if (set?.delete(b) && set.size === 0) this.due.delete(sec);
  }

  /** Called when a binding leaves the location service (removed or expired). */
  onRemoved(fn: (b: ContactBinding, why: RegistrationRemovedReason | 'expired') => void): void {
    this.removedListeners.push(fn);
  }

  /** Live bindings of an AOR, best q first, then most recent. */
  lookup(aor: string, now = Date.now()): ContactBinding[] {
    const slot = this.shards[shardOf(aor, this.shardCount)].get(aor);
    if (!slot) return [];
    if (!(slot instanceof Map)) return slot.expiresAt > now ? [slot] : [];
    const out: ContactBinding[] = [];
    for (const b of slot.values()) if (b.expiresAt > now) out.push(b);
    return out.sort((a, b) => b.q - a.q || b.updatedAt - a.updatedAt);
  }

  binding(aor: string, key: string): ContactBinding | undefined {
    return slotGet(this.shards[shardOf(aor, this.shardCount)].get(aor), key);
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

  /** Every live binding, by AOR then q (the Registered SIP Users table). */
  list(now = Date.now()): ContactBinding[] {
    const out: ContactBinding[] = [];
    for (const b of this.all()) if (b.expiresAt > now) out.push(b);
    return out.sort((a, b) => (a.aor < b.aor ? -1 : a.aor > b.aor ? 1 : b.q - a.q || b.updatedAt - a.updatedAt));
  }

  *all(): IterableIterator<ContactBinding> {
    for (const m of this.shards) for (const slot of m.values()) yield* slotValues(slot);
  }

  /** Bindings of flows held by one node. */
  *ownedBy(node: string): IterableIterator<ContactBinding> {
    for (const b of this.all()) if (b.node === node) yield b;
  }

  /** Bindings whose expiry is at or before `now` (each with the event id it would expire). */
  dueForExpiry(now: number, limit = 10_000): ContactBinding[] {
    if (!this.indexed) {
      this.indexed = true;
      for (const b of this.all()) this.index(b);
    }
    const out: ContactBinding[] = [];
    const nowSec = Math.floor(now / 1000);
    const secs = [...this.due.keys()].filter((s) => s <= nowSec).sort((a, b) => a - b);
    for (const sec of secs) {
      const set = this.due.get(sec)!;
      for (const b of set) {
        if (this.binding(b.aor, b.key) !== b) {
          set.delete(b); // refreshed (a new object) or gone
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

  /** The AORs of a shard (its bindings, but for the few AORs with more than one). */
  snapshotRows(shard: number): number {
    return this.shards[shard].size;
  }

  /** Rows are positional arrays (see ROW): parsing arrays is much cheaper than objects at a million bindings. */
  snapshot(shard: number): unknown {
    const bindings: ContactBinding[] = [];
    for (const slot of this.shards[shard].values()) for (const b of slotValues(slot)) bindings.push(b);
    return { v: 1, rows: new DeferredRows(bindings, toRow) };
  }

  restore(shard: number, state: unknown): void {
    const old = this.shards[shard];
    for (const slot of old.values()) {
      for (const b of slotValues(slot)) {
        this.bindings--;
        this.unindex(b);
      }
    }
    const m = new Map<string, Slot>();
    for (const row of (state as { rows: Row[] } | undefined)?.rows ?? []) {
      const b = fromRow(row);
      slotSet(m, b);
      this.bindings++;
      this.index(b);
    }
    this.shards[shard] = m;
  }
}

/** The bindings of one AOR: the binding itself when there is one, else a Map key -> binding. */
type Slot = ContactBinding | Map<string, ContactBinding>;

function slotGet(slot: Slot | undefined, key: string): ContactBinding | undefined {
  if (slot === undefined) return undefined;
  if (slot instanceof Map) return slot.get(key);
  return slot.key === key ? slot : undefined;
}

function slotValues(slot: Slot): Iterable<ContactBinding> {
  return slot instanceof Map ? slot.values() : [slot];
}

function slotSet(m: Map<string, Slot>, b: ContactBinding): void {
  const slot = m.get(b.aor);
  if (slot === undefined || (!(slot instanceof Map) && slot.key === b.key)) m.set(b.aor, b);
  else if (slot instanceof Map) slot.set(b.key, b);
  else
    m.set(
      b.aor,
      new Map([
        [slot.key, slot],
        [b.key, b],
      ]),
    );
}

function slotDelete(m: Map<string, Slot>, aor: string, key: string): void {
  const slot = m.get(aor);
  if (slot === undefined) return;
  if (!(slot instanceof Map)) {
    if (slot.key === key) m.delete(aor);
    return;
  }
  slot.delete(key);
  if (slot.size === 1) m.set(aor, slot.values().next().value!);
  else if (slot.size === 0) m.delete(aor);
}

/** Snapshot row layout of a binding; optional fields are null when absent. */
type Row = [
  aor: string,
  contact: string,
  expiresAt: number,
  q: number,
  instance: string | null,
  regId: number | null,
  node: string,
  flow: string | null,
  callId: string,
  cseq: number,
  received: string | null,
  transport: string | null,
  path: string[] | null,
  userAgent: string | null,
  lastEvent: string,
  updatedAt: number,
  registeredAt: number,
  behindNat: boolean | null,
];

function toRow(b: ContactBinding): Row {
  return [
    b.aor,
    b.contact,
    b.expiresAt,
    b.q,
    b.instance ?? null,
    b.regId ?? null,
    b.node,
    b.flow ?? null,
    b.callId,
    b.cseq,
    b.received ?? null,
    b.transport ?? null,
    b.path ?? null,
    b.userAgent ?? null,
    b.lastEvent,
    b.updatedAt,
    b.registeredAt,
    b.behindNat ?? null,
  ];
}

function fromRow(r: Row): ContactBinding {
  const b: ContactBinding = {
    aor: r[0],
    contact: r[1],
    expiresAt: r[2],
    q: r[3],
    node: r[6],
    callId: r[8],
    cseq: r[9],
    key: '',
    lastEvent: r[14],
    updatedAt: r[15],
    registeredAt: r[16],
  };
  if (r[4] !== null) b.instance = r[4];
  if (r[5] !== null) b.regId = r[5];
  if (r[7] !== null) b.flow = r[7];
  if (r[10] !== null) b.received = r[10];
  if (r[11] !== null) b.transport = r[11];
  if (r[12] !== null) b.path = r[12];
  if (r[13] !== null) b.userAgent = r[13];
  if (r[17] !== null) b.behindNat = r[17];
  b.key = bindingKey(b);
  return b;
}
