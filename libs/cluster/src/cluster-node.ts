import { createRedisClient, type RedisClient, type RedisConnectionOptions } from '@traverse/redis';
import {
  CLUSTER_EVENTS,
  NatBindingReleased,
  RegistrationExpired,
  TunnelClientDisconnected,
  CallEnded,
  type CallEndReason,
} from './cluster-events';
import { ClusterError } from './errors';
import { EventRegistry, type AnyClusterEventClass, type ClusterEvent, type StoredEvent } from './events';
import { EventStore, type AppendResult } from './event-store';
import { compareStreamIds, KeySpace, minStreamId } from './keys';
import { MasterElection, type MasterInfo } from './master-election';
import { Membership, type ClusterServer, type NodeAnnouncement } from './membership';
import { Projector, type StreamEntry } from './projector';
import { LocationService } from './read-models/location-service';
import type { ReadModel } from './read-models/read-model';
import { CallTable, ConfigurationModel, EventTable, MediaEngines, NatBindings, TunnelClients } from './read-models/tables';
import { ClusterRouter } from './router';
import { ClusterLocationService } from './cluster-location-service';
import { DEFAULT_SNAPSHOT_POLICY, snapshotDue, type SnapshotPolicy } from './snapshot-policy';
import { SnapshotStore } from './snapshot-store';
import { StreamReader } from './stream-reader';

/** A client that writes each command at once instead of gathering the commands of a tick into a pipeline. */
function unpipelined(c: RedisClient): RedisClient {
  c.options.enableAutoPipelining = false;
  return c;
}

