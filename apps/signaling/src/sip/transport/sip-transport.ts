/**
 * The SIP transport layer of the signaling node (RFC 3261 section 18): UDP, TCP and TLS
 * listeners (IPv4 and IPv6), connections reused by remote address, RFC 5626 keep-alives
 * (CRLF on every transport, STUN Binding on UDP), Via received/rport on incoming requests
 * (RFC 3581), 400/505 for malformed requests (others dropped), a per-source token bucket,
 * and requests larger than maxUdpPacketSize sent over TCP instead of UDP (18.1.1).
 * No Nest and no logging here: the module turns events into logs and metrics.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { Attr, StunClass, StunMethod, decodeMessage as decodeStun, encodeMessage as encodeStun, isStunMessage } from '@traverse/stun';
import {
  DEFAULT_SIP_LIMITS,
  SipStreamParser,
  createResponse,
  formatVia,
  parseDatagram,
  type SipMessage,
  type SipParseError,
  type SipParseLimits,
  type SipRequest,
  type SipResponse,
  type TransactionChannel,
} from '@traverse/sip';
import { canonicalIp, stampVia } from './addresses';
import { SourceRateLimiter } from './rate-limiter';

export type SipTransportName = 'UDP' | 'TCP' | 'TLS';

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
  /** The connection it came on (TCP, TLS). */
  readonly connection?: SipConnection;
  /** The UDP socket it came on. */
  readonly socket?: dgram.Socket;
  /** Flow token (RFC 5626): the connection id, or the UDP 5-tuple. */
  readonly flow: string;
}

export interface SipTarget {
  transport: SipTransportName;
  address: string;
  port: number;
  /** TLS server name to verify (a host name); default: the address. */
  serverName?: string;
}

export type SipTransportEvent =
  | { type: 'listening'; transport: SipTransportName; local: Endpoint }
  | { type: 'message'; transport: SipTransportName; kind: 'request' | 'response' }
  | { type: 'sent'; transport: SipTransportName; kind: 'request' | 'response'; bytes: number }
  | { type: 'malformed'; transport: SipTransportName; from: Endpoint; code: string; reason: string; answered: boolean }
  | { type: 'rate-limited'; transport: SipTransportName; from: Endpoint }
  | { type: 'keepalive'; transport: SipTransportName; from: Endpoint; kind: 'crlf' | 'stun' }
  | { type: 'connection-open'; connection: SipConnection; inbound: boolean }
  | { type: 'connection-closed'; connection: SipConnection; reason: string }
  | { type: 'send-failed'; transport: SipTransportName; to: Endpoint; reason: string }
  | { type: 'socket-error'; transport: SipTransportName; error: Error };

export interface SipTransportOptions {
  /** 0 disables a transport. */
  udpPort: number;
  tcpPort: number;
  tlsPort: number;
  /** Addresses to listen on; default 0.0.0.0 and :: (the latter skipped when the host has no IPv6). */
  hosts?: string[];
  tls?: { cert: string; key: string; ca?: string };
  /** Requests larger than this (bytes) go over TCP instead of UDP. */
  maxUdpPacketSize: number;
  limits?: Partial<SipParseLimits>;
  /** Per-source rate (messages/s) and burst; undefined: unlimited. */
  rateLimit?: { rate: number; burst: number };
  /** Sources exempt from rate limiting. */
  trusted?: (ip: string) => boolean;
  /** Close connections idle (no byte either way, keep-alives included) this long. */
  idleTimeoutMs: number;
  /** Verify the certificates of servers this node connects to over TLS (default true). */
  verifyTlsPeers?: boolean;
  onMessage: (msg: SipMessage, source: SipSource) => void;
  onEvent?: (e: SipTransportEvent) => void;
}

const CRLF = Buffer.from('\r\n');
let nextConnectionId = 1;

/** A TCP or TLS connection carrying SIP, inbound or outbound. */
export class SipConnection {
  readonly id: string;
  readonly parser: SipStreamParser;
  lastActivity = Date.now();
  closed = false;
  /** Messages received and sent on it. */
  received = 0;
  sent = 0;

