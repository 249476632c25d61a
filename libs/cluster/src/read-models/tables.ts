import type { StoredEvent } from '../events';
import type {
  CallEndReason,
  CallStartedData,
  MediaEngineData,
  NatBindingData,
  NatBindingRefreshedData,
  Severity,
  TunnelClientData,
} from '../cluster-events';
import { SUCCESSFUL_END_REASONS } from '../cluster-events';
import { ShardedMapModel, type ReadModel } from './read-model';

// ---------------------------------------------------------------- NAT bindings

/** A NAT binding after a re-registration: what the refresh carries replaces what the row held. */
function refreshed(b: NatBindingData, r: NatBindingRefreshedData): NatBindingData {
  const out: NatBindingData = { ...b, expiresAt: r.expiresAt };
  if (r.lastSeen !== undefined) out.lastSeen = r.lastSeen;
  if (r.rate !== undefined) out.rate = r.rate;
  if (r.contact !== undefined) out.contact = r.contact;
  if (r.relay !== undefined) out.relay = r.relay;
  if (r.flow !== undefined) out.flow = r.flow;
  if (b.proxied !== undefined && (r.token !== undefined || r.via !== undefined))
    out.proxied = { ...b.proxied, ...(r.token !== undefined ? { token: r.token } : {}), ...(r.via !== undefined ? { via: r.via } : {}) };
  return out;
}

export class NatBindings extends ShardedMapModel<NatBindingData> {
  readonly name = 'nat';
  readonly handles = ['nat.binding-created', 'nat.binding-refreshed', 'nat.binding-released'];
  apply(e: StoredEvent): void {
    const m = this.shards[e.shard];
    const d = e.data as { id: string };
    if (e.type === 'nat.binding-created') m.set(d.id, e.data as NatBindingData);
    else if (e.type === 'nat.binding-refreshed') {
      const b = m.get(d.id);
      if (b) m.set(d.id, refreshed(b, e.data as NatBindingRefreshedData));
    } else m.delete(d.id);
  }
  get(id: string): NatBindingData | undefined {
    for (const m of this.shards) {
      const b = m.get(id);
      if (b) return b;
    }
    return undefined;
  }
  list(now = Date.now()): NatBindingData[] {
    return [...this.allValues()].filter((b) => b.expiresAt > now);
  }
}

// ---------------------------------------------------------------- calls

export interface CallRecord extends CallStartedData {
  answeredAt?: number;
  endedAt?: number;
  endReason?: CallEndReason;
  sipStatus?: number;
  /** Closed calls: true when the end reason counts as success (shown white), else failed (red). */
  successful?: boolean;
}

interface CallShard {
  active: Map<string, CallRecord>;
  closed: CallRecord[];
}

/** Active and closed calls (the Call Status page). Closed calls are kept up to a bound. */
export class CallTable implements ReadModel {
  readonly name = 'calls';
  readonly handles = ['call.started', 'call.answered', 'call.ended'];
  private shards: CallShard[];
  private readonly closedPerShard: number;
  constructor(
    readonly shardCount: number,
    closedKept = 1000,
  ) {
    this.closedPerShard = Math.max(1, Math.ceil(closedKept / shardCount));
    this.shards = Array.from({ length: shardCount }, () => ({ active: new Map(), closed: [] }));
  }
  apply(e: StoredEvent): void {
    const s = this.shards[e.shard];
    if (e.type === 'call.started') {
      const d = e.data as CallStartedData;
      s.active.set(d.callId, { ...d });
      return;
    }
    const d = e.data as { callId: string; answeredAt?: number; endedAt?: number; reason?: CallEndReason; sipStatus?: number };
    const c = s.active.get(d.callId);
    if (!c) return;
    if (e.type === 'call.answered') {
      c.answeredAt = d.answeredAt!;
      return;
    }
    s.active.delete(d.callId);
    const closed: CallRecord = { ...c, endedAt: d.endedAt!, endReason: d.reason!, successful: SUCCESSFUL_END_REASONS.has(d.reason!) };
    if (d.sipStatus !== undefined) closed.sipStatus = d.sipStatus;
    s.closed.push(closed);
    if (s.closed.length > this.closedPerShard) s.closed.splice(0, s.closed.length - this.closedPerShard);
  }
  get(callId: string): CallRecord | undefined {
    for (const s of this.shards) {
      const c = s.active.get(callId);
      if (c) return c;
    }
    for (const s of this.shards) {
      const c = s.closed.find((x) => x.callId === callId);
      if (c) return c;
    }
    return undefined;
  }
  /** Active calls, oldest first. */
  active(node?: string): CallRecord[] {
    const out: CallRecord[] = [];
    for (const s of this.shards) for (const c of s.active.values()) if (!node || c.node === node) out.push(c);
    return out.sort((a, b) => a.startedAt - b.startedAt);
  }
  /** Closed calls, most recent first. */
  closed(limit = 1000): CallRecord[] {
    const out: CallRecord[] = [];
    for (const s of this.shards) out.push(...s.closed);
    return out.sort((a, b) => b.endedAt! - a.endedAt!).slice(0, limit);
  }
  /** Current calls in the whole cluster, as seen by the event log. */
  get activeCount(): number {
    let n = 0;
    for (const s of this.shards) n += s.active.size;
    return n;
  }
  countOn(node: string): number {
    let n = 0;
    for (const s of this.shards) for (const c of s.active.values()) if (c.node === node) n++;
    return n;
  }
  snapshot(shard: number): unknown {
    const s = this.shards[shard];
    return { active: [...s.active.values()], closed: s.closed };
  }
  snapshotRows(shard: number): number {
    const s = this.shards[shard];
    return s.active.size + s.closed.length;
  }
  restore(shard: number, state: unknown): void {
    const st = state as { active: CallRecord[]; closed: CallRecord[] } | undefined;
    this.shards[shard] = { active: new Map((st?.active ?? []).map((c) => [c.callId, c])), closed: st?.closed ?? [] };
  }
}

