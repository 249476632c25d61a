/**
 * The signaling node's TURN front (seed: "The Signaling Server authenticates these, and lets the
 * Media Engine do the actual relaying"): it authenticates Allocate with long-term credentials and
 * answers 300 Try Alternate with ALTERNATE-SERVER naming the chosen media engine's TURN address
 * (RFC 8489 section 10, RFC 8656 section 7.2). It relays nothing itself.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import {
  Attr,
  ErrorCode,
  OutAttribute,
  StreamFramer,
  StunClass,
  StunMessage,
  StunMethod,
  TransportAddress,
  LongTermPolicy,
  beginLongTerm,
  decodeMessage,
  longTermChallenge,
  verifyLongTerm,
  encodeAnswer,
  errorCodeAttribute,
  verifyFingerprint,
} from '@traverse/stun';
import { bindListeners, bindUdp, listenServer, openOrClose, type CertificateMaterial } from '@traverse/net';
import { TurnAuthUnavailableError, type TurnAuthenticator } from '@traverse/stun-turn';

export type TurnFrontTransport = 'udp' | 'tcp' | 'tls';

export interface TurnFrontOptions {
  /** `optional` listeners (e.g. IPv6 on a host without it) that fail to bind are skipped with a 'listener-skipped' event. */
  listeners: { transport: TurnFrontTransport; address: string; port: number; tls?: tls.TlsOptions; optional?: boolean }[];
  realm: string;
  /**
   * Long-term key for the password algorithm (1: MD5(username:realm:password), 2: SHA-256 of the same), or
   * undefined for an unknown user. Throwing TurnAuthUnavailableError answers 500 (the user database is down).
   */
  authenticate: TurnAuthenticator;
  /** RFC 8489 password algorithms to offer, in preference order. Default: none (RFC 5389, MD5). */
  passwordAlgorithms?: number[];
  /** Maps an RFC 8489 USERHASH to its username; when given, USERHASH is accepted. */
  resolveUserhash?: (userhash: Buffer, realm: string) => Promise<string | undefined>;
  /**
   * The media engine TURN address for this client (e.g. nearest by region); same family as the
   * client's. undefined: no media engine available (answered 508).
   */
  selectAlternate: (client: TransportAddress, username: string, transport: TurnFrontTransport) => TransportAddress | undefined;
  nonceLifetime?: number;
  nonceSecret?: Buffer;
  software?: string;
  clock?: () => number;
  onEvent?: (e: TurnFrontEvent) => void;
}

export type TurnFrontEvent =
  | { type: 'redirected'; username: string; client: TransportAddress; to: TransportAddress }
  | { type: 'auth-failed'; username: string; client: TransportAddress }
  | { type: 'auth-unavailable'; username: string; client: TransportAddress; reason: string }
  | { type: 'no-media-engine'; username: string; client: TransportAddress }
  | { type: 'listener-skipped'; listener: string; error: Error }
  | { type: 'socket-error'; error: Error };

type Reply = (b: Buffer) => void;

export class TurnFront {
  private udp: { socket: dgram.Socket; local: TransportAddress }[] = [];
  private tcp: { server: net.Server; local: TransportAddress; transport: 'tcp' | 'tls' }[] = [];
  private readonly streams = new Set<net.Socket>();
  private readonly clock: () => number;
  private readonly policy: LongTermPolicy;

  constructor(private readonly opts: TurnFrontOptions) {
    this.clock = opts.clock ?? Date.now;
    this.policy = {
      realm: opts.realm,
      nonceSecret: opts.nonceSecret ?? randomBytes(32),
      nonceLifetime: opts.nonceLifetime ?? 600,
      passwordAlgorithms: opts.passwordAlgorithms,
      userhash: opts.resolveUserhash !== undefined,
    };
  }

  get listeners(): { transport: TurnFrontTransport; address: string; port: number }[] {
    return [
      ...this.udp.map((l) => ({ transport: 'udp' as const, address: l.local.address, port: l.local.port })),
      ...this.tcp.map((l) => ({ transport: l.transport, address: l.local.address, port: l.local.port })),
    ];
  }

  /** Binds every listener; on a failure closes what it bound and rethrows (the error names the listener). */
  async start(): Promise<void> {
    await openOrClose(
      () => this.bindAll(),
      () => this.stop(),
    );
  }

  private bindAll(): Promise<void> {
    return bindListeners(
      this.opts.listeners,
      (l) => this.bindListener(l),
      (listener, error) => this.opts.onEvent?.({ type: 'listener-skipped', listener, error }),
    );
  }

  private async bindListener(l: TurnFrontOptions['listeners'][number]): Promise<void> {
    {
      const family = l.address.includes(':') ? 6 : 4;
      if (l.transport === 'udp') {
        const socket = await bindUdp(l.address, l.port);
        socket.on('error', (error) => this.opts.onEvent?.({ type: 'socket-error', error }));
        socket.on('message', (msg, rinfo) => {
          const from: TransportAddress = { family: rinfo.family === 'IPv6' ? 6 : 4, address: rinfo.address, port: rinfo.port };
          this.onBytes(msg, from, (b) => socket.send(b, rinfo.port, rinfo.address), 'udp');
        });
        this.udp.push({ socket, local: { family, address: l.address, port: socket.address().port } });
      } else {
        const onConn = (s: net.Socket) => this.onStream(s, l.transport === 'tls' ? 'tls' : 'tcp');
        const server = l.transport === 'tls' ? tls.createServer(l.tls ?? {}, onConn) : net.createServer(onConn);
        if (l.transport === 'tls') server.on('tlsClientError', () => undefined);
        const port = await listenServer(server, l);
        server.on('error', (error) => this.opts.onEvent?.({ type: 'socket-error', error }));
        this.tcp.push({
          server,
          local: { family, address: l.address, port },
          transport: l.transport === 'tls' ? 'tls' : 'tcp',
        });
      }
    }
  }