export interface ClusterLogger {
  log?(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ClusterNodeOptions {
  /** Unique, stable name of this node (the Servers table name). */
  nodeName: string;
  /** Address shown in the Servers table and as the master's address. */
  address: string;
  /** Redis to use: connection options, or a factory returning a NEW client on each call (the node owns and closes them). */
  redis: RedisConnectionOptions | (() => RedisClient);
  /** Key prefix (default "traverse"). */
  prefix?: string;
  /** Number of event stream shards (default 16). Fixed for the life of the data. */
  shards?: number;
  roles?: string[];
  version?: string;
  /** Stand for master election (default true). */
  electable?: boolean;
  /** Master lease (default 5000 ms). */
  leaseMs?: number;
  heartbeatMs?: number;
  /** Group commit window of plain appends (ms, default 0: each append written at once). */
  commitWindowMs?: number;
  /** Master snapshots a shard when it has this many new events (default 10000) ... */
  snapshotMinEvents?: number;
  /** ... or when its last snapshot is older than this and it changed (default 300000 ms) ... */
  snapshotMaxAgeMs?: number;
  /** ... provided it has a new event per this many rows of state at least (default 4; see SnapshotPolicy). */
  snapshotRowsPerEvent?: number;
  /** How often the master checks whether to snapshot (default 5000 ms; 0 = never, tests call snapshotNow()). */
  snapshotCheckMs?: number;
  /** How often the master emits due registration expiries (default 1000 ms; 0 = never). */
  expirySweepMs?: number;
  /** How often a node checks that trimming did not pass it by (default 10000 ms). */
  gapCheckMs?: number;
  closedCallsKept?: number;
  eventTableSize?: number;
  /** Local current calls for the heartbeat (default: active calls owned by this node in the call table). */
  localCalls?: () => number;
  /** End reason the master writes for calls of a node that died (default PXS_LOST_CONN_TO_ME... set to your choice). */
  deadNodeCallEndReason?: CallEndReason;
  /** More event classes and read models of the app. */
  events?: AnyClusterEventClass[];
  models?: ReadModel[];
  logger?: ClusterLogger;
  /** Extra fields of the heartbeat (e.g. region). */
  announceExtra?: () => Record<string, unknown>;
}

export interface ClusterStatus {
  node: string;
  address: string;
  isMaster: boolean;
  master?: MasterInfo;
  servers: readonly ClusterServer[];
  localCalls: number;
  globalCalls: number;
  registrations: number;
  startedAt: number;
}

/**
 * One member of the cluster: event store, read models fed by the shard streams, snapshots,
 * membership, master election and routing. Nest-agnostic: ClusterModule wraps it.
 */
export class ClusterNode {
  readonly keys: KeySpace;
  readonly registry = new EventRegistry();
  readonly location: LocationService;
  readonly nat: NatBindings;
  readonly calls: CallTable;
  readonly tunnelClients: TunnelClients;
  readonly mediaEngines: MediaEngines;
  readonly eventTable: EventTable;
  readonly configuration: ConfigurationModel;
  readonly projector: Projector;
  readonly redis: RedisClient;
  readonly store: EventStore;
  readonly snapshots: SnapshotStore;
  readonly election: MasterElection;
  readonly membership: Membership;
  readonly router: ClusterRouter;
  /** The registrar's location service (reads from memory, writes as events). */
  readonly locationService: ClusterLocationService;
  readonly startedAt = Date.now();
  private readonly reader: StreamReader;
  private readonly connect: () => RedisClient;
  private readonly since: number[];
  private readonly lastSnapshotAt: number[];
  private readonly snapshotPolicy: SnapshotPolicy;
  private timers: NodeJS.Timeout[] = [];
  private readonly claimed = new Map<string, number>();
  private started = false;
  private live = false;
  private stopped = false;
  private readyPromise: Promise<void> | undefined;
  private readonly log: ClusterLogger;

  constructor(readonly options: ClusterNodeOptions) {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(options.nodeName))
      throw new RangeError(`node name must be 1-64 of A-Z a-z 0-9 _ . : -, got ${options.nodeName}`);
    const shards = options.shards ?? 16;
    this.keys = new KeySpace(options.prefix ?? 'traverse', shards);
    this.log = options.logger ?? {
      warn: (m) => console.warn(`[cluster ${options.nodeName}] ${m}`),
      error: (m) => console.error(`[cluster ${options.nodeName}] ${m}`),
    };
    const r = options.redis;
    const open =
      typeof r === 'function' ? r : () => createRedisClient({ ...r, connectionName: r.connectionName ?? `traverse:${options.nodeName}` });
    this.connect = () => {
      const c = open();
      // ioredis reconnects by itself; report errors instead of letting them crash the process.
      c.on('error', (e: Error) => {
        if (!this.stopped) this.log.warn(`redis: ${e.message}`);
      });
      return c;
    };
    this.registry.register(...CLUSTER_EVENTS, ...(options.events ?? []));
    this.location = new LocationService(shards);
    this.nat = new NatBindings(shards);
    this.calls = new CallTable(shards, options.closedCallsKept);
    this.tunnelClients = new TunnelClients(shards);
    this.mediaEngines = new MediaEngines(shards);
    this.eventTable = new EventTable(options.eventTableSize);
    this.configuration = new ConfigurationModel();
    this.projector = new Projector(
      this.registry,
      [
        this.location,
        this.nat,
        this.calls,
        this.tunnelClients,
        this.mediaEngines,
        this.eventTable,
        this.configuration,
        ...(options.models ?? []),
      ],
      shards,
    );
    this.since = new Array<number>(shards).fill(0);
    this.lastSnapshotAt = new Array<number>(shards).fill(0);
    this.snapshotPolicy = {
      minEvents: options.snapshotMinEvents ?? DEFAULT_SNAPSHOT_POLICY.minEvents,
      maxAgeMs: options.snapshotMaxAgeMs ?? DEFAULT_SNAPSHOT_POLICY.maxAgeMs,
      rowsPerEvent: options.snapshotRowsPerEvent ?? DEFAULT_SNAPSHOT_POLICY.rowsPerEvent,
    };
    this.projector.onEvent((e) => this.since[e.shard]++);
    this.redis = this.connect();
    const onError = (what: string) => (e: unknown) => this.log.warn(`${what}: ${(e as Error)?.message ?? e}`);
    const isCluster = (this.redis as { isCluster?: boolean }).isCluster === true;
    this.store = new EventStore(this.redis, this.keys, this.registry, options.nodeName, {
      commitWindowMs: options.commitWindowMs ?? 0,
      perShard: isCluster,
      own: {
        position: (s) => this.projector.positions[s],
        apply: (s, entries) => this.projector.applyEntries(s, entries),
        // the store folds own entries only right after the last entry folded (position === after)
        fold: (s, _after, entries) => this.projector.applyEntries(s, entries),
      },
      readAll: !isCluster,
      onError: onError('folding own events'),
    });
    this.snapshots = new SnapshotStore(this.redis, this.keys);
    this.election = new MasterElection(this.redis, this.keys, {
      nodeName: options.nodeName,
      address: options.address,
      leaseMs: options.leaseMs ?? 5000,
      electable: options.electable ?? true,
      onError: onError('election'),
    });
    this.membership = new Membership(this.redis, this.keys, () => this.announcement(), {
      heartbeatMs: options.heartbeatMs ?? 1000,
      onError: onError('heartbeat'),
    });
    this.router = new ClusterRouter(this.redis, () => unpipelined(this.connect()), this.keys, this.location, this.membership, {
      nodeName: options.nodeName,
      onError: onError('router'),
    });
    this.locationService = new ClusterLocationService(this);
    this.reader = new StreamReader({
      // one blocking command at a time: nothing to pipeline, so no pipeline built per read
      connect: () => unpipelined(this.connect()),
      streams: Array.from({ length: shards }, (_, s) => this.keys.stream(s)),
      position: (s) => this.projector.positions[s],
      onEntries: (s, entries) => this.projector.applyEntries(s, entries),
      writing: () => this.store.writing,
      ...(isCluster ? {} : { quiet: () => this.store.quiet() }),
      mode: isCluster ? 'per-shard' : 'single',
      onError: onError('stream reader'),
    });
  }

  get nodeName(): string {
    return this.options.nodeName;
  }
  get isMaster(): boolean {
    return this.election.isMaster;
  }

  /** Loads snapshots, catches up with the stream tail, then tails live and joins the cluster. */
  start(): Promise<void> {
    if (this.started) return this.readyPromise!;
    this.started = true;
    this.readyPromise = this.doStart();
    return this.readyPromise;
  }
  /** Resolves when the read models have caught up after start. */
  /** Started and caught up with the streams (serving from its read models). */
  get isLive(): boolean {
    return this.live && !this.stopped;
  }

  get ready(): Promise<void> {
    return this.readyPromise ?? Promise.reject(new ClusterError('NOT_STARTED', 'cluster node not started'));
  }

  private async doStart(): Promise<void> {
    const c = this.redis as { status?: string; connect?: () => Promise<void> };
    if (c.status === 'wait') await c.connect!();
    await this.rebuild();
    this.live = true;
    this.reader.start();
    await this.router.start();
    await this.membership.start();
    this.election.runAsMaster((signal, token) => this.masterDuties(signal, token));
    this.membership.onNodeDown((name) => {
      if (this.isMaster) void this.cleanUpAfter(name).catch((e) => this.log.warn(`clean-up after ${name}: ${(e as Error).message}`));
    });
    this.election.start();
    const gap = this.options.gapCheckMs ?? 10_000;
    if (gap > 0) this.every(gap, () => this.checkGaps());
  }

  /** Rebuilds every shard: snapshot, then the stream tail by XRANGE batches. Returns the number of events read. */
  async rebuild(): Promise<number> {
    const shards = this.keys.shards;
    // Two shards at a time: loading all at once keeps every decompressed snapshot alive together (GC-bound).
    for (let s = 0; s < shards; s += 2) await Promise.all([s, s + 1].filter((x) => x < shards).map((x) => this.restoreShard(x)));
    let read = 0;
    await Promise.all(
      Array.from({ length: shards }, async (_, s) => {
        for (;;) {
          const pos = this.projector.positions[s];
          const entries = (await this.redis.call('XRANGE', this.keys.stream(s), `(${pos}`, '+', 'COUNT', 10_000)) as StreamEntry[];
          if (!entries.length) break;
          this.projector.applyEntries(s, entries);
          read += entries.length;
        }
      }),
    );
    return read;
  }

  private async restoreShard(s: number): Promise<void> {
    const info = await this.store.infoOf(s);
    let snap = await this.snapshots.load(s, 'latest');
    if (!snap && compareStreamIds(info.maxDeletedId, '0-0') > 0) {
      snap = await this.snapshots.load(s, 'previous');
    }
    if (compareStreamIds(info.maxDeletedId, snap?.pos ?? '0-0') > 0) {
      throw new ClusterError('SNAPSHOT_MISSING', `shard ${s}: events up to ${info.maxDeletedId} were trimmed but no snapshot covers them`);
    }
    this.projector.restoreShard(s, snap);
    this.since[s] = 0;
  }

  /** A node that lagged behind trimming (e.g. cut off from Redis) reloads the shard's snapshot. */
  private async checkGaps(): Promise<void> {
    const info = await this.store.info();
    for (const i of info) {
      if (compareStreamIds(i.maxDeletedId, this.projector.positions[i.shard]) > 0) {
        this.log.warn(`shard ${i.shard}: trimmed past this node's position; reloading its snapshot`);
        await this.restoreShard(i.shard);
      }
    }
  }

  private every(ms: number, fn: () => Promise<void> | void): NodeJS.Timeout {
    let busy = false;
    const t = setInterval(() => {
      if (busy) return;
      busy = true;
      Promise.resolve()
        .then(fn)
        .catch((e) => this.log.warn((e as Error).message))
        .finally(() => (busy = false));
    }, ms);
    t.unref?.();
    this.timers.push(t);
    return t;
  }

  private announcement(): NodeAnnouncement {
    const a: NodeAnnouncement = {
      name: this.options.nodeName,
      address: this.options.address,
      roles: this.options.roles ?? [],
      startedAt: this.startedAt,
      calls: this.options.localCalls ? this.options.localCalls() : this.calls.countOn(this.options.nodeName),
      clients: this.tunnelClients.list(this.options.nodeName).length,
      master: this.election.isMaster,
      positions: [...this.projector.positions],
    };
    if (this.options.version) a.version = this.options.version;
    if (this.options.announceExtra) a.extra = this.options.announceExtra();
    return a;
  }

  // ------------------------------------------------------------------ singleton work of the master

  private async masterDuties(signal: AbortSignal, token: number): Promise<void> {
    await this.store.raiseFences(token);
    if (signal.aborted) return;
    const timers: NodeJS.Timeout[] = [];
    const sweep = this.options.expirySweepMs ?? 1000;
    if (sweep > 0) timers.push(this.every(sweep, () => (signal.aborted ? undefined : this.sweepExpiries().then(() => undefined))));
    const snap = this.options.snapshotCheckMs ?? 5000;
    if (snap > 0) timers.push(this.every(snap, () => (signal.aborted ? undefined : this.snapshotDueShards(signal))));
    // Clean up after nodes that died before this node became master.
    for (const s of this.membership.table) if (s.status === 'down') await this.cleanUpAfter(s.name).catch(() => undefined);
    signal.addEventListener('abort', () => {
      for (const t of timers) {
        clearInterval(t);
        this.timers = this.timers.filter((x) => x !== t);
      }
    });
  }

  /**
   * Emits registration.expired for every due binding, each through an atomic claim so that it
   * is emitted exactly once cluster-wide even when several nodes sweep at the same time.
   * Returns how many this node emitted.
   */
  async sweepExpiries(now = Date.now()): Promise<number> {
    const due = this.location.dueForExpiry(now);
    for (const [k, t] of this.claimed) if (t < now - 30_000) this.claimed.delete(k);
    const results = await Promise.all(
      due.map(async (b) => {
        const claim = `exp\0${b.aor}\0${b.key}\0${b.lastEvent}`;
        if (this.claimed.has(claim)) return 0;
        this.claimed.set(claim, now);
        const r = await this.store.appendOnce(new RegistrationExpired({ aor: b.aor, key: b.key, basedOn: b.lastEvent }), claim);
        return r ? 1 : 0;
      }),
    );
    return results.reduce<number>((a, b) => a + b, 0);
  }

  private async cleanUpAfter(name: string): Promise<void> {
    if (name === this.options.nodeName) return;
    const token = this.election.token;
    if (token === undefined) return;
    const evs: ClusterEvent[] = [];
    for (const c of this.tunnelClients.list(name))
      evs.push(new TunnelClientDisconnected({ clientId: c.clientId, reason: `node ${name} down` }));
    for (const b of this.nat.list()) if (b.node === name) evs.push(new NatBindingReleased({ id: b.id, reason: `node ${name} down` }));
    const reason = this.options.deadNodeCallEndReason ?? 'CONN_FAILED_IN_PXS';
    for (const c of this.calls.active(name)) evs.push(new CallEnded({ callId: c.callId, endedAt: Date.now(), reason }));
    await Promise.all(evs.map((e) => this.store.appendFenced(e, token)));
  }

  /** Snapshots the shards the policy says are due (the master, every snapshotCheckMs). */
  private async snapshotDueShards(signal: AbortSignal): Promise<void> {
    const now = Date.now();
    for (let s = 0; s < this.keys.shards && !signal.aborted; s++) {
      if (snapshotDue(this.snapshotPolicy, this.since[s], this.projector.shardRows(s), now - this.lastSnapshotAt[s])) {
        await this.snapshotShard(s);
        await new Promise((r) => setImmediate(r)); // let the hot path breathe between shards
      }
    }
  }

  /** Snapshots one shard from this node's state, then trims what no reader needs any more. */
  async snapshotShard(s: number): Promise<{ bytes: number; trimmed: number }> {
    const state = this.projector.snapshotShard(s);
    const count = this.since[s];
    const bytes = await this.snapshots.save(s, state, this.options.nodeName);
    this.since[s] = Math.max(0, this.since[s] - count);
    this.lastSnapshotAt[s] = Date.now();
    return { bytes, trimmed: await this.trimShard(s) };
  }

  /**
   * Trims shard s below the older of the two kept snapshots and below the position of every
   * node that is up: no live read model and no restarting node ever needs what is dropped.
   */
  async trimShard(s: number): Promise<number> {
    const meta = await this.snapshots.meta(s);
    if (!meta.prevPos) return 0;
    await this.membership.refresh();
    // Other nodes as of their last heartbeat; this node as of now.
    const live = this.membership.table
      .filter((n) => n.status === 'up' && n.name !== this.options.nodeName)
      .map((n) => n.positions[s] ?? '0-0');
    const bound = minStreamId([meta.prevPos, ...live, this.projector.positions[s]])!;
    if (compareStreamIds(bound, '0-0') <= 0) return 0;
    return this.store.trim(s, bound);
  }

  /** Snapshots every shard now (the master does this periodically by itself). */
  async snapshotNow(): Promise<{ bytes: number; trimmed: number }> {
    let bytes = 0;
    let trimmed = 0;
    for (let s = 0; s < this.keys.shards; s++) {
      const r = await this.snapshotShard(s);
      bytes += r.bytes;
      trimmed += r.trimmed;
    }
    return { bytes, trimmed };
  }

  // ------------------------------------------------------------------ publishing

  /** Appends an event to its shard stream (pipelined). Every node, this one included, folds it when it reads it back. */
  publish(event: ClusterEvent): Promise<AppendResult> {
    return this.store.append(event);
  }
  publishAll(events: ClusterEvent[]): Promise<AppendResult[]> {
    return this.store.appendAll(events);
  }

  /** Publishes events as one atomic step: every node folds all of them in one batch or none (on Redis Cluster they must share a shard). */
  publishTogether(events: ClusterEvent[]): Promise<AppendResult[]> {
    return this.store.appendTogether(events);
  }
  /** Appends and resolves once this node's read models have folded it (read-your-writes). */
  async publishAndWait(event: ClusterEvent): Promise<AppendResult> {
    const r = await this.store.append(event);
    await this.projector.waitFor(r.shard, r.id);
    return r;
  }
  /** Appends with the master's fencing token; NOT_MASTER here, STALE_FENCING_TOKEN when a newer master fenced us out. */
  async publishAsMaster(event: ClusterEvent): Promise<AppendResult> {
    const token = this.election.token;
    if (token === undefined) throw new ClusterError('NOT_MASTER', `${this.options.nodeName} is not the master`);
    return this.store.appendFenced(event, token);
  }
  /** Waits until this node has folded the event at (shard, id). */
  waitFor(r: AppendResult): Promise<void> {
    return this.projector.waitFor(r.shard, r.id);
  }
  /** Called for every event folded into the read models, in stream order per shard (history replayed at start included). */
  onEvent(fn: (e: StoredEvent) => void): void {
    this.projector.onEvent(fn);
  }
  /** Called for events folded after start caught up: new events only, not the history (for side effects). */
  onLiveEvent(fn: (e: StoredEvent) => void): void {
    this.projector.onEvent((e) => {
      if (this.live) fn(e);
    });
  }

  /** Server Status / Cluster figures for the O&M API. */
  status(): ClusterStatus {
    const localCalls = this.options.localCalls ? this.options.localCalls() : this.calls.countOn(this.options.nodeName);
    const s: ClusterStatus = {
      node: this.options.nodeName,
      address: this.options.address,
      isMaster: this.isMaster,
      servers: this.membership.table,
      localCalls,
      globalCalls: this.membership.table.length ? this.membership.globalCalls : localCalls,
      registrations: this.location.size,
      startedAt: this.startedAt,
    };
    if (this.election.master) s.master = this.election.master;
    return s;
  }

  /** Graceful stop: hands mastership over at once, leaves the Servers table, closes connections. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.readyPromise?.catch(() => undefined);
    for (const t of this.timers) clearInterval(t);
    this.store.flush();
    await this.election.stop(true);
    await this.membership.stop(true);
    await this.router.stop();
    await this.reader.stop();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Abrupt stop as if the process died (tests): nothing is released, the lease runs out by itself. */
  async kill(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.election.stop(false);
    await this.membership.stop(false);
    await this.router.stop();
    await this.reader.stop();
    this.redis.disconnect();
  }
}
