/**
 * TURN server of the media engine (RFC 8656 over UDP, TCP and TLS; RFC 6156 IPv6 and dual
 * allocations; RFC 6062 TCP allocations). Plain class: the app wires it into Nest.
 *
 * Control path (Allocate, Refresh, CreatePermission, ChannelBind, Connect, ConnectionBind) may await
 * the authenticator. The relay path (ChannelData and Send from the client, datagrams from peers) is
 * synchronous: numeric keys and the strings the socket already gave, the received Buffer forwarded
 * as a view, headers added with multi-buffer sends.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import {
  Allocation,
  AllocationLimits,
  AllocationTable,
  Attr,
  CHANNEL_MAX,
  CHANNEL_MAX_RFC5766,
  ERROR_REASONS,
  ErrorCode,
  OutAttribute,
  PeerPolicy,
  PeerPolicyOptions,
  ReservationTable,
  StreamFramer,
  StunClass,
  StunMessage,
  StunMethod,
  TransportAddress,
  TransportProtocol,
  addressBytes,
  attributeValue,
  channelDataPadding,
  LongTermPolicy,
  LongTermStep,
  beginLongTerm,
  longTermChallenge,
  verifyLongTerm,
  encodeAnswer,
  errorCodeAttribute,
  decodeAttributeValue,
  decodeMessage,
  encodeMessage,
  getAttribute,
  grantLifetime,
  isValidChannelNumber,
  turnErrorStunCode,
  unknownComprehensionRequired,
  verifyFingerprint,
} from '@traverse/stun';
import { bindListeners, bindUdp, listenError, listenServer, openOrClose, udpSocket } from '@traverse/net';
import { ControlSocket, ControlSocketOptions, RelaySocket, UdpRelay, UdpRelayStats, chooseUdpPlane, ownCopy } from '@traverse/udp-relay';
import { TurnAuthUnavailableError, type TurnAuthenticator } from '@traverse/stun-turn';

export type TurnListenerTransport = 'udp' | 'tcp' | 'tls';

/**
 * Which UDP data plane carries the UDP listeners and relayed sockets: 'native' (the batched
 * native relay of @traverse/udp-relay: ChannelData both ways forwarded without entering
 * JavaScript; start fails when it is not available), 'node' (node:dgram), 'auto' (native when
 * available, else node).
 */
export type TurnDataPlane = 'auto' | 'native' | 'node';

/** A UDP socket of either data plane, as the server uses it (dgram's argument order). */
interface UdpSock {
  send(msg: Buffer, port: number, address: string): unknown;
  close(): unknown;
  address(): { port: number };
}

/** Source of a received datagram (what both data planes give). */
interface Source {
  address: string;
  family: string;
  port: number;
}

/** Socket buffers of TURN listeners and relayed sockets as the media engine sets them (bytes): bursts of small packets fit. */
export const TURN_SOCKET_BUFFER = 4 * 1024 * 1024;
/** Buffers of each relayed socket: one allocation's bursts (about 2,000 packets of 200 B), bounded memory per allocation. */
export const TURN_RELAY_SOCKET_BUFFER = 512 * 1024;

export interface TurnListenerOptions {
  transport: TurnListenerTransport;
  address: string;
  /** 3560 by the seed; 0 picks a free port (see TurnServer.listeners). */
  port: number;
  /** Certificate and key for 'tls'. */
  tls?: tls.TlsOptions;
  /** A listener that may fail to bind (e.g. IPv6 on a host without it): skipped with a 'listener-skipped' event. */
  optional?: boolean;
}

/**
 * Where an authenticated Allocate should go instead (RFC 8656 section 7.2 / RFC 8489 section 10:
 * 300 Try Alternate with ALTERNATE-SERVER), or undefined to allocate here.
 */
export type TurnRedirect = (client: TransportAddress, username: string, transport: TurnListenerTransport) => TransportAddress | undefined;

/** One allocation as the O&M API shows it. */
export interface AllocationInfo {
  id: number;
  username: string;
  realm: string;
  /** Client transport to the server: udp, tcp or tls. */
  clientTransport: TurnListenerTransport;
  client: TransportAddress;
  /** Relayed transport: udp, or tcp (RFC 6062). */
  relayTransport: 'udp' | 'tcp';
  relayed: TransportAddress[];
  createdAt: number;
  expiresAt: number;
  permissions: number;
  channels: number;
  /** Relayed toward peers / toward the client. */
  packetsToPeers: number;
  bytesToPeers: number;
  packetsToClient: number;
  bytesToClient: number;
}

/** Running totals of the relay (read by metrics; plain numbers bumped on the packet path). */
export interface TurnCounters {
  packetsToPeers: number;
  bytesToPeers: number;
  packetsToClients: number;
  bytesToClients: number;
  /** Dropped: no permission / no channel / over the bandwidth cap. */
  droppedNoPermission: number;
  droppedBandwidth: number;
}

export interface TurnServerOptions {
  listeners: TurnListenerOptions[];
  /** Local addresses relayed sockets bind to, per family. */
  relayAddresses: { ipv4?: string; ipv6?: string };
  /** Public addresses to announce in XOR-RELAYED-ADDRESS when behind a NAT. */
  advertisedRelayAddresses?: { ipv4?: string; ipv6?: string };
  /** Relay port range, inclusive. Default 49152-65535. */
  relayPorts?: { min: number; max: number };
  realm: string;
  authenticate: TurnAuthenticator;
  peerPolicy?: PeerPolicyOptions;
  limits?: Partial<AllocationLimits>;
  /** Nonce lifetime in seconds (438 Stale Nonce after). Default 600. */
  nonceLifetime?: number;
  nonceSecret?: Buffer;
  /** RFC 8489 password algorithms to offer, in preference order (e.g. [2, 1] for SHA-256 then MD5). Default: none (RFC 5389, MD5). */
  passwordAlgorithms?: number[];
  /** Maps an RFC 8489 USERHASH to its username; when given, USERHASH is accepted. */
  resolveUserhash?: (userhash: Buffer, realm: string) => Promise<string | undefined>;
  /** Asked for every new authenticated Allocate: an alternate server answers 300 Try Alternate. */
  redirect?: TurnRedirect;
  /** Bandwidth cap of one allocation in each direction (bytes/s); 0 or absent: none. */
  maxBandwidthBytesPerSecond?: number;
  /** RFC 6062 TCP allocations on TCP/TLS listeners. Default true. */
  tcpRelay?: boolean;
  /** Milliseconds to wait for a Connect to reach the peer / for a ConnectionBind (RFC 6062: 30 s). */
  tcpConnectTimeout?: number;
  /** Milliseconds between the ConnectionBind success response and the first relayed peer bytes (RFC 6062). Default 20. */
  connectionBindGrace?: number;
  /** Receive and send buffer size for the listener and relayed UDP sockets (bytes); the OS default when absent. */
  socketBufferBytes?: number;
  /** Receive and send buffer size of each relayed UDP socket (bytes); the OS default when absent. */
  relaySocketBufferBytes?: number;
  /** Concurrent TCP/TLS client connections at most (further ones are closed at once). Default 10000. */
  maxConnections?: number;
  /** A TCP/TLS connection that holds no allocation (and is no RFC 6062 data connection) is closed after this many ms. Default 30000. */
  idleConnectionTimeout?: number;
  /**
   * Accept channel numbers up to 0x7FFE as RFC 5766 did (coturn-family clients use them).
   * Default true; false keeps to RFC 8656's 0x4000-0x4FFF.
   */
  rfc5766Channels?: boolean;
  /** UDP data plane; default 'auto'. */
  dataPlane?: TurnDataPlane;
  software?: string;
  clock?: () => number;
  onEvent?: (e: TurnEvent) => void;
}

export type TurnEvent =
  | { type: 'allocation-created'; id: number; username: string; client: TransportAddress; relayed: TransportAddress[] }
  | { type: 'allocation-deleted'; id: number; username: string; reason: 'refresh' | 'expired' | 'connection-closed' | 'stopped' }
  | { type: 'peer-denied'; id: number; peer: string; reason: string; method: string }
  | { type: 'auth-failed'; username: string; client: TransportAddress }
  | { type: 'auth-unavailable'; username: string; client: TransportAddress; reason: string }
  | { type: 'redirected'; username: string; client: TransportAddress; to: TransportAddress }
  | { type: 'listener-skipped'; listener: string; error: Error }
  | { type: 'steering-unavailable'; listener: string; reason: string }
  | { type: 'socket-error'; error: Error };

