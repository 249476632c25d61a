/**
 * Starts and stops the SIP side of the signaling node: transports on sip.udpPort/tcpPort/tlsPort,
 * the transaction layer, the registrar over the location service, their logs (groups transport,
 * transaction, registrar, sip) and metrics, and the 'sip-listeners' readiness check.
 */
import { Inject, Injectable, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ClusterNode } from '@traverse/cluster';
import type { CertificateWatcher, ListenerName } from '@traverse/net';
import { createHmac } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import { DigestAuthenticator, TransactionLayer } from '@traverse/sip';
import { Metrics, NODE_CONTEXT, Readiness, type NodeContext } from '@traverse/runtime';
import { SipCore } from './sip-core';
import { TalliedCounter } from './tallied-counter';
import { SipTransport, type SipTransportEvent } from './transport/sip-transport';
import { TrustedHosts } from './transport/addresses';
import { watchTlsCertificate } from './transport/transport-setup';
import { createNatKeeper, createProxiedRegistrations, takeBackBindings } from './nat/nat-setup';
import type { ProxiedRegistrations } from './proxy/registration-proxy';
import type { NatKeeper } from './nat/nat-keeper';
import { Registrar, type RegisterOutcome } from './registrar/registrar';
import type { LocationService } from './registrar/location-service';
import { AUTHENTICATION_PROVIDER, type AuthenticationProvider } from '@traverse/auth';
import { SIP_TARGET_RESOLVER, type SipTargetResolver } from './dns';
import { attachProxy, createProxy } from './proxy/proxy-setup';
import type { SipProxy } from './proxy/proxy';
import type { CallRecorder, CallTracker } from './calls/call-tracker';
import { CALL_RECORDER, createCallTracker } from './calls/calls-setup';
import { routeToClusterNode } from './cluster-routing';

export const LOCATION_SERVICE = Symbol.for('traverse.LocationService');

