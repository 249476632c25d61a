/**
 * The SIP transport layer of the signaling node (RFC 3261 section 18): UDP, TCP, TLS, WebSocket
 * and secure WebSocket (RFC 7118) listeners on IPv4 and IPv6, connections reused by remote
 * address and addressable by flow token (RFC 5626), keep-alives both ways (CRLF on every
 * transport, STUN Binding on UDP, WebSocket ping), Via received/rport on incoming requests
 * (RFC 3581), 400/505 for malformed requests (others dropped), a per-source token bucket,
 * requests larger than maxUdpPacketSize sent over TCP instead of UDP (18.1.1), the node's own
 * sent-by address (sip.usePublicAddress), and TLS certificates replaced while running. UDP
 * listeners read and send through the native addon's sockets when it is available (see UdpListener).
 * No Nest and no logging here: the module turns events into logs and metrics.
 */
import { isUtf8 } from 'node:buffer';
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { Attr, StunClass, StunMethod, decodeMessage as decodeStun, encodeMessage as encodeStun, isStunMessage } from '@traverse/stun';
import {
  DEFAULT_SIP_LIMITS,
  SipStreamParser,
  createResponse,
  makeVia,
  parseDatagram,
  type SipMessage,
  type SipParseError,
  type SipParseLimits,
  type SipRequest,
  type SipResponse,
  type TransactionChannel,
  type Via,
} from '@traverse/sip';
import { bindUdp, listenError, listenServer } from '@traverse/net';
import { ControlSocket, chooseUdpPlane, ownCopy, type UdpPlaneChoice } from '@traverse/udp-relay';
import { canonicalIp, stampVia } from './addresses';
import { SourceRateLimiter } from './rate-limiter';

export type SipTransportName = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';
/** Transports that run over a connection. */
export type ConnectionTransport = Exclude<SipTransportName, 'UDP'>;

export const SIP_TRANSPORTS: readonly SipTransportName[] = ['UDP', 'TCP', 'TLS', 'WS', 'WSS'];

export interface Endpoint {
  address: string;
  port: number;
}

/** Where a received message came from, and how to answer it. */
export interface SipSource {
  readonly transport: SipTransportName;
  /** Canonical source IP. */
  readonly address: string;
  readonly port: number;
  readonly local: Endpoint;
  /** The connection it came on (TCP, TLS, WS, WSS). */
  readonly connection?: SipConnection;
  /** The UDP listener it came on. */
  readonly socket?: UdpListener;
  /** Flow token (RFC 5626): the connection id, or the UDP 5-tuple (see udpFlow). */
  readonly flow: string;
}

export interface SipTarget {
  transport: SipTransportName;
  address: string;
  port: number;
  /** TLS server name to verify (a host name); default: the address. */
  serverName?: string;
  /**
   * A flow (RFC 5626) to send on when it still exists: a connection id, or a UDP flow token. Used
   * for clients reachable only through the flow they opened (behind NAT, WebSocket clients).
   * A UDP flow is never moved to TCP (the client's NAT would not let the connection in).
   */
  flow?: string;
  /** The transport was chosen explicitly (e.g. by the routing table): no switch to TCP for size. */
  forceTransport?: boolean;
}

/** Certificate, key and CA certificates (PEM) of the TLS and WSS listeners. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
}

export type SipTransportEvent =
  | { type: 'listening'; transport: SipTransportName; local: Endpoint; sockets?: UdpSocketsInUse }
  | { type: 'message'; transport: SipTransportName; kind: 'request' | 'response' }
  | { type: 'sent'; transport: SipTransportName; kind: 'request' | 'response'; bytes: number }
  | { type: 'malformed'; transport: SipTransportName; from: Endpoint; code: string; reason: string; answered: boolean }
  | { type: 'rate-limited'; transport: SipTransportName; from: Endpoint }
  | { type: 'keepalive'; transport: SipTransportName; from: Endpoint; kind: 'crlf' | 'stun' }
  | { type: 'pong'; transport: SipTransportName; from: Endpoint; flow: string }
  | { type: 'transport-switched'; from: SipTransportName; to: SipTransportName; bytes: number; target: Endpoint }
  | { type: 'websocket-refused'; transport: 'WS' | 'WSS'; from: Endpoint; reason: string }
  | { type: 'connection-open'; connection: SipConnection; inbound: boolean }
  | { type: 'connection-closed'; connection: SipConnection; reason: string }
  | { type: 'send-failed'; transport: SipTransportName; to: Endpoint; reason: string }
  | { type: 'socket-error'; transport: SipTransportName; error: Error };

/** What can change while the transport runs. */
export interface SipTransportSettings {
  /** Requests larger than this (bytes) go over TCP instead of UDP. */
  maxUdpPacketSize: number;
  /** Per-source rate (messages/s, 0: unlimited) and burst. */
  rateLimit: { rate: number; burst: number };
  /** Host this node names itself by in Via and Record-Route (empty: the local address). */
  advertisedAddress: string;
}

/**
 * How UDP listeners read and send: native (the addon's sockets; start fails when the addon cannot
 * load here), node (node:dgram), auto (native when the addon loads, else node).
 */
export type SipUdpSockets = 'auto' | 'native' | 'node';

/** The sockets a UDP listener uses; with `unavailable`, why auto fell back to node:dgram. */
export type UdpSocketsInUse = UdpPlaneChoice;

