/**
 * Pure TURN state (RFC 8656 sections 2.2, 7-12): allocations, permissions, channel bindings,
 * their lifetimes and the allocation quotas. Time is always passed in (milliseconds).
 * The lookups used per packet take numbers and strings the socket already gave (rinfo.address),
 * so the relay path builds no strings and awaits nothing.
 */
import {
  CHANNEL_MAX,
  CHANNEL_MIN,
  ErrorCode,
  TURN_CHANNEL_COOLDOWN,
  TURN_CHANNEL_LIFETIME,
  TURN_DEFAULT_LIFETIME,
  TURN_MAX_LIFETIME,
  TURN_PERMISSION_LIFETIME,
} from './constants';
import { TransportAddress } from './ip';
import { Result, ok } from './result';

export type TurnErrorCode =
  | 'USER_QUOTA'
  | 'TOTAL_QUOTA'
  | 'PERMISSION_QUOTA'
  | 'CHANNEL_QUOTA'
  | 'BAD_CHANNEL'
  | 'CHANNEL_IN_USE'
  | 'PEER_ON_OTHER_CHANNEL'
  | 'ALLOCATION_EXISTS'
  | 'NO_ALLOCATION';

export interface TurnError {
  code: TurnErrorCode;
  reason: string;
}
const turnFail = (code: TurnErrorCode, reason: string): { ok: false; error: TurnError } => ({ ok: false, error: { code, reason } });

/** The STUN error code the edge answers for each TURN logic error. */
export function turnErrorStunCode(code: TurnErrorCode): number {
  switch (code) {
    case 'USER_QUOTA':
      return ErrorCode.AllocationQuotaReached;
    case 'TOTAL_QUOTA':
    case 'PERMISSION_QUOTA':
    case 'CHANNEL_QUOTA':
      return ErrorCode.InsufficientCapacity;
    case 'ALLOCATION_EXISTS':
    case 'NO_ALLOCATION':
      return ErrorCode.AllocationMismatch;
    default:
      return ErrorCode.BadRequest;
  }
}

export type TurnTransport = 'udp' | 'tcp' | 'tls' | 'dtls';

export interface AllocationLimits {
  /** Seconds. Default 600. */
  defaultLifetime: number;
  /** Seconds. Default 3600. */
  maxLifetime: number;
  permissionLifetime: number;
  channelLifetime: number;
  /** Allocations one username may hold (486 beyond). Default 10. */
  maxPerUser: number;
  /** Allocations in total (508 beyond). Default 10000. */
  maxTotal: number;
  maxPermissionsPerAllocation: number;
  maxChannelsPerAllocation: number;
  /** Highest channel number accepted: 0x4FFF (RFC 8656) or 0x7FFE to accept RFC 5766 clients. */
  maxChannelNumber: number;
}

export const DEFAULT_ALLOCATION_LIMITS: AllocationLimits = {
  defaultLifetime: TURN_DEFAULT_LIFETIME,
  maxLifetime: TURN_MAX_LIFETIME,
  permissionLifetime: TURN_PERMISSION_LIFETIME,
  channelLifetime: TURN_CHANNEL_LIFETIME,
  maxPerUser: 10,
  maxTotal: 10_000,
  maxPermissionsPerAllocation: 256,
  maxChannelsPerAllocation: 256,
  maxChannelNumber: CHANNEL_MAX,
};

/** Granted lifetime in seconds for a requested LIFETIME (RFC 8656 section 7.2 and 7.3). */
export function grantLifetime(requested: number | undefined, limits: Pick<AllocationLimits, 'defaultLifetime' | 'maxLifetime'>): number {
  if (requested === undefined) return limits.defaultLifetime;
  if (requested === 0) return 0;
  return Math.min(Math.max(requested, limits.defaultLifetime), limits.maxLifetime);
}

export interface ChannelBinding {
  readonly channel: number;
  readonly peer: TransportAddress;
  /** Usable until this time (ms). */
  expiresAt: number;
}

export interface AllocationInit {
  /** Which server listener the client reached (its 5-tuple half on the server side). */
  listener: number;
  transport: TurnTransport;
  client: TransportAddress;
  username: string;
  realm: string;
  /** Relayed transport addresses; one per family (RFC 8656 dual allocation). */
  relayed: TransportAddress[];
  lifetimeSeconds: number;
}

export class Allocation {
  readonly id: number;
  readonly listener: number;
  readonly transport: TurnTransport;
  readonly client: TransportAddress;
  readonly username: string;
  readonly realm: string;
  readonly relayed: TransportAddress[];
  readonly createdAt: number;
  expiresAt: number;
  /** Transaction id of the Allocate that made it (to answer retransmissions). */
  allocateTransactionId?: Buffer;
  /** Any state the server attaches (sockets, counters). */
  context: unknown;