@Injectable()
export class SipService implements OnModuleInit, OnModuleDestroy {
  transport: SipTransport | undefined;
  layer: TransactionLayer | undefined;
  core: SipCore | undefined;
  registrar: Registrar | undefined;
  proxy: SipProxy | undefined;
  calls: CallTracker | undefined;
  /** The digest realm REGISTER is challenged with. */
  realm = '';
  private listening = false;
  private certificates: CertificateWatcher | undefined;
  /** Clients registered from behind NAT, kept open with keep-alives (the Proxy Registrations table). */
  nat: NatKeeper | undefined;
  /** Registrations this node proxied to other domains' registrars (in the Proxy Registrations table too). */
  proxied: ProxiedRegistrations | undefined;

  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    private readonly readiness: Readiness,
    private readonly metrics: Metrics,
    @Inject(LOCATION_SERVICE) readonly location: LocationService,
    @Inject(AUTHENTICATION_PROVIDER) private readonly auth: AuthenticationProvider,
    @Inject(SIP_TARGET_RESOLVER) private readonly resolver: SipTargetResolver,
    @Inject(CALL_RECORDER) private readonly callRecorder: CallRecorder,
    @Optional() private readonly cluster?: ClusterNode,
  ) {}

  get nodeName(): string {
    return this.ctx.nodeName;
  }

  async onModuleInit(): Promise<void> {
    const { config, logging } = this.ctx;
    const log = logging.group('sip');
    const tlog = logging.group('transport');
    const rlog = logging.group('registrar');
    this.readiness.register('sip-listeners', () => this.listening);

    const trusted = await TrustedHosts.resolve(config.registrar.trustedHosts, (entry, err) =>
      rlog.warning({ entry, err: err.message }, 'trusted host not resolved; ignored'),
    );

    // ---------------------------------------------------------------- registrar
    this.realm = config.auth.realm || config.registrar.domains[0] || config.node.publicAddress || 'traverse';
    const authenticator = new DigestAuthenticator({
      realm: this.realm,
      algorithms: config.sip.digestAlgorithms,
      // nodes that share the cluster secret accept each other's nonces
      secret: createHmac('sha256', this.ctx.clusterSecret).update('traverse sip digest nonce').digest(),
    });
    if (config.registrar.enabled) {
      this.registrar = new Registrar({
        domains: config.registrar.domains,
        prefixes: config.registrar.prefixes,
        securityLevel: config.registrar.securityLevel,
        minExpires: config.registrar.minExpires,
        maxExpires: config.registrar.maxExpires,
        defaultExpires: config.registrar.defaultExpires,
        rejectAcrossNat: config.registrar.rejectAcrossNat,
        nodeName: this.ctx.nodeName,
        location: this.location,
        authenticator,
        credentials: (user, realm, source) => this.auth.lookup({ user, realm, protocol: 'sip', source: { address: source.address, port: source.port } }),
        trusted: (ip, port) => trusted.has(ip, port),
      });
    }
    this.location.onRemoved((b, reason) => rlog.fine({ aor: b.aor, contact: b.contact, reason }, 'binding removed'));

    // ---------------------------------------------------------------- metrics
    const registers = [this.metrics.registry];
    const received = new TalliedCounter({ name: 'traverse_sip_messages_received_total', help: 'SIP messages received', labelNames: ['transport', 'kind'], registers });
    const sent = new TalliedCounter({ name: 'traverse_sip_messages_sent_total', help: 'SIP messages sent', labelNames: ['transport', 'kind'], registers });
    const malformed = new Counter({
      name: 'traverse_sip_malformed_total',
      help: 'SIP messages refused by the parser (answered: a 400/505 was sent)',
      labelNames: ['transport', 'answered'],
      registers,
    });
    const limited = new Counter({ name: 'traverse_sip_rate_limited_total', help: 'SIP messages dropped by the per-source rate limit', labelNames: ['transport'], registers });
    const sendFailures = new Counter({
      name: 'traverse_sip_send_failures_total',
      help: 'SIP messages that could not be sent (UDP: a bad destination, or the OS did not take the datagram; TCP/TLS/WS: no connection)',
      labelNames: ['transport'],
      registers,
    });
    const keepalives = new Counter({ name: 'traverse_sip_keepalives_total', help: 'Keep-alives answered (RFC 5626 CRLF and STUN)', labelNames: ['transport', 'kind'], registers });
    const registerResponses = new TalliedCounter({ name: 'traverse_sip_register_responses_total', help: 'Responses to REGISTER by status', labelNames: ['status'], registers });
    const txEnded = new TalliedCounter({ name: 'traverse_sip_transactions_ended_total', help: 'SIP transactions ended, by kind and reason', labelNames: ['kind', 'reason'], registers });
    const connections = () => this.transport?.connectionCount ?? 0;
    const transactions = (side: 'client' | 'server') => (side === 'client' ? this.layer?.clientCount : this.layer?.serverCount) ?? 0;
    const location = this.location;
    new Gauge({
      name: 'traverse_sip_connections',
      help: 'Open SIP TCP/TLS connections',
      registers,
      collect() {
        this.set(connections());
      },
    });
    new Gauge({
      name: 'traverse_sip_transactions',
      help: 'Live SIP transactions',
      labelNames: ['side'],
      registers,
      collect() {
        this.set({ side: 'client' }, transactions('client'));
        this.set({ side: 'server' }, transactions('server'));
      },
    });
    new Gauge({
      name: 'traverse_sip_registrations',
      help: 'Registered contact bindings',
      registers,
      collect() {
        this.set(location.size);
      },
    });

    // ---------------------------------------------------------------- transactions and transports
    const xlog = logging.group('transaction');
    this.layer = new TransactionLayer({
      timers: { t1: config.sip.t1Ms, t2: config.sip.t2Ms, t4: config.sip.t4Ms },
      onTerminated: (tx, reason) => {
        txEnded.inc(tx.kind, reason);
        if (reason === 'timeout' || reason === 'transport-error') xlog.fine({ kind: tx.kind, method: tx.method, callId: tx.callId, reason }, 'transaction ended');
      },
    });
    const onEvent = (e: SipTransportEvent) => {
      switch (e.type) {
        case 'message':
          received.inc(e.transport, e.kind);
          break;
        case 'sent':
          sent.inc(e.transport, e.kind);
          break;
        case 'malformed':
          malformed.inc({ transport: e.transport, answered: String(e.answered) });
          tlog.fine({ from: `${e.from.address}:${e.from.port}`, transport: e.transport, code: e.code, reason: e.reason, answered: e.answered }, 'malformed SIP message');
          break;
        case 'rate-limited':
          limited.inc({ transport: e.transport });
          break;
        case 'keepalive':
          keepalives.inc({ transport: e.transport, kind: e.kind });
          break;
        case 'pong':
          this.nat?.pong(e.flow);
          break;
        case 'transport-switched':
          tlog.fine({ from: e.from, to: e.to, bytes: e.bytes, target: `${e.target.address}:${e.target.port}` }, 'request larger than sip.maxUdpPacketSize sent over TCP');
          break;
        case 'websocket-refused':
          tlog.fine({ transport: e.transport, from: `${e.from.address}:${e.from.port}`, reason: e.reason }, 'WebSocket handshake refused');
          break;
        case 'listening': {
          const fallback = e.sockets?.unavailable;
          tlog.info(
            { transport: e.transport, address: e.local.address, port: e.local.port, ...(e.sockets ? { sockets: e.sockets.kind } : {}), ...(fallback ? { reason: fallback } : {}) },
            fallback ? `SIP listening on node:dgram sockets (the native ones are not available: ${fallback})` : 'SIP listening',
          );
          break;
        }
        case 'connection-open':
          tlog.finer({ id: e.connection.id, remote: `${e.connection.remote.address}:${e.connection.remote.port}`, inbound: e.inbound }, 'connection open');
          break;
        case 'connection-closed':
          tlog.finer({ id: e.connection.id, reason: e.reason }, 'connection closed');
          this.nat?.flowClosed(e.connection.id);
          this.proxied?.flowClosed(e.connection.id);
          break;
        case 'send-failed':
          sendFailures.inc({ transport: e.transport });
          tlog.fine({ transport: e.transport, to: `${e.to.address}:${e.to.port}`, reason: e.reason }, 'send failed');
          break;
        case 'socket-error':
          tlog.warning({ transport: e.transport, err: e.error.message }, 'SIP socket error');
          break;
      }
    };
    const cert = this.ctx.publicCertificate;
    this.transport = new SipTransport({
      hosts: config.sip.listenAddresses,
      udpPort: config.sip.udpPort,
      tcpPort: config.sip.tcpPort,
      tlsPort: config.sip.tlsPort,
      wsPort: config.sip.wsPort,
      wssPort: config.sip.wssPort,
      tls: { cert: cert.cert, key: cert.key, ...(cert.ca ? { ca: cert.ca } : {}) },
      maxUdpPacketSize: config.sip.maxUdpPacketSize,
      udpSockets: config.sip.udpSockets,
      rateLimit: { rate: config.sip.rateLimit, burst: config.sip.rateLimitBurst },
      advertisedAddress: config.sip.usePublicAddress ? config.node.publicAddress : '',
      trusted: (ip) => trusted.hasIp(ip),
      idleTimeoutMs: (config.registrar.maxExpires + 120) * 1000,
      onMessage: (m, s) => this.core!.handle(m, s),
      onEvent,
    });
    this.proxied = createProxiedRegistrations({ nodeName: this.ctx.nodeName, log: logging.group('nat'), metrics: this.metrics, ...(this.cluster ? { cluster: this.cluster } : {}) });
    this.calls = createCallTracker(this.ctx, this.metrics, this.callRecorder, this.layer.scheduler, this.layer.timers.t1);
    const proxy = createProxy({
      ctx: this.ctx,
      metrics: this.metrics,
      transport: this.transport,
      layer: this.layer,
      location: this.location,
      registrar: this.registrar,
      resolver: this.resolver,
      authenticator,
      trusted,
      auth: this.auth,
      calls: this.calls,
      ...(this.cluster ? { routeToNode: routeToClusterNode(this.cluster) } : {}),
      answerOptions: (tx) => this.core!.answerOptions(tx),
      registrations: this.proxied,
    });
    this.proxy = proxy;
    this.core = new SipCore({
      transport: this.transport,
      layer: this.layer,
      ...(this.registrar ? { registrar: this.registrar } : {}),
      log,
      onStrayAck: (ack) => proxy.ack(ack),
      onStrayResponse: (res) => proxy.strayResponse(res),
      onCancel: (invite) => proxy.cancel(invite),
      onRegister: (o: RegisterOutcome, s, nat) => {
        this.nat?.registered(o.bindings, o.response, s, nat);
        registerResponses.inc(String(o.response.status));
        const level = o.response.status === 401 ? 'finer' : 'fine';
        if (rlog.isLevelEnabled(level)) rlog[level]({ aor: o.aor, status: o.response.status, detail: o.detail, from: `${s.transport} ${s.address}:${s.port}` }, 'REGISTER');
      },
    });
    attachProxy(this.core, proxy);
    this.nat = createNatKeeper({ config, nodeName: this.ctx.nodeName, log: logging.group('nat'), metrics: this.metrics, transport: this.transport, layer: this.layer, location: this.location, ...(this.cluster ? { cluster: this.cluster } : {}) });
    const nat = this.nat;
    const transport = this.transport;
    if (this.cluster !== undefined) {
      const nlog = logging.group('nat');
      takeBackBindings({ cluster: this.cluster, nodeName: this.ctx.nodeName, keeper: nat, proxied: this.proxied }).then(
        (n) => {
          if (n.kept + n.proxied + n.released > 0) nlog.info({ natBindings: n.kept, proxied: n.proxied, released: n.released }, 'proxy registrations held before the restart taken back');
        },
        (e: Error) => nlog.warning({ err: e.message }, 'could not take back the proxy registrations held before the restart'),
      );
    }
    this.proxied.keepAlive = {
      // the NAT keep-alive interval of local registrations; proxied clients get CRLF pings whatever the method, as the registration is not ours to probe with OPTIONS
      intervalMs: () => (nat.keepAliveSettings.method === 'none' ? 0 : nat.keepAliveSettings.intervalMs),
      ping: (flow) => transport.ping(flow),
    };
    try {
      await this.transport.start();
    } catch (e) {
      const err = e as Error & { code?: string; listener?: ListenerName };
      const where = err.listener ? `${err.listener.transport} ${err.listener.address.includes(':') ? `[${err.listener.address}]` : err.listener.address}:${err.listener.port}` : '';
      throw new Error(
        `cannot listen for SIP on ${where}: ${err.code ?? err.message} (set sip.listenAddresses, sip.udpPort, sip.tcpPort, sip.tlsPort, sip.wsPort, sip.wssPort or stop what uses them)`,
        { cause: e },
      );
    }
    this.listening = true;
    this.certificates = watchTlsCertificate(config, this.transport, tlog, { cert: cert.cert, key: cert.key, ...(cert.ca ? { ca: cert.ca } : {}) });
    log.info(
      { listeners: this.transport.listeners.map((l) => `${l.transport} ${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`), realm: this.realm, registrar: config.registrar.enabled },
      'SIP started',
    );
  }

  async onModuleDestroy(): Promise<void> {
    this.listening = false;
    this.certificates?.stop();
    this.nat?.stop();
    this.proxied?.stop();
    this.proxy?.stop();
    this.calls?.stop();
    this.layer?.stop();
    await this.transport?.stop();
  }
}