export interface SipTransportOptions {
  /** 0 disables a transport. */
  udpPort: number;
  tcpPort: number;
  tlsPort: number;
  wsPort?: number;
  wssPort?: number;
  /** Addresses to listen on; default 0.0.0.0 and :: (the latter skipped when the host has no IPv6). */
  hosts?: string[];
  /** Certificate of the TLS and WSS listeners (both are off without one). */
  tls?: TlsMaterial;
  /** Requests larger than this (bytes) go over TCP instead of UDP. */
  maxUdpPacketSize: number;
  /** Sockets of the UDP listeners (default auto). */
  udpSockets?: SipUdpSockets;
  limits?: Partial<SipParseLimits>;
  /** Per-source rate (messages/s) and burst; undefined or rate 0: unlimited. */
  rateLimit?: { rate: number; burst: number };
  /** Sources exempt from rate limiting. */
  trusted?: (ip: string) => boolean;
  /** Close connections idle (no byte either way, keep-alives included) this long. */
  idleTimeoutMs: number;
  /** Verify the certificates of servers this node connects to over TLS and WSS (default true). */
  verifyTlsPeers?: boolean;
  /** Host this node names itself by in Via and Record-Route (node.publicAddress when sip.usePublicAddress); empty: the local address. */
  advertisedAddress?: string;
  onMessage: (msg: SipMessage, source: SipSource) => void;
  onEvent?: (e: SipTransportEvent) => void;
}

const CRLF = Buffer.from('\r\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const DEFAULT_PORTS: Record<SipTransportName, number> = { UDP: 5060, TCP: 5060, TLS: 5061, WS: 80, WSS: 443 };
let nextConnectionId = 1;

/** The flow token of a UDP 5-tuple: local port, remote address and port. */
export function udpFlow(localPort: number, address: string, port: number): string {
  // one flat string, not a tree of its parts: sources live as long as their transactions
  return ['udp', localPort, address, port].join(':');
}

/** The parts of a UDP flow token; undefined for anything else (connection ids). */
export function parseUdpFlow(flow: string): { localPort: number; address: string; port: number } | undefined {
  if (!flow.startsWith('udp:')) return undefined;
  const rest = flow.slice(4);
  const i = rest.indexOf(':');
  const j = rest.lastIndexOf(':');
  if (i <= 0 || j <= i) return undefined;
  const localPort = Number(rest.slice(0, i));
  const port = Number(rest.slice(j + 1));
  const address = rest.slice(i + 1, j);
  if (!Number.isInteger(localPort) || !Number.isInteger(port) || net.isIP(address) === 0) return undefined;
  return { localPort, address, port };
}

/**
 * RFC 3261 18.1.1: the transport a message goes over. A request for UDP larger than the maximum
 * UDP packet size goes over TCP, unless the transport was chosen explicitly, TCP is off, or the
 * message rides on a UDP flow (a client behind NAT that cannot take a connection).
 */
export function selectTransport(
  msg: { kind: 'request' | 'response'; bytes: number },
  target: Pick<SipTarget, 'transport' | 'forceTransport' | 'flow'>,
  opts: { maxUdpPacketSize: number; tcpEnabled: boolean },
): SipTransportName {
  if (target.transport !== 'UDP' || msg.kind !== 'request' || target.forceTransport || target.flow !== undefined) return target.transport;
  if (!opts.tcpEnabled || msg.bytes <= opts.maxUdpPacketSize) return 'UDP';
  return 'TCP';
}

/** Host text of an IP for a URI or Via sent-by: IPv6 in brackets. */
export function uriHost(address: string): string {
  return net.isIP(address) === 6 ? `[${address}]` : address;
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

function isLoopback(address: string): boolean {
  const a = canonicalIp(address);
  return a === '::1' || a.startsWith('127.');
}

/** The first global address of this host of a family (the node's own address when it listens on a wildcard). */
function hostAddress(family: 4 | 6): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || (family === 4 ? a.family !== 'IPv4' : a.family !== 'IPv6')) continue;
      if (family === 6 && (a.address.toLowerCase().startsWith('fe80') || a.scopeid)) continue;
      return a.address;
    }
  }
  return undefined;
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A TCP, TLS or WebSocket connection carrying SIP, inbound or outbound. */
export class SipConnection {
  readonly id: string;
  /** Framing of TCP and TLS byte streams (a WebSocket message is one SIP message). */
  readonly parser: SipStreamParser | undefined;
  lastActivity = Date.now();
  closed = false;
  /** Messages received and sent on it. */
  received = 0;
  sent = 0;
  /** Keep-alive answers (CRLF pongs, WebSocket pongs) received on it. */
  pongs = 0;
  private pending: Buffer[] | undefined;

  constructor(
    readonly transport: ConnectionTransport,
    readonly remote: Endpoint,
    public local: Endpoint,
    readonly inbound: boolean,
    readonly socket: net.Socket | undefined,
    readonly ws: WebSocket | undefined,
    limits: Partial<SipParseLimits> | undefined,
  ) {
    this.id = `${transport.toLowerCase()}-${(nextConnectionId++).toString(36)}`;
    this.parser = ws === undefined ? new SipStreamParser(limits) : undefined;
  }

  /** Map key of connections: transport, remote IP and port. */
  get key(): string {
    return connectionKey(this.transport, this.remote.address, this.remote.port);
  }

  write(buf: Buffer): boolean {
    if (this.closed) return false;
    this.lastActivity = Date.now();
    const ws = this.ws;
    if (ws !== undefined) {
      if (ws.readyState === WebSocket.CONNECTING) {
        (this.pending ??= []).push(buf);
        return true;
      }
      if (ws.readyState !== WebSocket.OPEN) return false;
      // RFC 7118 5.1: one SIP message per WebSocket message; text when it is valid UTF-8
      ws.send(buf, { binary: !isUtf8(buf) });
      return true;
    }
    if (this.socket === undefined || this.socket.destroyed) return false;
    this.socket.write(buf);
    return true;
  }

