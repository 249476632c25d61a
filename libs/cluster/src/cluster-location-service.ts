import {
  bindingKey,
  RegistrationAdded,
  RegistrationRefreshed,
  RegistrationRemoved,
  type ContactBindingData,
  type RegistrationRemovedReason,
} from './cluster-events';
import type { ClusterNode } from './cluster-node';
import type { ClusterEvent } from './events';
import type { ContactBinding } from './read-models/location-service';

/** One REGISTER's changes to an AOR, applied together. */
export interface BindingChanges {
  /** Bindings added, or refreshed when their key exists. */
  upsert: ContactBindingData[];
  /** Keys of bindings removed (Expires 0, `Contact: *`). */
  remove: string[];
}

/**
 * The registrar's location service over the cluster: reads from the in-memory read model,
 * writes as events (removals first, then adds/refreshes, all in the AOR's shard, pipelined), and
 * resolves once this node has folded them, so a REGISTER's 200 OK lists what the cluster now holds.
 * Shaped like apps/signaling's LocationService interface so it can be bound in its place.
 */
export class ClusterLocationService {
  constructor(private readonly node: ClusterNode) {}

  lookup(aor: string, now = Date.now()): ContactBinding[] {
    return this.node.location.lookup(aor, now);
  }
  list(now = Date.now()): ContactBinding[] {
    return this.node.location.list(now);
  }
  get size(): number {
    return this.node.location.size;
  }
  get aorCount(): number {
    return this.node.location.aorCount;
  }

  async update(aor: string, changes: BindingChanges, now = Date.now()): Promise<ContactBinding[]> {
    const events: ClusterEvent[] = [];
    for (const key of changes.remove)
      if (this.node.location.binding(aor, key)) events.push(new RegistrationRemoved({ aor, key, reason: 'unregistered' }));
    for (const d of changes.upsert) {
      const data = { ...d, aor };
      const existing = this.node.location.binding(aor, bindingKey(data));
      events.push(existing && existing.expiresAt > now ? new RegistrationRefreshed(data) : new RegistrationAdded(data));
    }
    if (events.length) {
      const rs = await this.node.publishAll(events);
      await Promise.all(rs.map((r) => this.node.waitFor(r)));
    }
    return this.lookup(aor, now);
  }

  async remove(aor: string, key: string | undefined, reason: RegistrationRemovedReason | 'expired'): Promise<number> {
    const n = key === undefined ? this.node.location.lookup(aor, 0).length : this.node.location.binding(aor, key) ? 1 : 0;
    if (n === 0) return 0;
    const r = await this.node.publish(
      new RegistrationRemoved({ aor, ...(key !== undefined ? { key } : {}), reason: reason === 'expired' ? 'forced' : reason }),
    );
    await this.node.waitFor(r);
    return n;
  }

  onRemoved(fn: (b: ContactBinding, reason: RegistrationRemovedReason | 'expired') => void): void {
    this.node.location.onRemoved(fn);
  }
}