/** How the server talks back to one client. */
interface ClientLink {
  readonly listener: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly remote: TransportAddress;
  readonly local: TransportAddress;
  /** UDP listener socket (udp) or the stream (tcp/tls). */
  readonly udp?: UdpSock;
  readonly stream?: net.Socket;
}

/** Server-side state of one allocation (Allocation.context). */
interface Relay {
  alloc: Allocation;
  link: ClientLink;
  key: Buffer;
  /** Password algorithm of the key (1 MD5, 2 SHA-256). */
  algorithm: number;
  v4?: UdpSock;
  v6?: UdpSock;
  /** Channel bindings the native data plane forwards (UDP clients, no bandwidth cap), by channel. */
  routes?: Map<number, NativeRoute>;
  packetsToPeers: number;
  bytesToPeers: number;
  packetsToClient: number;
  bytesToClient: number;
  /** Token buckets of the bandwidth cap (bytes), refilled from `bucketAt` (ms). */
  upTokens: number;
  downTokens: number;
  bucketAt: number;
  allocateResponse?: Buffer;
  /** RFC 6062 */
  tcpServers: net.Server[];
  /** RFC 6062 peer connections (made on the first). */
  tcpPeers?: Map<number, PeerConnection>;
}

interface NativeRoute {
  id: number;
  channel: number;
  peer: TransportAddress;
  channelExpiresAt: number;
}

interface PeerConnection {
  id: number;
  relay: Relay;
  peer: net.Socket;
  peerAddress: TransportAddress;
  data?: net.Socket;
  timer?: NodeJS.Timeout;
  pending: Buffer[];
}

/** The key lookup step of long-term credentials (beginLongTerm's answer when the request is no challenge). */
type LongTermLookup = Extract<LongTermStep, { kind: 'lookup' }>;

const TURN_UNDERSTOOD = new Set<number>([
  Attr.Username,
  Attr.Realm,
  Attr.Nonce,
  Attr.MessageIntegrity,
  Attr.MessageIntegritySha256,
  Attr.Fingerprint,
  Attr.Software,
  Attr.Lifetime,
  Attr.RequestedTransport,
  Attr.RequestedAddressFamily,
  Attr.AdditionalAddressFamily,
  Attr.EvenPort,
  Attr.ReservationToken,
  Attr.XorPeerAddress,
  Attr.ChannelNumber,
  Attr.Data,
  Attr.ConnectionId,
  Attr.Userhash,
  Attr.PasswordAlgorithm,
  Attr.Priority,
  Attr.UseCandidate,
  Attr.IceControlled,
  Attr.IceControlling,
]);

/** Request methods the server answers (others get 400). */
const TURN_REQUESTS = new Set<number>([
  StunMethod.Allocate,
  StunMethod.Refresh,
  StunMethod.CreatePermission,
  StunMethod.ChannelBind,
  StunMethod.Connect,
  StunMethod.ConnectionBind,
]);

export class TurnServer {
  readonly table: AllocationTable;
  private readonly policy: PeerPolicy;
  private readonly clock: () => number;
  private readonly software: string;
  private readonly authPolicy: LongTermPolicy;
  private readonly maxChannel: number;
  private readonly relayMin: number;
  private readonly relayMax: number;
  private readonly usedPorts = new Set<number>();
  private readonly indicationId = randomBytes(12);
  private readonly reservations = new ReservationTable<{ socket: UdpSock; port: number; family: 4 | 6 }>();
  /** Allocations that hold native routes (swept for routes of expired channels). */
  private readonly routed = new Set<Relay>();
  /**
   * UDP listeners: `socket` reads (node plane) or answers (native plane) the clients' STUN; on the
   * native plane `native` is the listener's socket in the data plane (routes forward through it).
   */
  private udpListeners: { socket: UdpSock; native?: RelaySocket; id: number; local: TransportAddress }[] = [];
  /** The native UDP data plane when it runs (see TurnDataPlane). */
  private native: UdpRelay | undefined;
  private nativeUnavailable: string | undefined;
  private streamListeners: { server: net.Server; id: number; local: TransportAddress; transport: 'tcp' | 'tls' }[] = [];
  private readonly streams = new Set<net.Socket>();
  private readonly peerConnections = new Map<number, PeerConnection>();
  private nextListenerId = 1;
  private nextConnectionId = 1;
  private sweeper?: NodeJS.Timeout;
  /** Bandwidth cap in bytes per millisecond (0: none). */
  private readonly bandwidthPerMs: number;
  /** Relay totals of allocations already deleted (added to the live ones by `counters`). */
  readonly counters: TurnCounters = {
    packetsToPeers: 0,
    bytesToPeers: 0,
    packetsToClients: 0,
    bytesToClients: 0,
    droppedNoPermission: 0,
    droppedBandwidth: 0,
  };
  /** Set after construction by whoever decides redirects (the signaling node's TURN front policy). */
  redirect: TurnRedirect | undefined;

  constructor(private readonly opts: TurnServerOptions) {
    const p = PeerPolicy.create(opts.peerPolicy ?? {});
    if (!p.ok) throw new Error(`TURN peer policy: ${p.error.reason}`);
    this.policy = p.value;
    this.maxChannel = opts.rfc5766Channels === false ? CHANNEL_MAX : CHANNEL_MAX_RFC5766;
    this.table = new AllocationTable({ maxChannelNumber: this.maxChannel, ...(opts.limits ?? {}) });
    this.clock = opts.clock ?? Date.now;
    this.software = opts.software ?? 'traverse media engine';
    this.authPolicy = {
      realm: opts.realm,
      nonceSecret: opts.nonceSecret ?? randomBytes(32),
      nonceLifetime: opts.nonceLifetime ?? 600,
      passwordAlgorithms: opts.passwordAlgorithms,
      userhash: opts.resolveUserhash !== undefined,
    };
    this.bandwidthPerMs = (opts.maxBandwidthBytesPerSecond ?? 0) / 1000;
    this.redirect = opts.redirect;
    this.relayMin = opts.relayPorts?.min ?? 49152;
    this.relayMax = opts.relayPorts?.max ?? 65535;
  }

  /** The UDP data plane that runs, and why not the native one when it was asked for and could not run. */
  get dataPlane(): { plane: 'native' | 'node'; unavailable?: string } {
    if (this.native) return { plane: 'native' };
    return this.nativeUnavailable !== undefined ? { plane: 'node', unavailable: this.nativeUnavailable } : { plane: 'node' };
  }

  /** The native data plane's own counters (what it forwarded, handed up, dropped) and its routes; undefined on node:dgram. */
  dataPlaneStats(): UdpRelayStats | undefined {
    return this.native?.stats();
  }

  /** Bound listeners (port 0 in the options resolves here). */
  get listeners(): { transport: TurnListenerTransport; address: string; port: number }[] {
    return [
      ...this.udpListeners.map((l) => ({ transport: 'udp' as const, address: l.local.address, port: l.local.port })),
      ...this.streamListeners.map((l) => ({ transport: l.transport, address: l.local.address, port: l.local.port })),
    ];
  }