// ---------------------------------------------------------------- tunnel clients

export class TunnelClients extends ShardedMapModel<TunnelClientData> {
  readonly name = 'tunnel-clients';
  readonly handles = ['tunnel.client-connected', 'tunnel.client-disconnected'];
  apply(e: StoredEvent): void {
    const d = e.data as TunnelClientData;
    if (e.type === 'tunnel.client-connected') this.shards[e.shard].set(d.clientId, d);
    else this.shards[e.shard].delete(d.clientId);
  }
  list(node?: string): TunnelClientData[] {
    return [...this.allValues()].filter((c) => !node || c.node === node).sort((a, b) => a.connectedAt - b.connectedAt);
  }
  get(clientId: string): TunnelClientData | undefined {
    for (const m of this.shards) {
      const c = m.get(clientId);
      if (c) return c;
    }
    return undefined;
  }
}

// ---------------------------------------------------------------- media engines

export interface MediaEngineStatus extends MediaEngineData {
  up: boolean;
  since: number;
  reason?: string;
}
export class MediaEngines extends ShardedMapModel<MediaEngineStatus> {
  readonly name = 'media-engines';
  readonly handles = ['media-engine.up', 'media-engine.lost'];
  apply(e: StoredEvent): void {
    const m = this.shards[e.shard];
    if (e.type === 'media-engine.up') m.set((e.data as MediaEngineData).name, { ...(e.data as MediaEngineData), up: true, since: e.time });
    else {
      const d = e.data as { name: string; reason: string };
      const me = m.get(d.name);
      if (me) m.set(d.name, { ...me, up: false, since: e.time, reason: d.reason });
    }
  }
  list(): MediaEngineStatus[] {
    return [...this.allValues()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

// ---------------------------------------------------------------- event table

export interface EventTableRow {
  /** Event number (#), assigned in stream order: the same on every node. */
  number: number;
  name: string;
  severity: Severity;
  info: string;
  node: string;
  raisedAt: number;
  clearedAt?: number;
}
/** The seed's event table: raised events with severity, cleared flag, bounded size. */
export class EventTable implements ReadModel {
  readonly name = 'event-table';
  readonly handles = ['event.raised', 'event.cleared'];
  private rows: EventTableRow[] = [];
  private next = 1;
  private shard = -1;
  constructor(private readonly maxRows = 100) {}
  apply(e: StoredEvent): void {
    this.shard = e.shard;
    if (e.type === 'event.raised') {
      const d = e.data as Omit<EventTableRow, 'number'>;
      this.rows.push({ number: this.next++, name: d.name, severity: d.severity, info: d.info, node: d.node, raisedAt: d.raisedAt });
      if (this.rows.length > this.maxRows) this.rows.splice(0, this.rows.length - this.maxRows);
    } else {
      const d = e.data as { name: string; node: string; clearedAt: number };
      for (const r of this.rows) if (r.name === d.name && r.node === d.node && r.clearedAt === undefined) r.clearedAt = d.clearedAt;
    }
  }
  /** Most recent first. */
  list(): EventTableRow[] {
    return [...this.rows].reverse();
  }
  /** Raised and not cleared, most recent first. */
  open(): EventTableRow[] {
    return this.list().filter((r) => r.clearedAt === undefined);
  }
  snapshot(shard: number): unknown {
    return shard === this.shard ? { rows: this.rows, next: this.next } : undefined;
  }
  restore(shard: number, state: unknown): void {
    const st = state as { rows: EventTableRow[]; next: number } | undefined;
    if (st) {
      this.rows = st.rows;
      this.next = st.next;
      this.shard = shard;
    } else if (shard === this.shard) {
      this.rows = [];
      this.next = 1;
    }
  }
}

// ---------------------------------------------------------------- configuration

export interface ConfigurationEntry {
  value: unknown;
  /** Increments on every change of this path. */
  revision: number;
  changedAt: number;
  node: string;
  by?: string;
}
/** Cluster-wide configuration overrides (path -> value) changed at run time through the O&M API. */
export class ConfigurationModel implements ReadModel {
  readonly name = 'configuration';
  readonly handles = ['configuration.changed'];
  private entries = new Map<string, ConfigurationEntry>();
  private shard = -1;
  private readonly listeners: ((path: string, value: unknown) => void)[] = [];
  apply(e: StoredEvent): void {
    this.shard = e.shard;
    const d = e.data as { path: string; value: unknown; by?: string };
    const prev = this.entries.get(d.path);
    const entry: ConfigurationEntry = { value: d.value, revision: (prev?.revision ?? 0) + 1, changedAt: e.time, node: e.node };
    if (d.by !== undefined) entry.by = d.by;
    this.entries.set(d.path, entry);
    for (const l of this.listeners) l(d.path, d.value);
  }
  get(path: string): unknown {
    return this.entries.get(path)?.value;
  }
  entry(path: string): ConfigurationEntry | undefined {
    return this.entries.get(path);
  }
  all(): Record<string, unknown> {
    return Object.fromEntries([...this.entries].map(([k, v]) => [k, v.value]));
  }
  onChange(fn: (path: string, value: unknown) => void): void {
    this.listeners.push(fn);
  }
  snapshot(shard: number): unknown {
    return shard === this.shard ? [...this.entries] : undefined;
  }
  restore(shard: number, state: unknown): void {
    if (state) {
      this.entries = new Map(state as [string, ConfigurationEntry][]);
      this.shard = shard;
    } else if (shard === this.shard) this.entries = new Map();
  }
}