  /**
   * A new certificate for the TLS listeners: new connections get it, connections already up keep
   * theirs. A set that does not load throws and changes nothing.
   */
  setTlsCertificate(m: CertificateMaterial): void {
    const options: tls.SecureContextOptions = { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) };
    tls.createSecureContext(options);
    for (const l of this.tcp) if (l.transport === 'tls') (l.server as tls.Server).setSecureContext(options);
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.destroy();
    await Promise.all([
      ...this.udp.map((l) => new Promise<void>((r) => l.socket.close(() => r()))),
      ...this.tcp.map((l) => new Promise<void>((r) => l.server.close(() => r()))),
    ]);
    this.udp = [];
    this.tcp = [];
  }

  private onStream(s: net.Socket, transport: 'tcp' | 'tls'): void {
    this.streams.add(s);
    const framer = new StreamFramer();
    const from: TransportAddress = { family: s.remoteFamily === 'IPv6' ? 6 : 4, address: s.remoteAddress ?? '', port: s.remotePort ?? 0 };
    s.on('data', (chunk: Buffer) => {
      for (const f of framer.push(chunk)) if (f[0] < 4) this.onBytes(f, from, (b) => s.write(b), transport);
      if (framer.broken) s.destroy();
    });
    s.on('error', () => undefined);
    s.setTimeout(30_000, () => s.destroy()); // the front holds no allocation: a client is done after its redirect
    s.on('close', () => this.streams.delete(s));
  }

  private onBytes(buf: Buffer, from: TransportAddress, reply: Reply, transport: TurnFrontTransport): void {
    const d = decodeMessage(buf, { allowClassic: false });
    if (!d.ok || d.value.cls !== StunClass.Request || (d.value.fingerprintOffset >= 0 && !verifyFingerprint(d.value))) return;
    const m = d.value;
    if (m.method === StunMethod.Binding) {
      this.respond(reply, m, StunClass.SuccessResponse, [{ type: Attr.XorMappedAddress, value: from }], undefined);
      return;
    }
    if (m.method !== StunMethod.Allocate) {
      // Refresh, CreatePermission, ChannelBind...: there is never an allocation here.
      this.error(reply, m, ErrorCode.AllocationMismatch, undefined);
      return;
    }
    this.onAllocate(m, from, reply, transport).catch((e: unknown) => {
      this.opts.onEvent?.({ type: 'socket-error', error: e instanceof Error ? e : new Error(String(e)) });
      this.error(reply, m, ErrorCode.ServerError, undefined);
    });
  }

  private async onAllocate(m: StunMessage, from: TransportAddress, reply: Reply, transport: TurnFrontTransport): Promise<void> {
    const step = beginLongTerm(m, this.policy, this.clock(), from.address);
    if (step.kind === 'challenge') return this.error(reply, m, step.code, undefined, step.attributes);
    if (step.kind === 'bad-request') return this.error(reply, m, ErrorCode.BadRequest, undefined);
    let username = step.username;
    if (username === undefined && step.userhash && this.opts.resolveUserhash)
      username = await this.opts.resolveUserhash(step.userhash, step.realm);
    let key: Buffer | undefined;
    try {
      key = username === undefined ? undefined : await this.opts.authenticate(username, step.realm, step.algorithm, from);
    } catch (e) {
      if (!(e instanceof TurnAuthUnavailableError)) throw e;
      this.opts.onEvent?.({ type: 'auth-unavailable', username: username ?? '(userhash)', client: from, reason: e.message });
      return this.error(reply, m, ErrorCode.ServerError, undefined);
    }
    if (username === undefined || key === undefined || !verifyLongTerm(m, key)) {
      this.opts.onEvent?.({ type: 'auth-failed', username: username ?? '(userhash)', client: from });
      return this.error(reply, m, ErrorCode.Unauthenticated, undefined, longTermChallenge(this.policy, this.clock(), from.address));
    }
    const to = this.opts.selectAlternate(from, username, transport);
    if (to === undefined) {
      this.opts.onEvent?.({ type: 'no-media-engine', username, client: from });
      return this.error(reply, m, ErrorCode.InsufficientCapacity, key);
    }
    this.opts.onEvent?.({ type: 'redirected', username, client: from, to });
    this.error(reply, m, ErrorCode.TryAlternate, key, [{ type: Attr.AlternateServer, value: to }]);
  }

  private error(reply: Reply, m: StunMessage, code: number, key: Buffer | undefined, extra: OutAttribute[] = []): void {
    this.respond(reply, m, StunClass.ErrorResponse, [errorCodeAttribute(code), ...extra], key);
  }

  private respond(reply: Reply, m: StunMessage, cls: StunClass, attrs: OutAttribute[], key: Buffer | undefined): void {
    reply(encodeAnswer(m, cls, attrs, key, this.opts.software ?? 'traverse'));
  }
}