  /** Binds every listener; on a failure closes what it bound and rethrows (the error names the listener). */
  async start(): Promise<void> {
    const plane = chooseUdpPlane(this.opts.dataPlane ?? 'auto', 'the native UDP data plane');
    if (plane.kind === 'native') this.native = UdpRelay.create();
    else this.nativeUnavailable = plane.unavailable;
    await openOrClose(
      () => this.bindAll(),
      () => this.stop(),
    );
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  private bindAll(): Promise<void> {
    return bindListeners(
      this.opts.listeners,
      (l) => this.bindListener(l),
      (listener, error) => this.opts.onEvent?.({ type: 'listener-skipped', listener, error }),
    );
  }

  private async bindListener(l: TurnListenerOptions): Promise<void> {
    {
      const id = this.nextListenerId++;
      const family = l.address.includes(':') ? 6 : 4;
      if (l.transport === 'udp' && this.native) {
        const local: TransportAddress = { family, address: l.address, port: 0 };
        // answers leave from the socket that takes the clients' STUN (set once both are bound)
        const listener = { id, local } as { socket: UdpSock; native: RelaySocket; id: number; local: TransportAddress };
        const { control, native } = await this.bindNativeListener(l, (msg, address, port) =>
          this.onUdp(id, listener.socket, local, msg, address, port),
        );
        local.port = native.address().port;
        listener.native = native;
        listener.socket = control ?? native;
        native.onMessage = (msg, rinfo) => this.onUdp(id, listener.socket, local, msg, rinfo.address, rinfo.port);
        this.udpListeners.push(listener);
      } else if (l.transport === 'udp') {
        const socket = await bindUdp(l.address, l.port);
        const local: TransportAddress = { family, address: l.address, port: socket.address().port };
        socket.on('error', (error) => this.opts.onEvent?.({ type: 'socket-error', error }));
        this.tuneSocket(socket, this.opts.socketBufferBytes);
        socket.on('message', (msg, rinfo) => this.onUdp(id, socket, local, msg, rinfo.address, rinfo.port));
        this.udpListeners.push({ socket, id, local });
      } else {
        const onConn = (s: net.Socket) => this.onStream(l.transport as 'tcp' | 'tls', s);
        const server = l.transport === 'tls' ? tls.createServer(l.tls ?? {}, onConn) : net.createServer(onConn);
        if (l.transport === 'tls') server.on('tlsClientError', () => undefined);
        const port = await listenServer(server, l);
        server.on('error', (error) => this.opts.onEvent?.({ type: 'socket-error', error }));
        this.streamListeners.push({ server, id, local: { family, address: l.address, port }, transport: l.transport });
      }
    }
  }

  /**
   * A UDP listener on the native plane. Where the kernel can steer (SO_REUSEPORT with a classic
   * BPF program, Linux), two sockets share the listener's address: a control socket of the addon
   * read on this thread (`onControl`) takes the clients' STUN requests and indications, the data
   * plane's socket takes their ChannelData, so control traffic never waits for a thread hop.
   * Otherwise the data plane's socket takes everything and hands control traffic up. The port is
   * first bound alone, so a listener never joins a port another process holds (with or without
   * SO_REUSEPORT).
   */
  private async bindNativeListener(
    l: TurnListenerOptions,
    onControl: ControlSocketOptions['onMessage'],
  ): Promise<{ control?: ControlSocket; native: RelaySocket }> {
    const native = this.native!;
    const opts = { kind: 'listener' as const, bufferBytes: this.opts.socketBufferBytes, onMessage: () => undefined };
    const probe = await bindUdp(l.address, l.port);
    const port = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    let control: ControlSocket;
    try {
      control = ControlSocket.open(l.address, port, { reusePort: true, bufferBytes: this.opts.socketBufferBytes, onMessage: onControl });
    } catch (e) {
      throw listenError(e as Error, { transport: 'udp', address: l.address, port });
    }
    try {
      return { control, native: native.openSocket(l.address, port, { ...opts, steered: true }) };
    } catch (e) {
      control.close();
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw listenError(e as Error, { transport: 'udp', address: l.address, port });
      this.opts.onEvent?.({ type: 'steering-unavailable', listener: `udp ${l.address}:${port}`, reason: (e as Error).message });
    }
    try {
      return { native: native.openSocket(l.address, port, opts) };
    } catch (e) {
      throw listenError(e as Error, { transport: 'udp', address: l.address, port: l.port });
    }
  }

  /**
   * A new certificate for the TLS listeners: new connections get it, connections up keep theirs.
   * Throws (and changes nothing) when the certificate and key do not make a TLS context.
   */
  setTlsCertificate(m: { cert: string; key: string; ca?: string }): void {
    const options: tls.SecureContextOptions = { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) };
    tls.createSecureContext(options);
    for (const l of this.streamListeners) if (l.transport === 'tls') (l.server as tls.Server).setSecureContext(options);
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const a of [...this.table.all()]) this.deleteAllocation(a, 'stopped');
    for (const r of this.reservations.sweep(Number.MAX_SAFE_INTEGER)) this.releaseSocket(r.socket, r.port);
    for (const s of this.streams) s.destroy();
    await Promise.all([
      ...this.udpListeners.map((l) => {
        if (l.native && l.native !== l.socket) l.native.close();
        return l.socket instanceof RelaySocket || l.socket instanceof ControlSocket
          ? (l.socket.close(), Promise.resolve())
          : new Promise<void>((r) => (l.socket as dgram.Socket).close(() => r()));
      }),
      ...this.streamListeners.map((l) => new Promise<void>((r) => l.server.close(() => r()))),
    ]);
    this.udpListeners = [];
    this.streamListeners = [];
    this.native?.close();
    this.native = undefined;
  }

  /** The live allocations, for the O&M API (optionally of one user). */
  allocations(filter: { user?: string } = {}): AllocationInfo[] {
    const out: AllocationInfo[] = [];
    for (const a of this.table.all()) {
      if (filter.user !== undefined && a.username !== filter.user) continue;
      const r = a.context as Relay | undefined;
      out.push({
        id: a.id,
        username: a.username,
        realm: a.realm,
        clientTransport: r?.link.transport ?? 'udp',
        client: a.client,
        relayTransport: a.transport === 'tcp' ? 'tcp' : 'udp',
        relayed: a.relayed,
        createdAt: a.createdAt,
        expiresAt: a.expiresAt,
        permissions: a.permissionCount,
        channels: a.channelCount,
        ...(r ? this.relayCounts(r) : { packetsToPeers: 0, bytesToPeers: 0, packetsToClient: 0, bytesToClient: 0 }),
      });
    }
    return out;
  }

  /** Relay totals since start: deleted allocations plus the live ones. */
  totals(): TurnCounters {
    const t = { ...this.counters };
    for (const a of this.table.all()) {
      const r = a.context as Relay | undefined;
      if (!r) continue;
      const c = this.relayCounts(r);
      t.packetsToPeers += c.packetsToPeers;
      t.bytesToPeers += c.bytesToPeers;
      t.packetsToClients += c.packetsToClient;
      t.bytesToClients += c.bytesToClient;
    }
    return t;
  }

  /** What an allocation relayed: on the JavaScript path plus along its native routes. */
  private relayCounts(r: Relay): { packetsToPeers: number; bytesToPeers: number; packetsToClient: number; bytesToClient: number } {
    const c = {
      packetsToPeers: r.packetsToPeers,
      bytesToPeers: r.bytesToPeers,
      packetsToClient: r.packetsToClient,
      bytesToClient: r.bytesToClient,
    };
    if (r.routes && this.native)
      for (const route of r.routes.values()) {
        const s = this.native.routeStats(route.id);
        if (!s) continue;
        c.packetsToPeers += s.packetsToPeer;
        c.bytesToPeers += s.bytesToPeer;
        c.packetsToClient += s.packetsToClient;
        c.bytesToClient += s.bytesToClient;
      }
    return c;
  }

  // ---------------------------------------------------------------- native routes

  /**
   * A channel binding of a UDP client becomes a native route (the data plane forwards ChannelData
   * both ways without JavaScript) that lives until the earlier of the binding's and the peer
   * permission's expiry; JavaScript still sees everything the route does not take. Allocations
   * under a bandwidth cap stay on the JavaScript path (the cap is enforced there).
   */
  private routeChannel(relay: Relay, binding: { channel: number; peer: TransportAddress; expiresAt: number }, now: number): void {
    const native = this.native;
    const listener = relay.link.transport === 'udp' ? this.udpListeners.find((l) => l.id === relay.link.listener)?.native : undefined;
    const sock = binding.peer.family === 4 ? relay.v4 : relay.v6;
    if (!native || this.bandwidthPerMs !== 0 || !listener || !(sock instanceof RelaySocket)) return;
    const routes = (relay.routes ??= new Map());
    this.routed.add(relay);
    const ttl = Math.min(binding.expiresAt, now + this.table.limits.permissionLifetime * 1000) - now;
    const same = routes.get(binding.channel);
    if (same && same.peer.address === binding.peer.address && same.peer.port === binding.peer.port) {
      same.channelExpiresAt = binding.expiresAt;
      native.setRouteTtl(same.id, ttl);
      return;
    }
    for (const r of [...routes.values()])
      if (r.channel === binding.channel || (r.peer.address === binding.peer.address && r.peer.port === binding.peer.port))
        this.dropRoute(relay, r);
    try {
      const id = native.setRoute({
        listener,
        client: relay.link.remote,
        channel: binding.channel,
        relay: sock,
        peer: binding.peer,
        ttlMs: ttl,
      });
      routes.set(binding.channel, { id, channel: binding.channel, peer: binding.peer, channelExpiresAt: binding.expiresAt });
    } catch (e) {
      // the binding keeps working on the JavaScript path
      this.opts.onEvent?.({ type: 'socket-error', error: e as Error });
    }
  }

  /** A permission for `peerIp` was installed or refreshed: its routes live on to their channels' expiry. */
  private refreshRoutes(relay: Relay, peerIp: string, now: number): void {
    if (!relay.routes || !this.native) return;
    const permUntil = now + this.table.limits.permissionLifetime * 1000;
    for (const r of relay.routes.values())
      if (r.peer.address === peerIp) this.native.setRouteTtl(r.id, Math.min(r.channelExpiresAt, permUntil) - now);
  }

  /** Removes a native route; what it relayed stays in the allocation's counts. */
  private dropRoute(relay: Relay, r: NativeRoute): void {
    relay.routes?.delete(r.channel);
    const s = this.native?.removeRoute(r.id);
    if (!s) return;
    relay.packetsToPeers += s.packetsToPeer;
    relay.bytesToPeers += s.bytesToPeer;
    relay.packetsToClient += s.packetsToClient;
    relay.bytesToClient += s.bytesToClient;
  }

  // ---------------------------------------------------------------- relay path (synchronous)

  /** A datagram on a UDP listener (a listener's socket receives from its own family only). */
  private onUdp(listener: number, socket: UdpSock, local: TransportAddress, msg: Buffer, address: string, port: number): void {
    if (msg.length < 4) return;
    const b0 = msg[0];
    if (b0 >= 0x40 && b0 <= 0x7f) {
      const alloc = this.table.find(listener, address, port);
      if (alloc !== undefined) this.clientChannelData(alloc.context as Relay, msg, 0);
      return;
    }
    if (b0 > 3) return;
    const link: ClientLink = {
      listener,
      transport: 'udp',
      remote: { family: local.family, address, port },
      local,
      udp: socket,
    };
    this.onStunBytes(link, msg);
  }

  /** ChannelData from the client: forward the data (a view of the received buffer) to the bound peer. */
  private clientChannelData(relay: Relay, msg: Buffer, at: number): void {
    const channel = msg.readUInt16BE(at);
    const len = msg.readUInt16BE(at + 2);
    if (at + 4 + len > msg.length) return;
    const now = this.clock();
    const alloc = relay.alloc;
    const binding = alloc.channel(channel, now);
    if (binding === undefined || !alloc.hasPermission(binding.peer.address, now)) {
      this.counters.droppedNoPermission++;
      return;
    }
    if (this.bandwidthPerMs !== 0 && this.overCap(relay, true, len, now)) return;
    const sock = binding.peer.family === 4 ? relay.v4 : relay.v6;
    if (sock === undefined) return;
    relay.packetsToPeers++;
    relay.bytesToPeers += len;
    sock.send(msg.subarray(at + 4, at + 4 + len), binding.peer.port, binding.peer.address);
  }

  /** Token bucket of the bandwidth cap: true when `bytes` more would exceed it (the packet is dropped). */
  private overCap(relay: Relay, toPeer: boolean, bytes: number, now: number): boolean {
    const rate = this.bandwidthPerMs;
    const dt = now - relay.bucketAt;
    if (dt > 0) {
      const burst = rate * 1000;
      relay.upTokens = Math.min(burst, relay.upTokens + dt * rate);
      relay.downTokens = Math.min(burst, relay.downTokens + dt * rate);
      relay.bucketAt = now;
    }
    if (toPeer) {
      if (relay.upTokens < bytes) {
        this.counters.droppedBandwidth++;
        return true;
      }
      relay.upTokens -= bytes;
    } else {
      if (relay.downTokens < bytes) {
        this.counters.droppedBandwidth++;
        return true;
      }
      relay.downTokens -= bytes;
    }
    return false;
  }

  /** A datagram from a peer on a relayed socket. */
  private onPeerDatagram(relay: Relay, msg: Buffer, rinfo: Source): void {
    const alloc = relay.alloc;
    const now = this.clock();
    if (!alloc.hasPermission(rinfo.address, now)) {
      this.counters.droppedNoPermission++;
      return;
    }
    if (this.bandwidthPerMs !== 0 && this.overCap(relay, false, msg.length, now)) return;
    relay.packetsToClient++;
    relay.bytesToClient += msg.length;
    const channel = alloc.channelForPeer(rinfo.address, rinfo.port, now);
    const link = relay.link;
    if (channel !== 0) {
      const n = msg.length;
      if (link.udp !== undefined) {
        // one datagram buffer: cheaper in dgram than a two-buffer list, and the copy of a media packet is small
        const out = Buffer.allocUnsafe(n + 4);
        out[0] = channel >>> 8;
        out[1] = channel & 0xff;
        out[2] = n >>> 8;
        out[3] = n & 0xff;
        msg.copy(out, 4);
        link.udp.send(out, link.remote.port, link.remote.address);
        return;
      }
      const header = Buffer.allocUnsafe(4);
      header.writeUInt16BE(channel, 0);
      header.writeUInt16BE(n, 2);
      this.writeStream(link.stream!, header, msg, channelDataPadding(n));
      return;
    }
    const ind = encodeMessage({ method: StunMethod.Data, cls: StunClass.Indication, transactionId: this.nextIndicationId() }, [
      { type: Attr.XorPeerAddress, value: { family: rinfo.family === 'IPv6' ? 6 : 4, address: rinfo.address, port: rinfo.port } },
      { type: Attr.Data, value: msg },
    ]);
    this.sendToClient(link, ind);
  }

  /** Transaction ids of Data indications: a random prefix and a counter (no RNG call per packet). */
  private nextIndicationId(): Buffer {
    const id = this.indicationId;
    id.writeUInt32BE((id.readUInt32BE(8) + 1) >>> 0, 8);
    return id;
  }

  private writeStream(s: net.Socket, a: Buffer, b: Buffer, pad: number): void {
    if (s.destroyed) return;
    s.cork();
    s.write(a);
    s.write(b);
    if (pad > 0) s.write(Buffer.alloc(pad));
    process.nextTick(uncork, s);
  }

  private sendToClient(link: ClientLink, b: Buffer): void {
    if (link.udp !== undefined) link.udp.send(b, link.remote.port, link.remote.address);
    else if (link.stream !== undefined && !link.stream.destroyed) link.stream.write(b);
  }

  // ---------------------------------------------------------------- streams (TCP / TLS)

  private onStream(transport: 'tcp' | 'tls', s: net.Socket): void {
    if (this.streams.size >= (this.opts.maxConnections ?? 10_000)) {
      s.destroy();
      return;
    }
    const listener = this.nextListenerId++;
    this.streams.add(s);
    // Close connections that never get (or no longer hold) an allocation and are no RFC 6062 data connection.
    s.setTimeout(this.opts.idleConnectionTimeout ?? 30_000, () => {
      if (bound === undefined && this.table.find(listener, link.remote.address, link.remote.port) === undefined) s.destroy();
    });
    s.setNoDelay(true);
    const framer = new StreamFramer(undefined, this.maxChannel);
    const remoteFamily = s.remoteFamily === 'IPv6' ? 6 : 4;
    const link: ClientLink = {
      listener,
      transport,
      remote: { family: remoteFamily, address: s.remoteAddress ?? '', port: s.remotePort ?? 0 },
      local: { family: remoteFamily, address: s.localAddress ?? '', port: s.localPort ?? 0 },
      stream: s,
    };
    let bound: PeerConnection | undefined; // after ConnectionBind the stream is a raw pipe (RFC 6062)
    s.on('data', (chunk: Buffer) => {
      if (bound !== undefined) {
        if (bound.peer.destroyed) return;
        bound.relay.packetsToPeers++;
        bound.relay.bytesToPeers += chunk.length;
        bound.peer.write(chunk);
        return;
      }
      const frames = framer.push(chunk);
      for (const f of frames) {
        if (f[0] >= 0x40) {
          const alloc = this.table.find(listener, link.remote.address, link.remote.port);
          if (alloc !== undefined) this.clientChannelData(alloc.context as Relay, f, 0);
        } else this.onStunBytes(link, f, (pc) => (bound = pc));
      }
      if (framer.broken) s.destroy();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      this.streams.delete(s);
      const alloc = this.table.find(listener, link.remote.address, link.remote.port);
      if (alloc) this.deleteAllocation(alloc, 'connection-closed');
      if (bound) this.closePeerConnection(bound);
    });
  }

  // ---------------------------------------------------------------- STUN handling

  private onStunBytes(link: ClientLink, buf: Buffer, onBind?: (pc: PeerConnection) => void): void {
    const d = decodeMessage(buf, { allowClassic: false });
    // a wrong FINGERPRINT means it is not STUN (RFC 8489 section 7.3): drop it silently
    if (!d.ok || (d.value.fingerprintOffset >= 0 && !verifyFingerprint(d.value))) return;
    const m = d.value;
    if (m.cls === StunClass.Indication) {
      if (m.method === StunMethod.Send) this.onSend(link, m);
      return;
    }
    if (m.cls !== StunClass.Request) return;
    if (m.method === StunMethod.Binding) {
      this.respond(link, m, StunClass.SuccessResponse, [{ type: Attr.XorMappedAddress, value: link.remote }], undefined);
      return;
    }
    if (!TURN_REQUESTS.has(m.method)) {
      this.respondError(link, m, ErrorCode.BadRequest, undefined);
      return;
    }
    // the first step of long-term credentials needs no lookup: challenges (401, 438) and 400s are answered here, at once
    const step = beginLongTerm(m, this.authPolicy, this.clock(), link.remote.address);
    if (step.kind === 'challenge') {
      this.respondError(link, m, step.code, undefined, step.attributes);
      return;
    }
    if (step.kind === 'bad-request') {
      this.respondError(link, m, ErrorCode.BadRequest, undefined);
      return;
    }
    this.onRequest(link, m, step, onBind).catch((e: unknown) => {
      this.opts.onEvent?.({ type: 'socket-error', error: e instanceof Error ? e : new Error(String(e)) });
      this.respondError(link, m, ErrorCode.ServerError, undefined);
    });
  }

  /** Send indication (RFC 8656 section 10.2): no authentication; policy, permission, then relay. */
  private onSend(link: ClientLink, m: StunMessage): void {
    const alloc = this.table.find(link.listener, link.remote.address, link.remote.port);
    if (alloc === undefined) return;
    const relay = alloc.context as Relay;
    const peer = attributeValue(m, Attr.XorPeerAddress);
    const data = attributeValue(m, Attr.Data);
    if (peer === undefined || data === undefined) return;
    const target = this.checkPeer(relay, peer, 'Send');
    if (target === undefined) return;
    const now = this.clock();
    if (!alloc.hasPermission(target.address, now)) {
      this.counters.droppedNoPermission++;
      return;
    }
    if (this.bandwidthPerMs !== 0 && this.overCap(relay, true, data.length, now)) return;
    const sock = target.family === 4 ? relay.v4 : relay.v6;
    if (sock === undefined) return;
    relay.packetsToPeers++;
    relay.bytesToPeers += data.length;
    sock.send(data, target.port, target.address);
  }

  /** Canonical peer address if the policy allows it and the allocation has that family; else undefined. */
  private checkPeer(relay: Relay, peer: TransportAddress, method: string): TransportAddress | undefined {
    const r = this.peerDecision(relay, peer, method);
    return r.ok ? r.value : undefined;
  }

  private peerDecision(
    relay: Relay,
    peer: TransportAddress,
    method: string,
  ): { ok: true; value: TransportAddress } | { ok: false; code: number } {
    const bytes = addressBytes(peer);
    if (!bytes) return { ok: false, code: ErrorCode.BadRequest };
    const d = this.policy.checkBytes(bytes);
    if (!d.allowed) {
      this.opts.onEvent?.({ type: 'peer-denied', id: relay.alloc.id, peer: `${peer.address}`, reason: d.reason ?? d.category, method });
      return { ok: false, code: ErrorCode.Forbidden };
    }
    const family: 4 | 6 = d.canonical.includes(':') ? 6 : 4;
    if ((family === 4 && !relay.v4 && relay.alloc.transport !== 'tcp') || (family === 6 && !relay.v6 && relay.alloc.transport !== 'tcp'))
      return { ok: false, code: ErrorCode.PeerAddressFamilyMismatch };
    if (relay.alloc.transport === 'tcp' && !relay.alloc.relayed.some((r) => r.family === family))
      return { ok: false, code: ErrorCode.PeerAddressFamilyMismatch };
    return { ok: true, value: { family, address: d.canonical, port: peer.port } };
  }

  private async onRequest(link: ClientLink, m: StunMessage, step: LongTermLookup, onBind?: (pc: PeerConnection) => void): Promise<void> {
    const auth = await this.authenticateRequest(link, m, step);
    if (auth === undefined) return;
    const { username, key, algorithm } = auth;
    const unknown = unknownComprehensionRequired(m, TURN_UNDERSTOOD);
    if (unknown.length > 0) {
      this.respondError(link, m, ErrorCode.UnknownAttribute, key, [{ type: Attr.UnknownAttributes, value: unknown }]);
      return;
    }
    const existing = this.table.find(link.listener, link.remote.address, link.remote.port);
    if (m.method === StunMethod.Allocate) {
      await this.onAllocate(link, m, username, key, algorithm, existing);
      return;
    }
    if (m.method === StunMethod.ConnectionBind) {
      this.onConnectionBind(link, m, key, onBind);
      return;
    }
    if (existing === undefined) {
      this.respondError(link, m, ErrorCode.AllocationMismatch, key);
      return;
    }
    if (existing.username !== username) {
      this.respondError(link, m, ErrorCode.WrongCredentials, key);
      return;
    }
    const relay = existing.context as Relay;
    switch (m.method) {
      case StunMethod.Refresh:
        return this.onRefresh(link, m, relay);
      case StunMethod.CreatePermission:
        return this.onCreatePermission(link, m, relay);
      case StunMethod.ChannelBind:
        return this.onChannelBind(link, m, relay);
      case StunMethod.Connect:
        return this.onConnect(link, m, relay);
    }
  }

  /**
   * Long-term credentials (RFC 8489 section 9.2.4), from the lookup step on (onStunBytes answered
   * the challenges): looks the key up, answers 401 or 500 itself and returns the user and key only
   * when the request is authentic.
   */
  private async authenticateRequest(
    link: ClientLink,
    m: StunMessage,
    step: LongTermLookup,
  ): Promise<{ username: string; key: Buffer; algorithm: number } | undefined> {
    let username = step.username;
    if (username === undefined && step.userhash && this.opts.resolveUserhash)
      username = await this.opts.resolveUserhash(step.userhash, step.realm);
    const existing = this.table.find(link.listener, link.remote.address, link.remote.port);
    const relay = existing?.context as Relay | undefined;
    let key: Buffer | undefined;
    if (username !== undefined) {
      if (relay !== undefined && existing!.username === username && relay.algorithm === step.algorithm) key = relay.key;
      else {
        try {
          key = await this.opts.authenticate(username, step.realm, step.algorithm, link.remote);
        } catch (e) {
          if (!(e instanceof TurnAuthUnavailableError)) throw e;
          this.opts.onEvent?.({ type: 'auth-unavailable', username, client: link.remote, reason: e.message });
          this.respondError(link, m, ErrorCode.ServerError, undefined);
          return undefined;
        }
      }
    }
    if (username === undefined || key === undefined || !verifyLongTerm(m, key)) {
      this.opts.onEvent?.({ type: 'auth-failed', username: username ?? '(userhash)', client: link.remote });
      this.respondError(
        link,
        m,
        ErrorCode.Unauthenticated,
        undefined,
        longTermChallenge(this.authPolicy, this.clock(), link.remote.address),
      );
      return undefined;
    }
    return { username, key, algorithm: step.algorithm };
  }

  private async onAllocate(
    link: ClientLink,
    m: StunMessage,
    username: string,
    key: Buffer,
    algorithm: number,
    existing: Allocation | undefined,
  ): Promise<void> {
    if (existing !== undefined) {
      const relay = existing.context as Relay;
      if (existing.allocateTransactionId?.equals(m.transactionId) && relay.allocateResponse)
        this.sendToClient(link, relay.allocateResponse);
      else this.respondError(link, m, ErrorCode.AllocationMismatch, key);
      return;
    }
    const transport = getAttribute(m, Attr.RequestedTransport);
    if (!transport || !transport.ok) {
      this.respondError(link, m, ErrorCode.BadRequest, key);
      return;
    }
    const alternate = this.redirect?.(link.remote, username, link.transport);
    if (alternate !== undefined) {
      this.opts.onEvent?.({ type: 'redirected', username, client: link.remote, to: alternate });
      this.respondError(link, m, ErrorCode.TryAlternate, key, [{ type: Attr.AlternateServer, value: alternate }]);
      return;
    }
    const tcpRelay = transport.value === TransportProtocol.TCP;
    if (transport.value !== TransportProtocol.UDP && !(tcpRelay && link.transport !== 'udp' && this.opts.tcpRelay !== false)) {
      this.respondError(link, m, ErrorCode.UnsupportedTransportProtocol, key);
      return;
    }
    if (findRaw(m, Attr.DontFragment)) {
      // Node cannot set DF on a UDP socket: RFC 8656 section 7.2 says answer 420 naming DONT-FRAGMENT.
      this.respondError(link, m, ErrorCode.UnknownAttribute, key, [{ type: Attr.UnknownAttributes, value: [Attr.DontFragment] }]);
      return;
    }
    const evenPort = getAttribute(m, Attr.EvenPort);
    const token = getAttribute(m, Attr.ReservationToken);
    const requested = getAttribute(m, Attr.RequestedAddressFamily);
    const additional = getAttribute(m, Attr.AdditionalAddressFamily);
    if ((evenPort && !evenPort.ok) || (token && !token.ok) || (requested && !requested.ok) || (additional && !additional.ok)) {
      this.respondError(link, m, ErrorCode.BadRequest, key);
      return;
    }
    if (
      (token && (evenPort || requested)) ||
      (requested && additional) ||
      (additional && additional.value !== 6) ||
      (tcpRelay && (evenPort || token || additional))
    ) {
      this.respondError(link, m, ErrorCode.BadRequest, key);
      return;
    }
    const admitted = this.table.admit(username);
    if (!admitted.ok) {
      this.respondError(link, m, turnErrorStunCode(admitted.error.code), key);
      return;
    }
    // A RESERVATION-TOKEN carries its family (the reservation was made with the first allocation's).
    const reserved = token?.ok ? this.reservations.take(token.value, this.clock()) : undefined;
    if (token?.ok && !reserved) {
      this.respondError(link, m, ErrorCode.InsufficientCapacity, key);
      return;
    }
    const families: (4 | 6)[] = additional ? [4, 6] : [reserved?.family ?? requested?.value ?? 4];
    const relayed: TransportAddress[] = [];
    const sockets: { v4?: UdpSock; v6?: UdpSock } = {};
    let addressError: { family: 4 | 6; code: number } | undefined;
    let reservedToken: Buffer | undefined;
    // every field in the literal (none added later): the object keeps one shape and no separate property store
    const relay: Relay = {
      alloc: undefined as unknown as Allocation,
      link,
      key: ownCopy(key),
      algorithm,
      v4: undefined,
      v6: undefined,
      routes: undefined,
      tcpServers: [],
      packetsToPeers: 0,
      bytesToPeers: 0,
      packetsToClient: 0,
      bytesToClient: 0,
      upTokens: this.bandwidthPerMs * 1000,
      downTokens: this.bandwidthPerMs * 1000,
      bucketAt: this.clock(),
      allocateResponse: undefined,
      tcpPeers: undefined,
    };
    for (const family of families) {
      const bindAddr = family === 4 ? this.opts.relayAddresses.ipv4 : this.opts.relayAddresses.ipv6;
      if (bindAddr === undefined) {
        if (families.length === 1) {
          this.respondError(link, m, ErrorCode.AddressFamilyNotSupported, key);
          return;
        }
        addressError = { family, code: ErrorCode.AddressFamilyNotSupported };
        continue;
      }
      let bound: { socket?: UdpSock; server?: net.Server; port: number } | undefined;
      if (tcpRelay) bound = await this.bindTcpRelay(family, bindAddr, relay);
      else if (reserved) bound = { socket: reserved.socket, port: reserved.port };
      else if (evenPort?.ok) {
        const pair = await this.bindEvenPort(family, bindAddr, evenPort.value.reserve);
        if (pair) {
          bound = pair.first;
          if (pair.reserved) {
            reservedToken = randomBytes(8);
            this.reservations.reserve(reservedToken, { socket: pair.reserved.socket, port: pair.reserved.port, family }, this.clock());
          }
        }
      } else bound = this.native ? this.bindNativeRelaySocket(this.native, bindAddr) : await this.bindRelaySocket(family, bindAddr);
      if (bound === undefined) {
        if (families.length === 1 || family === 4) {
          for (const s of [sockets.v4, sockets.v6]) if (s) this.releaseSocket(s, s.address().port);
          for (const s of relay.tcpServers) s.close();
          this.respondError(link, m, ErrorCode.InsufficientCapacity, key);
          return;
        }
        addressError = { family, code: ErrorCode.InsufficientCapacity };
        continue;
      }
      if (bound.socket) sockets[family === 4 ? 'v4' : 'v6'] = bound.socket;
      const adv = (family === 4 ? this.opts.advertisedRelayAddresses?.ipv4 : this.opts.advertisedRelayAddresses?.ipv6) ?? bindAddr;
      relayed.push({ family, address: adv, port: bound.port });
    }
    const lifetime = grantLifetime(attributeValue(m, Attr.Lifetime), this.table.limits);
    const created = this.table.create(
      {
        listener: link.listener,
        transport: tcpRelay ? 'tcp' : 'udp',
        client: link.remote,
        username,
        realm: this.opts.realm,
        relayed: relayed.slice(), // kept for the allocation's life: an array of its own size, not the one grown by push
        lifetimeSeconds: lifetime || this.table.limits.defaultLifetime,
      },
      this.clock(),
    );
    if (!created.ok) {
      for (const s of [sockets.v4, sockets.v6]) if (s) this.releaseSocket(s, s.address().port);
      for (const s of relay.tcpServers) s.close();
      // a retransmitted Allocate that raced with the first one
      const again = this.table.find(link.listener, link.remote.address, link.remote.port);
      const againRelay = again?.context as Relay | undefined;
      if (again?.allocateTransactionId?.equals(m.transactionId) && againRelay?.allocateResponse)
        this.sendToClient(link, againRelay.allocateResponse);
      else this.respondError(link, m, turnErrorStunCode(created.error.code), key);
      return;
    }
    const alloc = created.value;
    relay.alloc = alloc;
    relay.v4 = sockets.v4;
    relay.v6 = sockets.v6;
    alloc.context = relay;
    // kept for the allocation's life: memory of their own, not a view of the datagram or a pool block
    alloc.allocateTransactionId = ownCopy(m.transactionId);
    for (const s of [relay.v4, relay.v6]) {
      if (s instanceof RelaySocket) s.onMessage = (msg, rinfo) => this.onPeerDatagram(relay, msg, rinfo);
      else if (s) (s as dgram.Socket).on('message', (msg, rinfo) => this.onPeerDatagram(relay, msg, rinfo));
    }
    const attrs: OutAttribute[] = relayed.map((value) => ({ type: Attr.XorRelayedAddress, value }));
    attrs.push({ type: Attr.Lifetime, value: Math.round((alloc.expiresAt - this.clock()) / 1000) });
    if (reservedToken) attrs.push({ type: Attr.ReservationToken, value: reservedToken });
    if (addressError)
      attrs.push({
        type: Attr.AddressErrorCode,
        value: { family: addressError.family, code: addressError.code, reason: ERROR_REASONS[addressError.code] ?? '' },
      });
    attrs.push({ type: Attr.XorMappedAddress, value: link.remote });
    relay.allocateResponse = ownCopy(this.respond(link, m, StunClass.SuccessResponse, attrs, key));
    this.opts.onEvent?.({ type: 'allocation-created', id: alloc.id, username, client: link.remote, relayed });
  }

  private onRefresh(link: ClientLink, m: StunMessage, relay: Relay): void {
    const requested = attributeValue(m, Attr.Lifetime);
    const granted = relay.alloc.refresh(requested, this.clock());
    this.respond(link, m, StunClass.SuccessResponse, [{ type: Attr.Lifetime, value: granted }], relay.key);
    if (granted === 0) this.deleteAllocation(relay.alloc, 'refresh');
  }

  private peerAddresses(m: StunMessage): TransportAddress[] | undefined {
    const out: TransportAddress[] = [];
    const key = m.raw.subarray(4, 20);
    for (const a of m.attributes) {
      if (a.type !== Attr.XorPeerAddress) continue;
      const r = decodeAttributeValue(Attr.XorPeerAddress, a.value, key);
      if (!r.ok) return undefined;
      out.push(r.value);
    }
    return out;
  }

  private onCreatePermission(link: ClientLink, m: StunMessage, relay: Relay): void {
    const peers = this.peerAddresses(m);
    if (!peers || peers.length === 0) {
      this.respondError(link, m, ErrorCode.BadRequest, relay.key);
      return;
    }
    const targets: TransportAddress[] = [];
    for (const p of peers) {
      const r = this.peerDecision(relay, p, 'CreatePermission');
      if (!r.ok) {
        this.respondError(link, m, r.code, relay.key);
        return;
      }
      targets.push(r.value);
    }
    const now = this.clock();
    for (const t of targets) {
      const r = relay.alloc.installPermission(t.address, now);
      if (!r.ok) {
        this.respondError(link, m, turnErrorStunCode(r.error.code), relay.key);
        return;
      }
      this.refreshRoutes(relay, t.address, now);
    }
    this.respond(link, m, StunClass.SuccessResponse, [], relay.key);
  }

  private onChannelBind(link: ClientLink, m: StunMessage, relay: Relay): void {
    const channel = getAttribute(m, Attr.ChannelNumber);
    const peers = this.peerAddresses(m);
    if (
      !channel ||
      !channel.ok ||
      !isValidChannelNumber(channel.value, this.maxChannel) ||
      !peers ||
      peers.length !== 1 ||
      relay.alloc.transport === 'tcp'
    ) {
      this.respondError(link, m, ErrorCode.BadRequest, relay.key);
      return;
    }
    const r = this.peerDecision(relay, peers[0], 'ChannelBind');
    if (!r.ok) {
      this.respondError(link, m, r.code, relay.key);
      return;
    }
    const now = this.clock();
    const b = relay.alloc.bindChannel(channel.value, r.value, now);
    if (!b.ok) {
      this.respondError(link, m, turnErrorStunCode(b.error.code), relay.key);
      return;
    }
    this.refreshRoutes(relay, r.value.address, now);
    this.routeChannel(relay, b.value, now);
    this.respond(link, m, StunClass.SuccessResponse, [], relay.key);
  }

  // ---------------------------------------------------------------- RFC 6062

  private onConnect(link: ClientLink, m: StunMessage, relay: Relay): void {
    if (relay.alloc.transport !== 'tcp') {
      this.respondError(link, m, ErrorCode.BadRequest, relay.key);
      return;
    }
    const peers = this.peerAddresses(m);
    if (!peers || peers.length !== 1) {
      this.respondError(link, m, ErrorCode.BadRequest, relay.key);
      return;
    }
    const r = this.peerDecision(relay, peers[0], 'Connect');
    if (!r.ok) {
      this.respondError(link, m, r.code, relay.key);
      return;
    }
    const target = r.value;
    for (const pc of relay.tcpPeers?.values() ?? [])
      if (pc.peerAddress.address === target.address && pc.peerAddress.port === target.port) {
        this.respondError(link, m, ErrorCode.ConnectionAlreadyExists, relay.key);
        return;
      }
    const localAddr = relay.alloc.relayed.find((x) => x.family === target.family);
    const bindAddr = target.family === 4 ? this.opts.relayAddresses.ipv4 : this.opts.relayAddresses.ipv6;
    if (!localAddr || !bindAddr) {
      this.respondError(link, m, ErrorCode.PeerAddressFamilyMismatch, relay.key);
      return;
    }
    const sock = net.connect({ host: target.address, port: target.port, localAddress: bindAddr });
    const timeout = this.opts.tcpConnectTimeout ?? 30_000;
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      sock.destroy();
      this.respondError(link, m, ErrorCode.ConnectionTimeoutOrFailure, relay.key);
    }, timeout);
    timer.unref();
    sock.on('error', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.respondError(link, m, ErrorCode.ConnectionTimeoutOrFailure, relay.key);
    });
    sock.once('connect', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      relay.alloc.installPermission(target.address, this.clock());
      const pc = this.addPeerConnection(relay, sock, target);
      this.respond(link, m, StunClass.SuccessResponse, [{ type: Attr.ConnectionId, value: pc.id }], relay.key);
    });
  }

  private addPeerConnection(relay: Relay, peer: net.Socket, peerAddress: TransportAddress): PeerConnection {
    const pc: PeerConnection = { id: this.nextConnectionId++ >>> 0, relay, peer, peerAddress, pending: [] };
    this.peerConnections.set(pc.id, pc);
    (relay.tcpPeers ??= new Map()).set(pc.id, pc);
    peer.pause();
    peer.on('data', (chunk: Buffer) => {
      if (!pc.data || pc.data.destroyed) return;
      pc.relay.packetsToClient++;
      pc.relay.bytesToClient += chunk.length;
      pc.data.write(chunk);
    });
    peer.on('error', () => undefined);
    peer.on('close', () => this.closePeerConnection(pc));
    // RFC 6062 section 5.2: the ConnectionBind must come within 30 s
    pc.timer = setTimeout(() => {
      if (!pc.data) this.closePeerConnection(pc);
    }, this.opts.tcpConnectTimeout ?? 30_000);
    pc.timer.unref();
    return pc;
  }

  private closePeerConnection(pc: PeerConnection): void {
    if (!this.peerConnections.delete(pc.id)) return;
    pc.relay.tcpPeers?.delete(pc.id);
    if (pc.timer) clearTimeout(pc.timer);
    pc.peer.destroy();
    pc.data?.destroy();
  }

  private onConnectionBind(link: ClientLink, m: StunMessage, key: Buffer, onBind?: (pc: PeerConnection) => void): void {
    const id = attributeValue(m, Attr.ConnectionId);
    const pc = id === undefined ? undefined : this.peerConnections.get(id);
    if (link.transport === 'udp' || !onBind || pc === undefined || pc.data !== undefined || !pc.relay.key.equals(key)) {
      this.respondError(link, m, ErrorCode.BadRequest, key);
      return;
    }
    if (pc.timer) clearTimeout(pc.timer);
    this.respond(link, m, StunClass.SuccessResponse, [], key);
    pc.data = link.stream;
    onBind(pc);
    // Peer bytes buffered while waiting for the bind must not share a read with the success response:
    // clients read the response and then switch the connection to raw data. Resume once the response is
    // flushed, plus a short grace.
    link.stream!.write(Buffer.alloc(0), () => {
      const t = setTimeout(() => pc.peer.resume(), this.opts.connectionBindGrace ?? 20);
      t.unref();
    });
  }

  private async bindTcpRelay(family: 4 | 6, bindAddr: string, relay: Relay): Promise<{ port: number } | undefined> {
    for (let i = 0; i < 32; i++) {
      const port = this.pickPort();
      if (port === undefined) return undefined;
      const server = net.createServer((s) => this.onPeerTcp(relay, s));
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen({ port, host: bindAddr, ipv6Only: family === 6 }, () => resolve(true));
      });
      if (ok) {
        server.on('error', () => undefined);
        this.usedPorts.add(port);
        relay.tcpServers.push(server);
        return { port };
      }
    }
    return undefined;
  }

  /** An incoming TCP connection from a peer to a TCP relayed address (RFC 6062 section 5.3). */
  private onPeerTcp(relay: Relay, s: net.Socket): void {
    const alloc = relay.alloc;
    const addr = s.remoteAddress;
    const bytes = addr ? addressBytes({ family: addr.includes(':') ? 6 : 4, address: addr }) : undefined;
    const decision = bytes ? this.policy.checkBytes(bytes) : undefined;
    if (!decision?.allowed || !alloc.hasPermission(decision.canonical, this.clock())) {
      s.destroy();
      return;
    }
    const peerAddress: TransportAddress = {
      family: decision.canonical.includes(':') ? 6 : 4,
      address: decision.canonical,
      port: s.remotePort ?? 0,
    };
    const pc = this.addPeerConnection(relay, s, peerAddress);
    const ind = encodeMessage({ method: StunMethod.ConnectionAttempt, cls: StunClass.Indication, transactionId: randomBytes(12) }, [
      { type: Attr.ConnectionId, value: pc.id },
      { type: Attr.XorPeerAddress, value: peerAddress },
    ]);
    this.sendToClient(relay.link, ind);
  }

  // ---------------------------------------------------------------- relayed sockets

  private pickPort(): number | undefined {
    const span = this.relayMax - this.relayMin + 1;
    if (this.usedPorts.size >= span) return undefined;
    for (let i = 0; i < 64; i++) {
      const p = this.relayMin + Math.floor(Math.random() * span);
      if (!this.usedPorts.has(p)) return p;
    }
    for (let p = this.relayMin; p <= this.relayMax; p++) if (!this.usedPorts.has(p)) return p;
    return undefined;
  }

  /** A relayed socket on the data plane: opened at once (no await on the allocation's path). */
  private tryBindNative(native: UdpRelay, address: string, port: number): RelaySocket | undefined {
    if (this.usedPorts.has(port) || port < this.relayMin || port > this.relayMax) return undefined;
    try {
      const ns = native.openSocket(address, port, {
        kind: 'relay',
        bufferBytes: this.opts.relaySocketBufferBytes,
        onMessage: () => undefined,
      });
      this.usedPorts.add(port);
      return ns;
    } catch {
      return undefined;
    }
  }

  private async tryBind(family: 4 | 6, address: string, port: number): Promise<UdpSock | undefined> {
    if (this.native) return this.tryBindNative(this.native, address, port);
    if (this.usedPorts.has(port) || port < this.relayMin || port > this.relayMax) return undefined;
    const s = udpSocket(family);
    const ok = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.bind(port, address, () => resolve(true));
    });
    if (!ok) {
      s.close();
      return undefined;
    }
    s.on('error', () => undefined);
    this.tuneSocket(s, this.opts.relaySocketBufferBytes);
    this.usedPorts.add(port);
    return s;
  }

  private tuneSocket(s: dgram.Socket, n: number | undefined): void {
    if (n === undefined) return;
    try {
      s.setRecvBufferSize(n);
      s.setSendBufferSize(n);
    } catch {
      /* the OS refused the size: keep its default */
    }
  }

  private bindNativeRelaySocket(native: UdpRelay, address: string): { socket: UdpSock; port: number } | undefined {
    for (let i = 0; i < 32; i++) {
      const port = this.pickPort();
      if (port === undefined) return undefined;
      const s = this.tryBindNative(native, address, port);
      if (s) return { socket: s, port };
    }
    return undefined;
  }

  private async bindRelaySocket(family: 4 | 6, address: string): Promise<{ socket: UdpSock; port: number } | undefined> {
    for (let i = 0; i < 32; i++) {
      const port = this.pickPort();
      if (port === undefined) return undefined;
      const s = await this.tryBind(family, address, port);
      if (s) return { socket: s, port };
    }
    return undefined;
  }

  private async bindEvenPort(
    family: 4 | 6,
    address: string,
    reserveNext: boolean,
  ): Promise<{ first: { socket: UdpSock; port: number }; reserved?: { socket: UdpSock; port: number } } | undefined> {
    for (let i = 0; i < 32; i++) {
      const p = this.pickPort();
      if (p === undefined) return undefined;
      const even = p & ~1;
      const first = await this.tryBind(family, address, even);
      if (!first) continue;
      if (!reserveNext) return { first: { socket: first, port: even } };
      const second = await this.tryBind(family, address, even + 1);
      if (second) return { first: { socket: first, port: even }, reserved: { socket: second, port: even + 1 } };
      this.releaseSocket(first, even);
    }
    return undefined;
  }

  private releaseSocket(s: UdpSock, port: number): void {
    this.usedPorts.delete(port);
    try {
      s.close();
    } catch {
      /* already closed */
    }
  }

  private deleteAllocation(a: Allocation, reason: 'refresh' | 'expired' | 'connection-closed' | 'stopped'): void {
    this.table.delete(a);
    const relay = a.context as Relay | undefined;
    if (relay) {
      if (relay.routes) for (const r of [...relay.routes.values()]) this.dropRoute(relay, r);
      this.routed.delete(relay);
      const c = this.counters;
      c.packetsToPeers += relay.packetsToPeers;
      c.bytesToPeers += relay.bytesToPeers;
      c.packetsToClients += relay.packetsToClient;
      c.bytesToClients += relay.bytesToClient;
      if (relay.v4) this.releaseSocket(relay.v4, relay.v4.address().port);
      if (relay.v6) this.releaseSocket(relay.v6, relay.v6.address().port);
      for (const s of relay.tcpServers) {
        const addr = s.address();
        if (addr && typeof addr === 'object') this.usedPorts.delete(addr.port);
        s.close();
      }
      if (relay.tcpPeers) for (const pc of [...relay.tcpPeers.values()]) this.closePeerConnection(pc);
      // an allocation made over TCP/TLS ends its control connection when it expires (RFC 8656 section 7)
      if (reason === 'expired' && relay.link.stream) relay.link.stream.destroy();
    }
    this.opts.onEvent?.({ type: 'allocation-deleted', id: a.id, username: a.username, reason });
  }

  private sweep(): void {
    const now = this.clock();
    for (const a of this.table.sweep(now)) {
      this.deleteAllocation(a, 'expired');
    }
    // routes of channels that expired in live allocations leave the data plane (their counts stay)
    for (const relay of this.routed) {
      if (relay.routes) for (const r of [...relay.routes.values()]) if (r.channelExpiresAt <= now) this.dropRoute(relay, r);
      if (!relay.routes?.size) this.routed.delete(relay);
    }
    for (const r of this.reservations.sweep(now)) this.releaseSocket(r.socket, r.port);
  }

  // ---------------------------------------------------------------- responses

  private respondError(link: ClientLink, m: StunMessage, code: number, key: Buffer | undefined, extra: OutAttribute[] = []): void {
    this.respond(link, m, StunClass.ErrorResponse, [errorCodeAttribute(code), ...extra], key);
  }

  private respond(link: ClientLink, m: StunMessage, cls: StunClass, attrs: OutAttribute[], key: Buffer | undefined): Buffer {
    const b = encodeAnswer(m, cls, attrs, key, this.software);
    this.sendToClient(link, b);
    return b;
  }
}

function uncork(s: net.Socket): void {
  s.uncork();
}

function findRaw(m: StunMessage, type: number): boolean {
  return m.attributes.some((a) => a.type === type);
}