  constructor(
    readonly transport: 'TCP' | 'TLS',
    readonly socket: net.Socket,
    readonly remote: Endpoint,
    public local: Endpoint,
    readonly inbound: boolean,
    limits: Partial<SipParseLimits> | undefined,
  ) {
    this.id = `${transport.toLowerCase()}-${(nextConnectionId++).toString(36)}`;
    this.parser = new SipStreamParser(limits);
  }

  /** Map key of connections: transport, remote IP and port. */
  get key(): string {
    return connectionKey(this.transport, this.remote.address, this.remote.port);
  }

  write(buf: Buffer): boolean {
    if (this.closed || this.socket.destroyed) return false;
    this.lastActivity = Date.now();
    this.socket.write(buf);
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }
}

export function connectionKey(transport: string, address: string, port: number): string {
  return `${transport}|${address}|${port}`;
}

interface UdpListener {
  socket: dgram.Socket;
  local: Endpoint;
  family: 4 | 6;
}
interface StreamListener {
  server: net.Server;
  transport: 'TCP' | 'TLS';
  local: Endpoint;
  family: 4 | 6;
}

export class SipTransport {
  private udp: UdpListener[] = [];
  private streams: StreamListener[] = [];
  private readonly connections = new Map<string, SipConnection>();
  private readonly byId = new Map<string, SipConnection>();
  private readonly limiter: SourceRateLimiter | undefined;
  private readonly limits: SipParseLimits;
  private sweeper: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: SipTransportOptions) {
    this.limits = { ...DEFAULT_SIP_LIMITS, ...(opts.limits ?? {}) };
    this.limiter = opts.rateLimit
      ? new SourceRateLimiter({ rate: opts.rateLimit.rate, burst: opts.rateLimit.burst, ...(opts.trusted ? { exempt: opts.trusted } : {}) })
      : undefined;
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
      const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6, reuseAddr: false });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(o.udpPort, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      const local = { address: socket.address().address, port: socket.address().port };
      const l: UdpListener = { socket, local, family };
      socket.on('message', (buf, rinfo) => this.onDatagram(l, buf, rinfo));
      socket.on('error', (error) => o.onEvent?.({ type: 'socket-error', transport: 'UDP', error }));
      this.udp.push(l);
      o.onEvent?.({ type: 'listening', transport: 'UDP', local });
    }
    if (o.tcpPort > 0) {
      const server = net.createServer({ noDelay: true }, (s) => this.accept('TCP', s));
      await this.listenServer(server, o.tcpPort, host, family, 'TCP');
    }
    if (o.tlsPort > 0 && o.tls) {
      const server = tls.createServer({ cert: o.tls.cert, key: o.tls.key, ...(o.tls.ca ? { ca: o.tls.ca } : {}), handshakeTimeout: 10_000 }, (s) => this.accept('TLS', s));
      server.on('tlsClientError', () => undefined);
      await this.listenServer(server, o.tlsPort, host, family, 'TLS');
    }
  }

  private async listenServer(server: net.Server, port: number, host: string, family: 4 | 6, transport: 'TCP' | 'TLS'): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, ipv6Only: family === 6 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as net.AddressInfo;
    const local = { address: a.address, port: a.port };
    server.on('error', (error) => this.opts.onEvent?.({ type: 'socket-error', transport, error }));
    this.streams.push({ server, transport, local, family });
    this.opts.onEvent?.({ type: 'listening', transport, local });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const c of [...this.byId.values()]) {
      c.closed = true;
      c.socket.destroy();
    }
    this.byId.clear();
    this.connections.clear();
    const udp = this.udp;
    const streams = this.streams;
    this.udp = [];
    this.streams = [];
    await Promise.all([
      ...udp.map((l) => new Promise<void>((r) => l.socket.close(() => r()))),
      ...streams.map((l) => new Promise<void>((r) => l.server.close(() => r()))),
    ]);
  }

  // ------------------------------------------------------------ receiving

  private limited(transport: SipTransportName, address: string, port: number): boolean {
    if (this.limiter === undefined || this.limiter.allow(address)) return false;
    this.opts.onEvent?.({ type: 'rate-limited', transport, from: { address, port } });
    return true;
  }

  private onDatagram(l: UdpListener, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    const address = canonicalIp(rinfo.address);
    if (this.limited('UDP', address, rinfo.port)) return;
    const first = buf[0];
    if (first !== undefined && first < 2 && isStunMessage(buf)) {
      this.stunKeepalive(l, buf, address, rinfo.port);
      return;
    }
    const r = parseDatagram(buf, this.limits);
    const source: SipSource = { transport: 'UDP', address, port: rinfo.port, local: l.local, socket: l.socket, flow: `udp:${l.local.port}:${address}:${rinfo.port}` };
    if (!r.ok) {
      this.malformed(r.error, source);
      return;
    }
    if (r.kind === 'ping') {
      l.socket.send(CRLF, rinfo.port, rinfo.address);
      this.opts.onEvent?.({ type: 'keepalive', transport: 'UDP', from: { address, port: rinfo.port }, kind: 'crlf' });
      return;
    }
    if (r.kind !== 'message') return;
    this.deliver(r.value, source);
  }

  /** RFC 5626 4.4.2: a STUN Binding request on the SIP UDP port is answered with the reflexive address. */
  private stunKeepalive(l: UdpListener, buf: Buffer, address: string, port: number): void {
    const d = decodeStun(buf);
    if (!d.ok || d.value.cls !== StunClass.Request || d.value.method !== StunMethod.Binding || d.value.classic) return;
    const mapped = { family: net.isIP(address) === 6 ? (6 as const) : (4 as const), address, port };
    const res = encodeStun({ method: StunMethod.Binding, cls: StunClass.SuccessResponse, transactionId: Buffer.from(d.value.transactionId) }, [{ type: Attr.XorMappedAddress, value: mapped }], {
      fingerprint: d.value.fingerprintOffset >= 0,
    });
    l.socket.send(res, port, address);
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
    const c = new SipConnection(transport, socket, remote, { address: socket.localAddress ?? '', port: socket.localPort ?? 0 }, true, this.opts.limits);
    this.attach(c);
  }

  private attach(c: SipConnection): void {
    const old = this.connections.get(c.key);
    this.connections.set(c.key, c);
    this.byId.set(c.id, c);
    if (old && old !== c) old.close();
    const s = c.socket;
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => this.onStreamData(c, chunk));
    s.on('error', () => undefined); // 'close' follows
    s.on('close', () => this.detach(c, c.closed ? 'closed' : 'peer closed'));
    this.opts.onEvent?.({ type: 'connection-open', connection: c, inbound: c.inbound });
  }

  private detach(c: SipConnection, reason: string): void {
    c.closed = true;
    if (this.connections.get(c.key) === c) this.connections.delete(c.key);
    if (this.byId.delete(c.id)) this.opts.onEvent?.({ type: 'connection-closed', connection: c, reason });
  }

  private onStreamData(c: SipConnection, chunk: Buffer): void {
    c.lastActivity = Date.now();
    if (c.closed) return;
    const from = c.remote;
    for (const ev of c.parser.push(chunk)) {
      const source: SipSource = { transport: c.transport, address: from.address, port: from.port, local: c.local, connection: c, flow: c.id };
      switch (ev.kind) {
        case 'ping':
          c.write(CRLF);
          this.opts.onEvent?.({ type: 'keepalive', transport: c.transport, from, kind: 'crlf' });
          break;
        case 'pong':
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

  private sweep(): void {
    this.limiter?.sweep();
    const old = Date.now() - this.opts.idleTimeoutMs;
    for (const c of this.byId.values()) if (c.lastActivity < old) c.close();
  }

  // ------------------------------------------------------------ sending

  /**
   * Sends a response on its response path (RFC 3261 18.2.2, with RFC 3581 symmetric response
   * routing for UDP: always back to the source address and port, which is what gets through a NAT).
   * Over TCP/TLS it uses the connection the request came on, or opens a new one to the source IP
   * and the Via sent-by port when that connection is gone.
   */
  respond(res: SipResponse, source: SipSource): boolean {
    const buf = res.toBuffer();
    if (source.transport === 'UDP') return this.sendUdp(buf, source.address, source.port, 'response', source.socket);
    const c = source.connection;
    if (c !== undefined && !c.closed) {
      c.sent++;
      c.write(buf);
      this.opts.onEvent?.({ type: 'sent', transport: c.transport, kind: 'response', bytes: buf.length });
      return true;
    }
    const viaPort = res.topVia?.port ?? (source.transport === 'TLS' ? 5061 : 5060);
    return this.sendStream({ transport: source.transport, address: source.address, port: viaPort }, buf, 'response');
  }

  /** A TransactionChannel answering on a request's response path. */
  responseChannel(source: SipSource): TransactionChannel {
    return { reliable: source.transport !== 'UDP', send: (m) => (m.kind === 'response' ? this.respond(m, source) : false) };
  }

  /**
   * Sends a message to a next hop. A request over UDP larger than maxUdpPacketSize goes over TCP
   * instead, its top Via (this node's) saying so. Connections are reused by remote address.
   * onError is told when a connection cannot be made or fails before the message is written.
   */
  send(msg: SipMessage, target: SipTarget, onError?: (reason: string) => void): boolean {
    let buf = msg.toBuffer();
    let transport = target.transport;
    if (transport === 'UDP' && msg.kind === 'request' && buf.length > this.opts.maxUdpPacketSize && this.opts.tcpPort > 0) {
      transport = 'TCP';
      const top = msg.topVia;
      if (top !== undefined && top.transport === 'UDP') {
        msg.removeTopVia();
        msg.addVia(formatVia({ ...top, transport: 'TCP' }));
        buf = msg.toBuffer();
      }
    }
    if (transport === 'UDP') return this.sendUdp(buf, target.address, target.port, msg.kind);
    return this.sendStream({ ...target, transport }, buf, msg.kind, onError);
  }

  /** A TransactionChannel to a next hop (for client transactions). */
  channelTo(target: SipTarget, onError?: (reason: string) => void): TransactionChannel {
    return { reliable: target.transport !== 'UDP', send: (m) => this.send(m, target, onError) };
  }

  private sendUdp(buf: Buffer, address: string, port: number, kind: 'request' | 'response', via?: dgram.Socket): boolean {
    const family = net.isIP(address) === 6 ? 6 : 4;
    const socket = via ?? this.udp.find((l) => l.family === family)?.socket;
    if (socket === undefined) {
      this.opts.onEvent?.({ type: 'send-failed', transport: 'UDP', to: { address, port }, reason: `no IPv${family} UDP socket` });
      return false;
    }
    socket.send(buf, port, address, (err) => {
      if (err) this.opts.onEvent?.({ type: 'send-failed', transport: 'UDP', to: { address, port }, reason: err.message });
    });
    this.opts.onEvent?.({ type: 'sent', transport: 'UDP', kind, bytes: buf.length });
    return true;
  }

  private sendStream(target: SipTarget, buf: Buffer, kind: 'request' | 'response', onError?: (reason: string) => void): boolean {
    if (this.stopped) return false;
    const transport = target.transport as 'TCP' | 'TLS';
    const address = canonicalIp(target.address);
    const key = connectionKey(transport, address, target.port);
    let c = this.connections.get(key);
    if (c === undefined || c.closed) {
      if (transport === 'TLS' && !this.opts.tls) return false;
      const socket =
        transport === 'TLS'
          ? tls.connect({
              host: address,
              port: target.port,
              ...(target.serverName && net.isIP(target.serverName) === 0 ? { servername: target.serverName } : {}),
              rejectUnauthorized: this.opts.verifyTlsPeers ?? true,
              ...(this.opts.tls?.ca ? { ca: this.opts.tls.ca } : {}),
            })
          : net.connect({ host: address, port: target.port, noDelay: true });
      const conn = new SipConnection(transport, socket, { address, port: target.port }, { address: '', port: 0 }, false, this.opts.limits);
      let up = false;
      socket.once(transport === 'TLS' ? 'secureConnect' : 'connect', () => {
        up = true;
        conn.local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
      });
      socket.once('error', (e: Error) => {
        if (!up) {
          this.opts.onEvent?.({ type: 'send-failed', transport, to: { address, port: target.port }, reason: e.message });
          onError?.(e.message);
        }
      });
      this.attach(conn);
      c = conn;
    }
    c.sent++;
    c.write(buf);
    this.opts.onEvent?.({ type: 'sent', transport, kind, bytes: buf.length });
    return true;
  }
}

/** Type guard helper for callers holding a SipMessage. */
export function isRequest(m: SipMessage): m is SipRequest {
  return m.kind === 'request';
}