  // made on first use: most of a server's allocations hold a few permissions, many none yet
  private permissions: Map<string, number> | undefined;
  private channels: Map<number, ChannelBinding> | undefined;
  private peerChannels: Map<string, Map<number, ChannelBinding>> | undefined;

  constructor(
    id: number,
    init: AllocationInit,
    now: number,
    private readonly limits: AllocationLimits,
  ) {
    this.id = id;
    this.listener = init.listener;
    this.transport = init.transport;
    this.client = init.client;
    this.username = init.username;
    this.realm = init.realm;
    this.relayed = init.relayed;
    this.createdAt = now;
    this.expiresAt = now + init.lifetimeSeconds * 1000;
  }

  isExpired(now: number): boolean {
    return now >= this.expiresAt;
  }

  /** Refresh (RFC 8656 section 7.3): returns the granted lifetime; 0 means delete now. */
  refresh(requestedSeconds: number | undefined, now: number): number {
    const granted = grantLifetime(requestedSeconds, this.limits);
    this.expiresAt = now + granted * 1000;
    return granted;
  }

  /** Per packet: is there a live permission for this peer IP (canonical text, as rinfo.address gives it)? */
  hasPermission(peerIp: string, now: number): boolean {
    const t = this.permissions?.get(peerIp);
    return t !== undefined && now < t;
  }

  /** Installs or refreshes a permission (CreatePermission, ChannelBind). */
  installPermission(peerIp: string, now: number): Result<void, TurnError> {
    const permissions = (this.permissions ??= new Map());
    if (!permissions.has(peerIp) && permissions.size >= this.limits.maxPermissionsPerAllocation) {
      this.sweep(now);
      if (permissions.size >= this.limits.maxPermissionsPerAllocation) return turnFail('PERMISSION_QUOTA', 'too many permissions');
    }
    permissions.set(peerIp, now + this.limits.permissionLifetime * 1000);
    return ok(undefined);
  }

  get permissionCount(): number {
    return this.permissions?.size ?? 0;
  }
  get channelCount(): number {
    return this.channels?.size ?? 0;
  }

  /**
   * ChannelBind (RFC 8656 section 11.2): binds or refreshes; refuses a number bound to another
   * peer, or a peer bound to another number (also during the 5-minute cool-down after expiry).
   * Installs/refreshes the peer's permission too.
   */
  bindChannel(channel: number, peer: TransportAddress, now: number): Result<ChannelBinding, TurnError> {
    if (!Number.isInteger(channel) || channel < CHANNEL_MIN || channel > this.limits.maxChannelNumber)
      return turnFail('BAD_CHANNEL', 'channel number out of range');
    this.sweep(now);
    const channels = (this.channels ??= new Map());
    const peerChannels = (this.peerChannels ??= new Map());
    const existing = channels.get(channel);
    if (existing && (existing.peer.address !== peer.address || existing.peer.port !== peer.port))
      return turnFail('CHANNEL_IN_USE', 'channel bound to another peer');
    const byPort = peerChannels.get(peer.address);
    const other = byPort?.get(peer.port);
    if (other && other.channel !== channel) return turnFail('PEER_ON_OTHER_CHANNEL', 'peer bound to another channel');
    if (!existing && channels.size >= this.limits.maxChannelsPerAllocation) return turnFail('CHANNEL_QUOTA', 'too many channels');
    const perm = this.installPermission(peer.address, now);
    if (!perm.ok) return perm;
    const expiresAt = now + this.limits.channelLifetime * 1000;
    if (existing) {
      existing.expiresAt = expiresAt;
      return ok(existing);
    }
    const binding: ChannelBinding = { channel, peer, expiresAt };
    channels.set(channel, binding);
    if (byPort) byPort.set(peer.port, binding);
    else peerChannels.set(peer.address, new Map([[peer.port, binding]]));
    return ok(binding);
  }

  /** Per packet (client to peer): the live binding of a channel number. */
  channel(channel: number, now: number): ChannelBinding | undefined {
    const b = this.channels?.get(channel);
    return b !== undefined && now < b.expiresAt ? b : undefined;
  }

  /** Per packet (peer to client): the live channel number bound to this peer, or 0. */
  channelForPeer(peerIp: string, peerPort: number, now: number): number {
    const b = this.peerChannels?.get(peerIp)?.get(peerPort);
    return b !== undefined && now < b.expiresAt ? b.channel : 0;
  }

