import type { RedisClient } from '@traverse/redis';
import type { KeySpace } from './keys';

export type NodeStatus = 'up' | 'down';

/** What a node announces in its heartbeat. */
export interface NodeAnnouncement {
  name: string;
  /** Address shown in the Servers table (host or host:port of its SIP/tunnel service). */
  address: string;
  roles: string[];
  startedAt: number;
  /** Local current calls. */
  calls: number;
  /** Connected tunnel clients. */
  clients: number;
  master: boolean;
  version?: string;
  /** Per shard: id of the last event applied (trimming never goes above the lowest live one). */
  positions: string[];
  /** Free-form extras of the app (e.g. region). */
  extra?: Record<string, unknown>;
}

/** A row of the cluster Servers table. */
export interface ClusterServer extends NodeAnnouncement {
  status: NodeStatus;
  lastSeen: number;
}

export interface MembershipOptions {
  heartbeatMs: number;
  /** A node is down when it missed this long (default 3 heartbeats). */
  timeoutMs?: number;
  /** Nodes down for longer are dropped from the table (default 1 day). */
  forgetAfterMs?: number;
  onError?: (e: unknown) => void;
}

/**
 * Membership by heartbeats: every node writes its announcement with a TTL and its last-seen
 * time in a sorted set (one hash tag: MGET works on Redis Cluster). The Servers table and the
 * global current calls figure come from here.
 */
export class Membership {
  private timer: NodeJS.Timeout | undefined;
  private servers: ClusterServer[] = [];
  private readonly timeoutMs: number;
  private readonly downListeners: ((name: string) => void)[] = [];
  private readonly upListeners: ((name: string) => void)[] = [];
  private known = new Map<string, NodeStatus>();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    private readonly announce: () => NodeAnnouncement,
    private readonly o: MembershipOptions,
  ) {
    this.timeoutMs = o.timeoutMs ?? o.heartbeatMs * 3;
  }

  onNodeDown(fn: (name: string) => void): void {
    this.downListeners.push(fn);
  }
  onNodeUp(fn: (name: string) => void): void {
    this.upListeners.push(fn);
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch((e) => this.o.onError?.(e)), this.o.heartbeatMs);
    this.timer.unref?.();
  }

  /** Stops heartbeats; `leave` removes this node's heartbeat at once (graceful shutdown). */
  async stop(leave = true): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (leave) {
      const a = this.announce();
      await this.redis.call('DEL', this.keys.member(a.name)).catch(() => undefined);
    }
  }

  /** Writes this node's heartbeat and refreshes the table. */
  async beat(): Promise<void> {
    const a = this.announce();
    const now = Date.now();
    await Promise.all([
      this.redis.call('SET', this.keys.member(a.name), JSON.stringify(a), 'PX', this.timeoutMs),
      this.redis.call('ZADD', this.keys.members, now, a.name),
    ]);
    await this.refresh();
  }

  /** Reads the Servers table from Redis. */
  async refresh(): Promise<ClusterServer[]> {
    const now = Date.now();
    const forget = this.o.forgetAfterMs ?? 86_400_000;
    await this.redis.call('ZREMRANGEBYSCORE', this.keys.members, '-inf', now - forget);
    const flat = (await this.redis.call('ZRANGE', this.keys.members, 0, -1, 'WITHSCORES')) as (string | number)[] | [string, number][];
    const pairs: [string, number][] = Array.isArray(flat[0])
      ? (flat as [string, number][])
      : Array.from({ length: flat.length / 2 }, (_, i) => [String(flat[2 * i]), Number(flat[2 * i + 1])]);
    const names = pairs.map((p) => p[0]);
    const values = names.length ? ((await this.redis.call('MGET', ...names.map((n) => this.keys.member(n)))) as (string | null)[]) : [];
    const out: ClusterServer[] = [];
    pairs.forEach(([name, seen], i) => {
      const v = values[i];
      if (v) {
        out.push({ ...(JSON.parse(v) as NodeAnnouncement), status: 'up', lastSeen: Number(seen) });
      } else {
        const prev = this.servers.find((s) => s.name === name);
        out.push({
          ...(prev ?? { name, address: '', roles: [], startedAt: 0, calls: 0, clients: 0, master: false, positions: [] }),
          calls: 0,
          clients: 0,
          master: false,
          status: 'down',
          lastSeen: Number(seen),
        });
      }
    });
    out.sort((a, b) => a.name.localeCompare(b.name));
    this.servers = out;
    const next = new Map(out.map((s) => [s.name, s.status]));
    for (const [name, st] of next) {
      const before = this.known.get(name);
      if (st === 'down' && before === 'up') for (const f of this.downListeners) f(name);
      if (st === 'up' && before !== 'up') for (const f of this.upListeners) f(name);
    }
    for (const [name, st] of this.known) if (st === 'up' && !next.has(name)) for (const f of this.downListeners) f(name);
    this.known = next;
    return out;
  }

  /** The Servers table as last read (name, address, status, ...). */
  get table(): readonly ClusterServer[] {
    return this.servers;
  }
  isUp(name: string): boolean {
    return this.servers.some((s) => s.name === name && s.status === 'up');
  }
  get(name: string): ClusterServer | undefined {
    return this.servers.find((s) => s.name === name);
  }
  /** Global current calls: the sum of the local current calls of the nodes that are up. */
  get globalCalls(): number {
    return this.servers.reduce((n, s) => n + (s.status === 'up' ? s.calls : 0), 0);
  }
}