  /** A keep-alive: CRLFCRLF on TCP/TLS (RFC 5626 4.4.1), a WebSocket ping on WS/WSS. */
  ping(): boolean {
    if (this.closed) return false;
    if (this.ws !== undefined) {
      if (this.ws.readyState !== WebSocket.OPEN) return false;
      this.lastActivity = Date.now();
      this.ws.ping();
      return true;
    }
    return this.write(CRLF2);
  }

  /** Sends what was written while an outbound WebSocket was still connecting. */
  flush(): void {
    const p = this.pending;
    this.pending = undefined;
    for (const b of p ?? []) this.write(b);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ws !== undefined) {
      const ws = this.ws;
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000);
      setTimeout(() => ws.terminate(), 2000).unref();
      return;
    }
    const s = this.socket;
    s?.end();
    setTimeout(() => s?.destroy(), 2000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.ws?.terminate();
    this.socket?.destroy();
  }
}

export function connectionKey(transport: string, address: string, port: number): string {
  return `${transport}|${address}|${port}`;
}

/** Refusals of a UDP send that pass with time (socket buffers full): the datagram is as good as lost on the wire. */
const TRANSIENT_UDP_REFUSALS: ReadonlySet<string> = new Set(['EAGAIN', 'ENOBUFS', 'ENOMEM']);

/** What an errno of a refused UDP send means, for the log line. */
function udpRefusal(code: string): string {
  if (TRANSIENT_UDP_REFUSALS.has(code)) return 'socket buffers full';
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return 'no route to the destination';
  if (code === 'EACCES' || code === 'EPERM') return 'refused by the host (firewall or broadcast address)';
  if (code === 'EMSGSIZE') return 'larger than a UDP datagram can be';
  if (code === 'EBADF') return 'the socket is closed';
  if (code === 'EAFNOSUPPORT') return 'an address of the other IP family';
  return 'cannot be sent';
}

/**
 * A UDP listener. On the native addon's control socket, the datagrams of one readable event come
 * in with one recvmmsg, each as a view into a 64 KB arena that the datagrams after it share (no
 * 64 KB buffer and no rinfo object per datagram), and a send is one sendto at once; on node:dgram,
 * sends report errors through their callback.
 */
export class UdpListener {
  private constructor(
    readonly local: Endpoint,
    readonly family: 4 | 6,
    private readonly dgram: dgram.Socket | undefined,
    private readonly native: ControlSocket | undefined,
  ) {}

  /**
   * Binds host:port (0: any free port) with the sockets asked for. Datagrams go to `onDatagram`
   * with their source; one from the native socket is a view into a 64 KB arena that the datagrams
   * after it share (and that any view keeps alive).
   */
  static async bind(
    host: string,
    port: number,
    family: 4 | 6,
    sockets: UdpSocketsInUse['kind'],
    onDatagram: (l: UdpListener, buf: Buffer, address: string, port: number) => void,
    onError: (e: Error) => void,
  ): Promise<UdpListener> {
    if (sockets === 'native') {
      let l: UdpListener | undefined = undefined; // set before the first datagram: they come from the event loop
      let socket: ControlSocket;
      try {
        socket = ControlSocket.open(host, port, { onMessage: (buf, address, from) => onDatagram(l!, buf, address, from) });
      } catch (e) {
        throw listenError(e as Error, { transport: 'UDP', address: host, port });
      }
      l = new UdpListener({ address: host, port: socket.local.port }, family, undefined, socket);
      return l;
    }
    const socket = await bindUdp(host, port, { reuseAddr: false, name: 'UDP' });
    const l = new UdpListener({ address: socket.address().address, port: socket.address().port }, family, socket, undefined);
    socket.on('message', (buf, rinfo) => onDatagram(l, buf, rinfo.address, rinfo.port));
    socket.on('error', onError);
    return l;
  }

  get sockets(): UdpSocketsInUse['kind'] {
    return this.native !== undefined ? 'native' : 'node';
  }

  /**
   * Sends one datagram to an IP address; `failed` is told when it cannot go (a bad port, or the OS
   * did not take it). Returns the errno name when the refusal is known at once (native sockets:
   * the OS answers the send itself; node:dgram tells `failed` later), else undefined.
   */
  send(buf: Uint8Array, port: number, address: string, failed?: (reason: string, address: string, port: number) => void): string | undefined {
    try {
      if (this.native === undefined) {
        this.dgram!.send(buf, port, address, failed && ((err) => err && failed(err.message, address, port)));
        return undefined;
      }
      const refused = this.native.trySend(buf, port, address);
      if (refused !== undefined) failed?.(`the OS refused the datagram (${refused}: ${udpRefusal(refused)})`, address, port);
      return refused;
    } catch (e) {
      failed?.((e as Error).message, address, port); // not an IP address, or a port the socket refuses
      return (e as NodeJS.ErrnoException).code ?? 'EINVAL';
    }
  }

  close(): Promise<void> {
    if (this.native !== undefined) {
      this.native.close();
      return Promise.resolve();
    }
    return new Promise<void>((r) => this.dgram!.close(() => r()));
  }
}
interface StreamListener {
  server: net.Server;
  transport: ConnectionTransport;
  local: Endpoint;
  family: 4 | 6;
}

function secureOptions(m: TlsMaterial): tls.SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) };
}

