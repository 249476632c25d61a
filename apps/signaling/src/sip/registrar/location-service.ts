/**
 * The location service (RFC 3261 10.3): address-of-record -> contact bindings. The registrar
 * writes it, the proxy reads it. Reads are synchronous (answered from memory on the hot path);
 * writes are asynchronous so that a cluster-backed implementation (events on Redis streams,
 * libs/cluster's LocationService read model) can replace the in-memory one without changing
 * the registrar.
 */

import { bindingKey, type ContactBindingData, type RegistrationRemovedReason as ClusterRemovedReason } from '@traverse/cluster';

// The binding data and its identity rule are libs/cluster's, so the cluster-backed location
// service (ClusterLocationService) can replace the in-memory one without any translation.
export { bindingKey, type ContactBindingData };

export interface ContactBinding extends ContactBindingData {
  /** Identity within the AOR (see bindingKey). */
  key: string;
  /** When this binding was first registered (ms). */
  registeredAt: number;
  /** When it was last added or refreshed (ms). */
  updatedAt: number;
}

/** Why a binding left: the cluster's reasons, plus expiry. */
export type RegistrationRemovedReason = ClusterRemovedReason | 'expired';

/** One REGISTER's changes to an AOR, applied together. */
export interface BindingChanges {
  /** Bindings added, or refreshed when their key exists. */
  upsert: ContactBindingData[];
  /** Keys of bindings removed (Expires 0, `Contact: *`). */
  remove: string[];
}

export interface LocationService {
  /** Live bindings of an AOR, best q first, then most recently updated. */
  lookup(aor: string, now?: number): ContactBinding[];
  /** Every live binding (the Registered SIP Users table). */
  list(now?: number): ContactBinding[];
  /** Applies a REGISTER's changes to one AOR; resolves with the AOR's live bindings after them. */
  update(aor: string, changes: BindingChanges, now?: number): Promise<ContactBinding[]>;
  /** Removes one binding (by key) or every binding of an AOR; resolves with how many went. */
  remove(aor: string, key: string | undefined, reason: RegistrationRemovedReason): Promise<number>;
  /** Called when a binding leaves (removed, unregistered or expired). */
  onRemoved(fn: (b: ContactBinding, reason: RegistrationRemovedReason) => void): void;
  /** Number of live bindings and of AORs holding them. */
  readonly size: number;
  readonly aorCount: number;
}

/**
 * A copy of a string that does not share the memory of the message it was cut from (V8 keeps a
 * sliced string's parent alive): bindings outlive their REGISTER by an hour. (The cluster's
 * location service keeps what it reads back from the event stream, which shares nothing.)
 */
function own(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'latin1').toString('latin1');
}

/** A binding's data with its own copies of the strings cut from the REGISTER. */
function owned(d: ContactBindingData): ContactBindingData {
  return {
    ...d,
    contact: own(d.contact),
    callId: own(d.callId),
    ...(d.instance !== undefined ? { instance: own(d.instance) } : {}),
    ...(d.path !== undefined ? { path: d.path.map(own) } : {}),
    ...(d.userAgent !== undefined ? { userAgent: own(d.userAgent) } : {}),
  };
}

/**
 * Single-node location service in memory. Expired bindings vanish from lookups at once and are
 * removed (with onRemoved) by sweep(), which the owner calls periodically.
 */
export class InMemoryLocationService implements LocationService {
  private readonly aors = new Map<string, Map<string, ContactBinding>>();
  private bindings = 0;
  private readonly listeners: ((b: ContactBinding, reason: RegistrationRemovedReason) => void)[] = [];

  constructor(private readonly clock: () => number = Date.now) {}

  get size(): number {
    return this.bindings;
  }
  get aorCount(): number {
    return this.aors.size;
  }

  lookup(aor: string, now = this.clock()): ContactBinding[] {
    const m = this.aors.get(aor);
    if (m === undefined) return [];
    const out: ContactBinding[] = [];
    for (const b of m.values()) if (b.expiresAt > now) out.push(b);
    return out.sort((a, b) => b.q - a.q || b.updatedAt - a.updatedAt);
  }

  list(now = this.clock()): ContactBinding[] {
    const out: ContactBinding[] = [];
    for (const m of this.aors.values()) for (const b of m.values()) if (b.expiresAt > now) out.push(b);
    return out.sort((a, b) => (a.aor < b.aor ? -1 : a.aor > b.aor ? 1 : b.q - a.q || b.updatedAt - a.updatedAt));
  }

  async update(aor: string, changes: BindingChanges, now = this.clock()): Promise<ContactBinding[]> {
    let m = this.aors.get(aor);
    for (const key of changes.remove) {
      const b = m?.get(key);
      if (m !== undefined && b !== undefined) {
        m.delete(key);
        this.bindings--;
        this.emit(b, 'unregistered');
      }
    }
    for (const d of changes.upsert) {
      if (m === undefined) this.aors.set(aor, (m = new Map()));
      const key = bindingKey(d);
      const old = m.get(key);
      if (old === undefined) this.bindings++;
      m.set(key, { ...owned(d), aor: own(aor), key, registeredAt: old !== undefined && old.expiresAt > now ? old.registeredAt : now, updatedAt: now });
    }
    if (m !== undefined && m.size === 0) this.aors.delete(aor);
    return this.lookup(aor, now);
  }

  async remove(aor: string, key: string | undefined, reason: RegistrationRemovedReason): Promise<number> {
    const m = this.aors.get(aor);
    if (m === undefined) return 0;
    let n = 0;
    for (const [k, b] of [...m]) {
      if (key !== undefined && k !== key) continue;
      m.delete(k);
      this.bindings--;
      n++;
      this.emit(b, reason);
    }
    if (m.size === 0) this.aors.delete(aor);
    return n;
  }

  onRemoved(fn: (b: ContactBinding, reason: RegistrationRemovedReason) => void): void {
    this.listeners.push(fn);
  }

  /** Removes bindings whose expiry has passed; returns how many. */
  sweep(now = this.clock()): number {
    let n = 0;
    for (const [aor, m] of this.aors) {
      for (const [k, b] of m) {
        if (b.expiresAt > now) continue;
        m.delete(k);
        this.bindings--;
        n++;
        this.emit(b, 'expired');
      }
      if (m.size === 0) this.aors.delete(aor);
    }
    return n;
  }

  private emit(b: ContactBinding, reason: RegistrationRemovedReason): void {
    for (const l of this.listeners) l(b, reason);
  }
}