  /** Drops expired permissions, and channel bindings past their cool-down. */
  sweep(now: number): void {
    const permissions = this.permissions;
    if (permissions !== undefined) for (const [ip, t] of permissions) if (now >= t) permissions.delete(ip);
    const channels = this.channels;
    if (channels === undefined) return;
    const cooldown = TURN_CHANNEL_COOLDOWN * 1000;
    for (const [n, b] of channels) {
      if (now >= b.expiresAt + cooldown) {
        channels.delete(n);
        const m = this.peerChannels?.get(b.peer.address);
        m?.delete(b.peer.port);
        if (m && m.size === 0) this.peerChannels?.delete(b.peer.address);
      }
    }
  }
}

/**
 * All allocations of one server, indexed by the client side of the 5-tuple, with the quotas.
 */
export class AllocationTable {
  readonly limits: AllocationLimits;
  private nextId = 1;
  private readonly byId = new Map<number, Allocation>();
  /** listener -> client ip -> client port -> allocation */
  private readonly byClient = new Map<number, Map<string, Map<number, Allocation>>>();
  private readonly perUser = new Map<string, number>();

  constructor(limits: Partial<AllocationLimits> = {}) {
    this.limits = { ...DEFAULT_ALLOCATION_LIMITS, ...limits };
  }

  get size(): number {
    return this.byId.size;
  }

  countForUser(username: string): number {
    return this.perUser.get(username) ?? 0;
  }

  /** Checks the quotas before the server reserves relay ports. */
  admit(username: string): Result<void, TurnError> {
    if (this.byId.size >= this.limits.maxTotal) return turnFail('TOTAL_QUOTA', 'server allocation quota reached');
    if (this.countForUser(username) >= this.limits.maxPerUser) return turnFail('USER_QUOTA', 'allocation quota reached for this user');
    return ok(undefined);
  }

  create(init: AllocationInit, now: number): Result<Allocation, TurnError> {
    if (this.find(init.listener, init.client.address, init.client.port))
      return turnFail('ALLOCATION_EXISTS', 'allocation already exists for this 5-tuple');
    const admitted = this.admit(init.username);
    if (!admitted.ok) return admitted;
    const a = new Allocation(this.nextId++, init, now, this.limits);
    this.byId.set(a.id, a);
    let ips = this.byClient.get(init.listener);
    if (!ips) this.byClient.set(init.listener, (ips = new Map()));
    let ports = ips.get(init.client.address);
    if (!ports) ips.set(init.client.address, (ports = new Map()));
    ports.set(init.client.port, a);
    this.perUser.set(init.username, this.countForUser(init.username) + 1);
    return ok(a);
  }

  /** Per packet: the allocation of a client 5-tuple (listener id, rinfo.address, rinfo.port). */
  find(listener: number, clientIp: string, clientPort: number): Allocation | undefined {
    return this.byClient.get(listener)?.get(clientIp)?.get(clientPort);
  }

  get(id: number): Allocation | undefined {
    return this.byId.get(id);
  }

  delete(a: Allocation): boolean {
    if (this.byId.get(a.id) !== a) return false;
    this.byId.delete(a.id);
    const ips = this.byClient.get(a.listener);
    const ports = ips?.get(a.client.address);
    ports?.delete(a.client.port);
    if (ports && ports.size === 0) ips!.delete(a.client.address);
    if (ips && ips.size === 0) this.byClient.delete(a.listener);
    const n = this.countForUser(a.username) - 1;
    if (n > 0) this.perUser.set(a.username, n);
    else this.perUser.delete(a.username);
    return true;
  }

  /** Removes and returns expired allocations; sweeps the permissions and channels of the others. */
  sweep(now: number): Allocation[] {
    const gone: Allocation[] = [];
    for (const a of this.byId.values()) {
      if (a.isExpired(now)) gone.push(a);
      else a.sweep(now);
    }
    for (const a of gone) this.delete(a);
    return gone;
  }

  all(): IterableIterator<Allocation> {
    return this.byId.values();
  }
}

/** EVEN-PORT R=1 reservations (RFC 8656 section 14.6): token -> reserved relay port, for 30 s. */
export class ReservationTable<T = number> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();
  constructor(private readonly lifetimeMs = 30_000) {}

  reserve(token: Buffer, value: T, now: number): void {
    this.entries.set(token.toString('hex'), { value, expiresAt: now + this.lifetimeMs });
  }

  /** Takes a reservation (one use). */
  take(token: Buffer, now: number): T | undefined {
    const k = token.toString('hex');
    const e = this.entries.get(k);
    if (!e) return undefined;
    this.entries.delete(k);
    return now < e.expiresAt ? e.value : undefined;
  }

  /** Removes and returns expired reservations (so the server can release their ports). */
  sweep(now: number): T[] {
    const out: T[] = [];
    for (const [k, e] of this.entries) {
      if (now >= e.expiresAt) {
        this.entries.delete(k);
        out.push(e.value);
      }
    }
    return out;
  }

  get size(): number {
    return this.entries.size;
  }
}