export class SipTransport {
  private udp: UdpListener[] = [];
  private streams: StreamListener[] = [];
  private readonly connections = new Map<string, SipConnection>();
  private readonly byId = new Map<string, SipConnection>();
  private readonly limiter: SourceRateLimiter;
  private readonly limits: SipParseLimits;
  private readonly wss: WebSocketServer;
  private maxUdpPacketSize: number;
  private advertised: string;
  private sweeper: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: SipTransportOptions) {
    this.limits = { ...DEFAULT_SIP_LIMITS, ...(opts.limits ?? {}) };
    this.limiter = new SourceRateLimiter({ rate: opts.rateLimit?.rate ?? 0, burst: opts.rateLimit?.burst ?? 1, ...(opts.trusted ? { exempt: opts.trusted } : {}) });
    this.maxUdpPacketSize = opts.maxUdpPacketSize;
    this.advertised = opts.advertisedAddress ?? '';
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxMessageSize,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
    });
  }

  /** The settings in force. */
  get settings(): SipTransportSettings {
    return { maxUdpPacketSize: this.maxUdpPacketSize, rateLimit: this.limiter.limit, advertisedAddress: this.advertised };
  }

  /** Changes settings at run time: in force for the next message. */
  configure(s: Partial<SipTransportSettings>): void {
    if (s.maxUdpPacketSize !== undefined) this.maxUdpPacketSize = s.maxUdpPacketSize;
    if (s.rateLimit !== undefined) this.limiter.configure(s.rateLimit.rate, s.rateLimit.burst);
    if (s.advertisedAddress !== undefined) this.advertised = s.advertisedAddress;
  }

  /**
   * Replaces the certificate of the TLS and WSS listeners: new connections get the new one,
   * connections already up keep theirs. Throws (and changes nothing) when the material is unusable.
   */
  setTlsMaterial(m: TlsMaterial): void {
    const options = secureOptions(m);
    tls.createSecureContext(options); // throws on a bad certificate, key or a key that does not match
    for (const l of this.streams) if (l.transport === 'TLS' || l.transport === 'WSS') (l.server as tls.Server).setSecureContext(options);
    this.opts.tls = m;
  }

  /** Bound listeners (port 0 resolves here). */
  get listeners(): Array<{ transport: SipTransportName; address: string; port: number }> {
    return [
      ...this.udp.map((l) => ({ transport: 'UDP' as const, ...l.local })),
      ...this.streams.map((l) => ({ transport: l.transport, ...l.local })),
    ];
  }

  get connectionCount(): number {
    return this.byId.size;
  }

  connection(id: string): SipConnection | undefined {
    return this.byId.get(id);
  }

  /** Whether a flow (connection id or UDP flow token) can still carry messages. */
  hasFlow(flow: string): boolean {
    return this.resolveFlow(flow) !== undefined;
  }

  /** Binds every listener. Fails (and closes what it bound) when a configured port cannot be bound on IPv4. */
  async start(): Promise<void> {
    const hosts = this.opts.hosts ?? ['0.0.0.0', '::'];
    try {
      for (const host of hosts) {
        const family = net.isIP(host) === 6 ? 6 : 4;
        const optional = family === 6 && (this.opts.hosts === undefined || host === '::');
        try {
          await this.listenOn(host, family);
        } catch (e) {
          // no IPv6 on this host: IPv4 only
          if (optional && ['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT'].includes((e as NodeJS.ErrnoException).code ?? '')) continue;
          throw e;
        }
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.sweeper = setInterval(() => this.sweep(), Math.min(10_000, Math.max(1000, this.opts.idleTimeoutMs / 4)));
    this.sweeper.unref();
  }

  private async listenOn(host: string, family: 4 | 6): Promise<void> {
    const o = this.opts;
    if (o.udpPort > 0) {
      const sockets = chooseUdpPlane(this.opts.udpSockets ?? 'auto', 'the native addon for SIP UDP sockets (sip.udpSockets native)');
      const l = await UdpListener.bind(
        host,
        o.udpPort,
        family,
        sockets.kind,
        (l, buf, address, port) => this.onDatagram(l, buf, address, port),
        (error) => o.onEvent?.({ type: 'socket-error', transport: 'UDP', error }),
      );
      this.udp.push(l);
      o.onEvent?.({ type: 'listening', transport: 'UDP', local: l.local, sockets });
    }
    if (o.tcpPort > 0) {
      const server = net.createServer({ noDelay: true }, (s) => this.accept('TCP', s));
      await this.listenServer(server, o.tcpPort, host, family, 'TCP');
    }
    if (o.tlsPort > 0 && o.tls) {
      const server = tls.createServer({ ...secureOptions(o.tls), handshakeTimeout: 10_000 }, (s) => this.accept('TLS', s));
      server.on('tlsClientError', () => undefined);
      await this.listenServer(server, o.tlsPort, host, family, 'TLS');
    }
    if ((o.wsPort ?? 0) > 0) {
      const server = http.createServer((_req, res) => this.notUpgrade(res));
      server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade('WS', req, socket, head));
      await this.listenServer(server, o.wsPort!, host, family, 'WS');
    }
    if ((o.wssPort ?? 0) > 0 && o.tls) {
      const server = https.createServer({ ...secureOptions(o.tls), handshakeTimeout: 10_000 }, (_req, res) => this.notUpgrade(res));
      server.on('tlsClientError', () => undefined);
      server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade('WSS', req, socket, head));
      await this.listenServer(server, o.wssPort!, host, family, 'WSS');
    }
  }

  private async listenServer(server: net.Server, port: number, host: string, family: 4 | 6, transport: ConnectionTransport): Promise<void> {
    await listenServer(server, { transport, address: host, port });
    const a = server.address() as net.AddressInfo;
    const local = { address: a.address, port: a.port };
    server.on('error', (error) => this.opts.onEvent?.({ type: 'socket-error', transport, error }));
    this.streams.push({ server, transport, local, family });
    this.opts.onEvent?.({ type: 'listening', transport, local });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const c of [...this.byId.values()]) c.destroy();
    this.byId.clear();
    this.connections.clear();
    const udp = this.udp;
    const streams = this.streams;
    this.udp = [];
    this.streams = [];
    await Promise.all([
      ...udp.map((l) => l.close()),
      ...streams.map((l) => {
        if (l.server instanceof http.Server) l.server.closeAllConnections();
        return new Promise<void>((r) => l.server.close(() => r()));
      }),
    ]);
    this.wss.close();
  }

  // ------------------------------------------------------------ own address

  /** Port of this node's listener for a transport (the default port of the transport when none listens). */
  portOf(transport: SipTransportName, family: 4 | 6 = 4): number {
    const all = transport === 'UDP' ? this.udp : this.streams.filter((l) => l.transport === transport);
    const l = all.find((x) => x.family === family) ?? all[0];
    return l?.local.port ?? DEFAULT_PORTS[transport];
  }

  /**
   * The host and port this node names itself by in Via and Record-Route when it sends over
   * `transport` toward `toward`: the advertised (public) address when set, else the listener's
   * own address, else (a wildcard listener) loopback toward loopback and the host's first global
   * address otherwise. IPv6 in brackets.
   */
  sentBy(transport: SipTransportName, toward?: string): { host: string; port: number } {
    const family: 4 | 6 = toward !== undefined && net.isIP(canonicalIp(toward)) === 6 ? 6 : 4;
    const port = this.portOf(transport, family);
    if (this.advertised) return { host: uriHost(this.advertised), port };
    const all = transport === 'UDP' ? this.udp : this.streams.filter((l) => l.transport === transport);
    const l = all.find((x) => x.family === family);
    let host: string;
    if (l !== undefined && !isWildcard(l.local.address)) host = l.local.address;
    else if (toward === undefined || isLoopback(toward)) host = family === 6 ? '::1' : '127.0.0.1';
    else host = hostAddress(family) ?? (family === 6 ? '::1' : '127.0.0.1');
    return { host: uriHost(host), port };
  }

  /** A Via of this node for a request it sends (RFC 3261 8.1.1.7: with rport, RFC 3581). */
  via(transport: SipTransportName, toward: string | undefined, branch: string): Via {
    const { host, port } = this.sentBy(transport, toward);
    return makeVia({ transport, host, port, branch, rport: true });
  }

  /** This node's URI for Record-Route and Path: `sip:host:port;transport=x;lr`. */
  ownUri(transport: SipTransportName, toward?: string): string {
    const { host, port } = this.sentBy(transport, toward);
    return `sip:${host}:${port};transport=${transport.toLowerCase()};lr`;
  }

  // ------------------------------------------------------------ receiving

  private limited(transport: SipTransportName, address: string, port: number): boolean {
    if (this.limiter.allow(address)) return false;
    this.opts.onEvent?.({ type: 'rate-limited', transport, from: { address, port } });
    return true;
  }

  private onDatagram(l: UdpListener, buf: Buffer, from: string, port: number): void {
    const address = canonicalIp(from);
    if (this.limited('UDP', address, port)) return;
    const first = buf[0];
    if (first !== undefined && first < 2 && isStunMessage(buf)) {
      this.stunKeepalive(l, buf, address, port);
      return;
    }
    const r = parseDatagram(buf, this.limits);
    const source: SipSource = { transport: 'UDP', address, port, local: l.local, socket: l, flow: udpFlow(l.local.port, address, port) };
    if (!r.ok) {
      this.malformed(r.error, source);
      return;
    }
    if (r.kind !== 'message') {
      if (r.kind === 'ping') {
        l.send(CRLF, port, address);
        this.opts.onEvent?.({ type: 'keepalive', transport: 'UDP', from: { address, port }, kind: 'crlf' });
      } else this.opts.onEvent?.({ type: 'pong', transport: 'UDP', from: { address, port }, flow: source.flow });
      return;
    }
    const msg = r.value;
    // a body kept from a native datagram (an INVITE's SDP, for the call's life) would keep its whole
    // 64 KB arena alive: it gets memory of its own, not from Buffer's pool, whose blocks are 64 KB
    // too (headers are strings already)
    if (msg.body.length > 0 && l.sockets === 'native') msg.body = ownCopy(msg.body);
    this.deliver(msg, source);
  }

  /** RFC 5626 4.4.2: a STUN Binding request on the SIP UDP port is answered with the reflexive address. */
  private stunKeepalive(l: UdpListener, buf: Buffer, address: string, port: number): void {
    const d = decodeStun(buf);
    if (!d.ok || d.value.cls !== StunClass.Request || d.value.method !== StunMethod.Binding || d.value.classic) return;
    const mapped = { family: net.isIP(address) === 6 ? (6 as const) : (4 as const), address, port };
    const res = encodeStun({ method: StunMethod.Binding, cls: StunClass.SuccessResponse, transactionId: Buffer.from(d.value.transactionId) }, [{ type: Attr.XorMappedAddress, value: mapped }], {
      fingerprint: d.value.fingerprintOffset >= 0,
    });
    l.send(res, port, address);
    this.opts.onEvent?.({ type: 'keepalive', transport: 'UDP', from: { address, port }, kind: 'stun' });
  }

  private deliver(msg: SipMessage, source: SipSource): void {
    this.opts.onEvent?.({ type: 'message', transport: source.transport, kind: msg.kind });
    if (msg.kind === 'request') stampVia(msg, source.address, source.port);
    this.opts.onMessage(msg, source);
  }

  /** A message the parser refused: 400 (505 for the version) when a response is possible, else dropped. */
  private malformed(error: SipParseError, source: SipSource): void {
    let answered = false;
    if (error.responsePossible && error.request !== undefined) {
      const req = error.request;
      stampVia(req, source.address, source.port);
      const res = createResponse(req, error.code === 'BAD_VERSION' ? 505 : 400, { reason: error.reason });
      answered = this.respond(res, source);
    }
    this.opts.onEvent?.({ type: 'malformed', transport: source.transport, from: { address: source.address, port: source.port }, code: error.code, reason: error.reason, answered });
  }

  private accept(transport: 'TCP' | 'TLS', socket: net.Socket): void {
    if (this.stopped || socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    const remote = { address: canonicalIp(socket.remoteAddress), port: socket.remotePort ?? 0 };
    const c = new SipConnection(transport, remote, { address: socket.localAddress ?? '', port: socket.localPort ?? 0 }, true, socket, undefined, this.opts.limits);
    this.attach(c);
  }

  private notUpgrade(res: http.ServerResponse): void {
    res.writeHead(426, { Upgrade: 'websocket', 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('SIP over WebSocket (RFC 7118): connect with the WebSocket subprotocol "sip"\n');
  }

  /** RFC 7118 4.1: a WebSocket handshake must offer the "sip" subprotocol; others get 400. */
  private onUpgrade(transport: 'WS' | 'WSS', req: http.IncomingMessage, duplex: Duplex, head: Buffer): void {
    const socket = duplex as net.Socket;
    if (this.stopped || socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    const from = { address: canonicalIp(socket.remoteAddress), port: socket.remotePort ?? 0 };
    if (this.limited(transport, from.address, from.port)) {
      socket.destroy();
      return;
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    if (!offered.includes('sip')) {
      const body = 'the WebSocket subprotocol "sip" is required (RFC 7118)\n';
      socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      this.opts.onEvent?.({ type: 'websocket-refused', transport, from, reason: 'no sip subprotocol' });
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.stopped) {
        ws.terminate();
        return;
      }
      const c = new SipConnection(transport, from, { address: canonicalIp(socket.localAddress ?? ''), port: socket.localPort ?? 0 }, true, socket, ws, this.opts.limits);
      this.attach(c);
    });
  }

  private attach(c: SipConnection): void {
    const old = this.connections.get(c.key);
    this.connections.set(c.key, c);
    this.byId.set(c.id, c);
    if (old && old !== c) old.close();
    if (c.ws !== undefined) {
      const ws = c.ws;
      ws.on('message', (data: RawData) => this.onWsMessage(c, rawToBuffer(data)));
      ws.on('pong', () => this.onPong(c));
      ws.on('ping', () => (c.lastActivity = Date.now()));
      ws.on('error', () => undefined); // 'close' follows
      ws.on('close', () => this.detach(c, c.closed ? 'closed' : 'peer closed'));
    } else if (c.socket !== undefined) {
      const s = c.socket;
      s.setNoDelay(true);
      s.on('data', (chunk: Buffer) => this.onStreamData(c, chunk));
      s.on('error', () => undefined); // 'close' follows
      s.on('close', () => this.detach(c, c.closed ? 'closed' : 'peer closed'));
    }
    this.opts.onEvent?.({ type: 'connection-open', connection: c, inbound: c.inbound });
  }

  private detach(c: SipConnection, reason: string): void {
    c.closed = true;
    if (this.connections.get(c.key) === c) this.connections.delete(c.key);
    if (this.byId.delete(c.id)) this.opts.onEvent?.({ type: 'connection-closed', connection: c, reason });
  }

  private onPong(c: SipConnection): void {
    c.lastActivity = Date.now();
    c.pongs++;
    this.opts.onEvent?.({ type: 'pong', transport: c.transport, from: c.remote, flow: c.id });
  }

  private onStreamData(c: SipConnection, chunk: Buffer): void {
    c.lastActivity = Date.now();
    if (c.closed || c.parser === undefined) return;
    const from = c.remote;
    for (const ev of c.parser.push(chunk)) {
      const source: SipSource = { transport: c.transport, address: from.address, port: from.port, local: c.local, connection: c, flow: c.id };
      switch (ev.kind) {
        case 'ping':
          c.write(CRLF);
          this.opts.onEvent?.({ type: 'keepalive', transport: c.transport, from, kind: 'crlf' });
          break;
        case 'pong':
          this.onPong(c);
          break;
        case 'error':
          this.malformed(ev.error, source);
          if (ev.error.fatal) {
            c.close();
            return;
          }
          break;
        case 'message':
          if (this.limited(c.transport, from.address, from.port)) break;
          c.received++;
          this.deliver(ev.value, source);
          break;
      }
    }
  }

  /** RFC 7118 5.1: each WebSocket message holds one SIP message (or a CRLF keep-alive). */
  private onWsMessage(c: SipConnection, buf: Buffer): void {
    c.lastActivity = Date.now();
    if (c.closed) return;
    const from = c.remote;
    if (this.limited(c.transport, from.address, from.port)) return;
    const source: SipSource = { transport: c.transport, address: from.address, port: from.port, local: c.local, connection: c, flow: c.id };
    const r = parseDatagram(buf, this.limits);
    if (!r.ok) {
      this.malformed(r.error, source);
      return;
    }
    if (r.kind !== 'message') {
      if (r.kind === 'ping') {
        c.write(CRLF);
        this.opts.onEvent?.({ type: 'keepalive', transport: c.transport, from, kind: 'crlf' });
      } else this.onPong(c);
      return;
    }
    c.received++;
    this.deliver(r.value, source);
  }

  private sweep(): void {
    this.limiter.sweep();
    const old = Date.now() - this.opts.idleTimeoutMs;
    for (const c of this.byId.values()) if (c.lastActivity < old) c.close();
  }

  // ------------------------------------------------------------ sending

  /**
   * Sends a response on its response path (RFC 3261 18.2.2, with RFC 3581 symmetric response
   * routing for UDP: always back to the source address and port, which is what gets through a NAT).
   * Over TCP/TLS it uses the connection the request came on, or opens a new one to the source IP
   * and the Via sent-by port when that connection is gone. Over WebSocket only the connection
   * the request came on can carry it (RFC 7118 5.2).
   */
  respond(res: SipResponse, source: SipSource): boolean {
    const buf = res.toBuffer();
    if (source.transport === 'UDP') return this.sendUdp(buf, source.address, source.port, 'response', source.socket);
    return this.respondStream(buf, source, res);
  }

  /**
   * respond() of a response's bytes (made by toBuffer): a completed transaction resending what it
   * sent. Without the response, a new connection goes to the transport's default port.
   */
  respondEncoded(buf: Buffer, source: SipSource): boolean {
    if (source.transport === 'UDP') return this.sendUdp(buf, source.address, source.port, 'response', source.socket);
    return this.respondStream(buf, source, undefined);
  }

  private respondStream(buf: Buffer, source: SipSource, res: SipResponse | undefined): boolean {
    const c = source.connection;
    if (c !== undefined && !c.closed) {
      c.sent++;
      c.write(buf);
      this.opts.onEvent?.({ type: 'sent', transport: c.transport, kind: 'response', bytes: buf.length });
      return true;
    }
    if (source.transport === 'WS' || source.transport === 'WSS') return false;
    const viaPort = res?.topVia?.port ?? DEFAULT_PORTS[source.transport];
    return this.sendStream({ transport: source.transport, address: source.address, port: viaPort }, buf, 'response');
  }

  /** A TransactionChannel answering on a request's response path. */
  responseChannel(source: SipSource): ResponseChannel {
    return new ResponseChannel(this, source);
  }

  /**
   * Sends a message to a next hop: on the target's flow when it names a live one, else by address,
   * reusing a connection to that address. A request over UDP larger than maxUdpPacketSize goes
   * over TCP instead (selectTransport), its top Via (this node's) saying so. onError is told when
   * a connection cannot be made or fails before the message is written.
   */
  send(msg: SipMessage, target: SipTarget, onError?: (reason: string) => void): boolean {
    return this.dispatch(msg, target, onError) !== undefined;
  }

  /** send(), telling which transport the message went over (undefined: not sent). */
  dispatch(msg: SipMessage, target: SipTarget, onError?: (reason: string) => void): SipTransportName | undefined {
    if (target.flow !== undefined) {
      const f = this.resolveFlow(target.flow);
      if (f !== undefined) {
        if ('connection' in f) {
          const c = f.connection;
          this.retarget(msg, c.transport);
          const buf = msg.toBuffer();
          c.sent++;
          c.write(buf);
          this.opts.onEvent?.({ type: 'sent', transport: c.transport, kind: msg.kind, bytes: buf.length });
          return c.transport;
        }
        this.retarget(msg, 'UDP');
        return this.sendUdp(msg.toBuffer(), f.address, f.port, msg.kind, f.socket) ? 'UDP' : undefined;
      }
      if (target.transport === 'WS' || target.transport === 'WSS') {
        onError?.('the WebSocket flow is gone');
        return undefined;
      }
    }
    let buf = msg.toBuffer();
    const transport = selectTransport({ kind: msg.kind, bytes: buf.length }, { ...target, flow: undefined }, { maxUdpPacketSize: this.maxUdpPacketSize, tcpEnabled: this.opts.tcpPort > 0 });
    if (transport !== target.transport) {
      this.retarget(msg, transport);
      this.opts.onEvent?.({ type: 'transport-switched', from: target.transport, to: transport, bytes: buf.length, target: { address: target.address, port: target.port } });
      buf = msg.toBuffer();
    }
    if (transport === 'UDP') return this.sendUdp(buf, target.address, target.port, msg.kind) ? 'UDP' : undefined;
    return this.sendStream({ ...target, transport }, buf, msg.kind, onError) ? transport : undefined;
  }

  /**
   * A TransactionChannel to a next hop (for client transactions). It is reliable when the last
   * message went over a connection, so a request moved from UDP to TCP is not retransmitted.
   */
  channelTo(target: SipTarget, onError?: (reason: string) => void): TransactionChannel {
    let reliable = target.transport !== 'UDP';
    return {
      get reliable() {
        return reliable;
      },
      send: (m) => {
        const used = this.dispatch(m, target, onError);
        if (used !== undefined) reliable = used !== 'UDP';
        return used !== undefined;
      },
    };
  }

  /**
   * A keep-alive on a flow: CRLFCRLF on UDP, TCP and TLS (RFC 5626 4.4.1; answers come as
   * 'pong' events), a WebSocket ping on WS and WSS. false: the flow is gone.
   */
  ping(flow: string): boolean {
    const f = this.resolveFlow(flow);
    if (f === undefined) return false;
    if ('connection' in f) return f.connection.ping();
    f.socket.send(CRLF2, f.port, f.address);
    return true;
  }

  /** The request's top Via (this node's) names the transport it goes over (RFC 3261 18.1.1). */
  private retarget(msg: SipMessage, transport: SipTransportName): void {
    if (msg.kind !== 'request') return;
    const top = msg.topVia;
    if (top === undefined || top.transport === transport) return;
    const family = net.isIP(canonicalIp(top.host)) === 6 ? 6 : 4;
    const samePort = top.port === undefined || top.port === this.portOf(top.transport as SipTransportName, family);
    msg.removeTopVia();
    msg.addVia({ ...top, transport, ...(samePort ? { port: this.portOf(transport, family) } : {}) });
  }

  private resolveFlow(flow: string): { connection: SipConnection } | { socket: UdpListener; address: string; port: number } | undefined {
    const u = parseUdpFlow(flow);
    if (u === undefined) {
      const c = this.byId.get(flow);
      return c !== undefined && !c.closed ? { connection: c } : undefined;
    }
    const family = net.isIP(u.address) === 6 ? 6 : 4;
    const l = this.udp.find((x) => x.local.port === u.localPort && x.family === family);
    return l === undefined ? undefined : { socket: l, address: u.address, port: u.port };
  }

  /** A UDP send that could not go: one function for every send (node:dgram's callback still wraps it per datagram, to name the destination). */
  private readonly udpSendFailed = (reason: string, address: string, port: number): void => {
    this.opts.onEvent?.({ type: 'send-failed', transport: 'UDP', to: { address, port }, reason });
  };

  private sendUdp(buf: Buffer, address: string, port: number, kind: 'request' | 'response', via?: UdpListener): boolean {
    const family = net.isIP(address) === 6 ? 6 : 4;
    const socket = via ?? this.udp.find((l) => l.family === family);
    if (socket === undefined) {
      this.opts.onEvent?.({ type: 'send-failed', transport: 'UDP', to: { address, port }, reason: `no IPv${family} UDP socket` });
      return false;
    }
    if (!(port >= 1 && port <= 65535)) {
      // known before sending (the OS would refuse it): the caller's transaction hears of it at once and can move on
      this.opts.onEvent?.({ type: 'send-failed', transport: 'UDP', to: { address, port }, reason: `port ${port} is not a destination` });
      return false;
    }
    const refused = socket.send(buf, port, address, this.udpSendFailed);
    if (refused === undefined) {
      this.opts.onEvent?.({ type: 'sent', transport: 'UDP', kind, bytes: buf.length });
      return true;
    }
    // A datagram that cannot go fails its send, so that its transaction moves on at once (RFC 3263
    // failover, or its 503). One refused for full buffers is as if lost on the wire: the
    // transaction's retransmission may pass.
    return TRANSIENT_UDP_REFUSALS.has(refused);
  }

  private sendStream(target: SipTarget, buf: Buffer, kind: 'request' | 'response', onError?: (reason: string) => void): boolean {
    if (this.stopped) return false;
    const transport = target.transport as ConnectionTransport;
    const address = canonicalIp(target.address);
    const key = connectionKey(transport, address, target.port);
    let c = this.connections.get(key);
    if (c === undefined || c.closed) {
      const conn = this.connect(transport, address, target, onError);
      if (conn === undefined) return false;
      c = conn;
    }
    c.sent++;
    c.write(buf);
    this.opts.onEvent?.({ type: 'sent', transport, kind, bytes: buf.length });
    return true;
  }

  /** Opens an outbound connection (TCP, TLS, WS or WSS with the "sip" subprotocol). */
  private connect(transport: ConnectionTransport, address: string, target: SipTarget, onError?: (reason: string) => void): SipConnection | undefined {
    const secure = transport === 'TLS' || transport === 'WSS';
    if (secure && !this.opts.tls) return undefined;
    const serverName = target.serverName && net.isIP(target.serverName) === 0 ? target.serverName : undefined;
    const failed = (reason: string) => {
      this.opts.onEvent?.({ type: 'send-failed', transport, to: { address, port: target.port }, reason });
      onError?.(reason);
    };
    if (transport === 'WS' || transport === 'WSS') {
      const url = `${transport === 'WSS' ? 'wss' : 'ws'}://${uriHost(address)}:${target.port}/`;
      const ws = new WebSocket(url, 'sip', {
        perMessageDeflate: false,
        maxPayload: this.limits.maxMessageSize,
        handshakeTimeout: 10_000,
        ...(secure ? { rejectUnauthorized: this.opts.verifyTlsPeers ?? true, ...(this.opts.tls?.ca ? { ca: this.opts.tls.ca } : {}) } : {}),
        ...(secure && serverName ? { servername: serverName } : {}),
      });
      const conn = new SipConnection(transport, { address, port: target.port }, { address: '', port: 0 }, false, undefined, ws, this.opts.limits);
      let up = false;
      ws.once('upgrade', (res: http.IncomingMessage) => {
        conn.local = { address: canonicalIp(res.socket.localAddress ?? ''), port: res.socket.localPort ?? 0 };
      });
      ws.once('open', () => {
        up = true;
        if (ws.protocol !== 'sip') {
          failed('the server did not accept the WebSocket subprotocol "sip"');
          conn.close();
          return;
        }
        conn.flush();
      });
      ws.once('error', (e: Error) => {
        if (!up) failed(e.message);
      });
      this.attach(conn);
      return conn;
    }
    const socket =
      transport === 'TLS'
        ? tls.connect({
            host: address,
            port: target.port,
            ...(serverName ? { servername: serverName } : {}),
            rejectUnauthorized: this.opts.verifyTlsPeers ?? true,
            ...(this.opts.tls?.ca ? { ca: this.opts.tls.ca } : {}),
          })
        : net.connect({ host: address, port: target.port, noDelay: true });
    const conn = new SipConnection(transport, { address, port: target.port }, { address: '', port: 0 }, false, socket, undefined, this.opts.limits);
    let up = false;
    socket.once(transport === 'TLS' ? 'secureConnect' : 'connect', () => {
      up = true;
      conn.local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    });
    socket.once('error', (e: Error) => {
      if (!up) failed(e.message);
    });
    this.attach(conn);
    return conn;
  }
}

/** Type guard helper for callers holding a SipMessage. */
export function isRequest(m: SipMessage): m is SipRequest {
  return m.kind === 'request';
}

/** The response path of a request: the transport and the request's source (one object, no closures). */
export class ResponseChannel implements TransactionChannel {
  readonly reliable: boolean;

  constructor(
    private readonly transport: SipTransport,
    readonly source: SipSource,
  ) {
    this.reliable = source.transport !== 'UDP';
  }

  send(m: SipMessage): boolean {
    return m.kind === 'response' ? this.transport.respond(m, this.source) : false;
  }

  encode(m: SipMessage): Uint8Array {
    return m.toBuffer();
  }

  sendEncoded(wire: Uint8Array): boolean {
    return this.transport.respondEncoded(wire as Buffer, this.source);
  }
}
