/**
 * The media engine's TURN server and secondary STUN server, started and stopped with the node:
 * listeners from the configuration, users from the authentication provider, nonces keyed with the
 * cluster secret (a nonce the signaling node's TURN front issued is good here), logs in the turn and
 * stun groups, metrics, readiness, and the media engine announced to the cluster (MediaEngineUp with
 * its TURN ports, secondary STUN address and region) so that TURN fronts elsewhere redirect to it.
 * Allocations are asked across nodes over the cluster router ('turn.allocations'), never per packet.
 */
import { Inject, Injectable, Optional, type OnApplicationBootstrap, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { AUTHENTICATION_PROVIDER, type AuthenticationProvider } from '@traverse/auth';
import { ClusterNode, ClusterRouter, MediaEngineLost, MediaEngineUp, type MediaEngineData } from '@traverse/cluster';
import { type CertificateWatcher, watchTlsCertificate } from '@traverse/net';
import { Metrics, NODE_CONTEXT, Readiness, StatusSources, type NodeContext } from '@traverse/runtime';
import { TURN_RELAY_SOCKET_BUFFER, TURN_SOCKET_BUFFER, TurnServer, type AllocationInfo, type TurnEvent, type TurnListenerOptions, type TurnRedirect } from './turn/turn-server';
import {
  SOFTWARE,
  StunServer,
  advertisedAddress,
  changeIpSecret,
  firstInterfaceAddress,
  hasIPv6,
  isWildcard,
  secondaryStunPlan,
  turnAuthenticator,
  turnNonceSecret,
  turnPasswordAlgorithms,
  turnRealm,
  turnSharing,
  type ChangeIpRelay,
  type StunEndpoint,
  type StunServerEvent,
  type TurnSharing,
} from '@traverse/stun-turn';
import { gauge, sharedCounter, totalCounter } from '@traverse/runtime';

/** Cluster router message kind: a signaling node asks a media engine for its allocations. */
export const TURN_ALLOCATIONS_REQUEST = 'turn.allocations';

export interface AllocationRow extends AllocationInfo {
  engine: string;
  node: string;
}

@Injectable()
export class MediaEngineService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  readonly name: string;
  readonly region: string;
  /** The address clients and peers reach this engine at. */
  readonly advertised: string;
  /** Its IPv6 address for IPv6 clients, when the TURN listeners also bound IPv6 (same ports). */
  advertised6: string | undefined;
  readonly sharing: TurnSharing;
  turn: TurnServer | undefined;
  private certificates: CertificateWatcher | undefined;
  secondaryStun: StunServer | undefined;
  private turnUp = false;
  private stunUp = false;
  private announced = false;
  /** The primary STUN server in this process (set by the signaling role): change-IP answers from the secondary go through it. */
  private primary: { other: [StunEndpoint] | [StunEndpoint, StunEndpoint]; relay: ChangeIpRelay } | undefined;

  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    private readonly readiness: Readiness,
    private readonly metrics: Metrics,
    private readonly status: StatusSources,
    @Inject(AUTHENTICATION_PROVIDER) private readonly auth: AuthenticationProvider,
    @Optional() private readonly cluster?: ClusterNode,
    @Optional() private readonly router?: ClusterRouter,
  ) {
    const { config } = ctx;
    this.name = config.mediaEngine.name || ctx.nodeName;
    this.region = config.mediaEngine.region.toUpperCase();
    this.advertised = advertisedAddress(config.mediaEngine.publicAddress, config.mediaEngine.address);
    this.sharing = turnSharing(config, ctx.roles);
  }

  /** TURN ports this engine offers on `advertised` (0: none). */
  get turnPorts(): { udp: number; tcp: number; tls: number } {
    const l = this.turn?.listeners ?? [];
    // the IPv4 listeners' ports (the IPv6 ones, when bound, have the same); an IPv6-only engine has only those
    const port = (t: string) => (l.find((x) => x.transport === t && !x.address.includes(':')) ?? l.find((x) => x.transport === t))?.port ?? 0;
    return { udp: port('udp'), tcp: port('tcp'), tls: port('tls') };
  }

  /** The secondary STUN server's endpoints (IP B, port one and port two), when it runs. */
  get stunEndpoints(): [StunEndpoint, StunEndpoint] | undefined {
    const s = this.secondaryStun;
    if (!s || !this.stunUp) return undefined;
    const e = s.endpoints;
    return [
      { address: this.advertised, port: e[0].port },
      { address: this.advertised, port: e[1].port },
    ];
  }

  get stunControl(): StunEndpoint | undefined {
    const c = this.secondaryStun?.controlEndpoint;
    return c ? { address: isWildcard(c.address) ? this.advertised : c.address, port: c.port } : undefined;
  }

  /** Installs the redirect policy of the TURN front (one process, shared listener). */
  setRedirect(redirect: TurnRedirect | undefined): void {
    if (this.turn) this.turn.redirect = redirect;
  }

  /** The primary STUN server of this process (the secondary hands change-IP back to it). */
  attachPrimary(other: [StunEndpoint] | [StunEndpoint, StunEndpoint], relay: ChangeIpRelay): void {
    this.primary = { other, relay };
  }

  allocations(filter: { user?: string } = {}): AllocationRow[] {
    return (this.turn?.allocations(filter) ?? []).map((a) => ({ engine: this.name, node: this.ctx.nodeName, ...a }));
  }

  async onModuleInit(): Promise<void> {
    const { config } = this.ctx;
    this.readiness.register('turn-relay', () => !config.turn.enabled || this.turnUp);
    this.status.bind('mediaEngineVersion', () => this.ctx.version);
    if (config.turn.enabled) await this.startTurn();
    const plan = secondaryStunPlan(config, this.ctx.roles);
    if (plan.run) await this.startSecondaryStun();
    else if (config.stun.enabled) this.ctx.logging.group('stun').info(`secondary STUN server not started: ${plan.why}`);
    this.readiness.register('stun-secondary', () => !plan.run || this.stunUp);
    if (this.router) this.router.handle(TURN_ALLOCATIONS_REQUEST, (m) => JSON.stringify(this.allocations(JSON.parse(m.body.toString()) as { user?: string })));
  }

  async onApplicationBootstrap(): Promise<void> {
    const node = this.cluster;
    if (!node) return;
    const data: MediaEngineData = {
      name: this.name,
      address: this.advertised,
      node: this.ctx.nodeName,
      version: this.ctx.version,
      ...(this.region ? { region: this.region } : {}),
    };
    if (this.turn) data.turn = this.turnPorts;
    if (this.advertised6) data.address6 = this.advertised6;
    const stun = this.stunEndpoints;
    const control = this.stunControl;
    if (stun) data.stun = { address: this.advertised, ports: stun.map((e) => e.port), ...(control ? { control: control.port } : {}) };
    // announced once the cluster member is live; never holds up the start
    void node.ready
      .then(() => node.publish(new MediaEngineUp(data)))
      .then(
        () => {
          this.announced = true;
          this.ctx.logging.group('turn').fine({ engine: this.name }, 'media engine announced to the cluster');
        },
        (e: Error) => this.ctx.logging.group('turn').warning({ err: e.message }, 'could not announce the media engine to the cluster'),
      );
  }

  async onModuleDestroy(): Promise<void> {
    this.turnUp = false;
    this.stunUp = false;
    if (this.announced && this.cluster) {
      await Promise.race([
        this.cluster.publish(new MediaEngineLost({ name: this.name, reason: 'stopped' })).catch(() => undefined),
        new Promise((r) => setTimeout(r, 1000).unref()),
      ]);
    }
    this.certificates?.stop();
    await this.turn?.stop();
    await this.secondaryStun?.stop();
  }

  // ---------------------------------------------------------------- TURN

  private async startTurn(): Promise<void> {
    const { config, logging } = this.ctx;
    const log = logging.group('turn');
    const t = config.turn;
    const me = config.mediaEngine;
    const bind = me.address || '0.0.0.0';
    const cert = this.ctx.publicCertificate;
    const listeners: TurnListenerOptions[] = [
      { transport: 'udp', address: bind, port: t.mediaEnginePort },
      { transport: 'tcp', address: bind, port: t.mediaEnginePort },
    ];
    const tlsOptions = { cert: cert.cert, key: cert.key, ...(cert.ca ? { ca: cert.ca } : {}) };
    if (t.mediaEngineTlsPort !== 0) listeners.push({ transport: 'tls', address: bind, port: t.mediaEngineTlsPort, tls: tlsOptions });
    const v6 = hasIPv6();
    // on all addresses: IPv6 clients too, where the host has IPv6 (skipped quietly where it cannot bind)
    if (isWildcard(me.address) && v6) {
      listeners.push({ transport: 'udp', address: '::', port: t.mediaEnginePort, optional: true }, { transport: 'tcp', address: '::', port: t.mediaEnginePort, optional: true });
      if (t.mediaEngineTlsPort !== 0) listeners.push({ transport: 'tls', address: '::', port: t.mediaEngineTlsPort, tls: tlsOptions, optional: true });
    }
    const registry = this.metrics.registry;
    const allocationEvents = sharedCounter(registry, 'traverse_turn_allocation_events_total', 'TURN allocations created and deleted (by reason)', ['event']);
    const authFailures = sharedCounter(registry, 'traverse_turn_auth_failures_total', 'TURN requests refused for bad credentials (401) or an unavailable user database (500)', ['service', 'kind']);
    const redirects = sharedCounter(registry, 'traverse_turn_redirects_total', 'Allocate requests redirected with 300 Try Alternate', ['service']);
    const denied = sharedCounter(registry, 'traverse_turn_peer_denied_total', 'Peers refused by the peer policy, by method', ['method']);
    const realm = turnRealm(config);
    this.turn = new TurnServer({
      listeners,
      // relayed sockets: on mediaEngine.address when it is IPv4 (else all IPv4 addresses), and on all IPv6 addresses
      relayAddresses: { ipv4: bind.includes(':') ? '0.0.0.0' : bind, ...(v6 ? { ipv6: bind.includes(':') && !isWildcard(bind) ? bind : '::' } : {}) },
      advertisedRelayAddresses: { ipv4: this.advertised, ...(v6 ? { ipv6: firstInterfaceAddress(6) ?? '::1' } : {}) },
      relayPorts: { min: me.relayPortMin, max: me.relayPortMax },
      realm,
      passwordAlgorithms: turnPasswordAlgorithms(config),
      authenticate: turnAuthenticator(this.auth),
      nonceSecret: turnNonceSecret(this.ctx.clusterSecret),
      peerPolicy: { allowPrivate: t.allowPrivatePeers, allow: t.allowedPeers, deny: t.deniedPeers },
      limits: { maxPerUser: t.maxAllocationsPerUser, maxTotal: t.maxAllocations ?? me.relayPortMax - me.relayPortMin + 1, defaultLifetime: t.defaultLifetime, maxLifetime: t.maxLifetime },
      maxBandwidthBytesPerSecond: (t.maxBandwidthKbps * 1000) / 8,
      socketBufferBytes: TURN_SOCKET_BUFFER,
      relaySocketBufferBytes: TURN_RELAY_SOCKET_BUFFER,
      dataPlane: me.dataPlane,
      software: SOFTWARE,
      onEvent: (e: TurnEvent) => {
        switch (e.type) {
          case 'allocation-created':
            allocationEvents.inc({ event: 'created' });
            log.fine({ id: e.id, user: e.username, client: `${e.client.address}:${e.client.port}`, relayed: e.relayed.map((r) => `${r.address}:${r.port}`) }, 'allocation created');
            break;
          case 'allocation-deleted':
            allocationEvents.inc({ event: e.reason });
            log.fine({ id: e.id, user: e.username, reason: e.reason }, 'allocation deleted');
            break;
          case 'peer-denied':
            denied.inc({ method: e.method });
            log.fine({ id: e.id, peer: e.peer, reason: e.reason, method: e.method }, 'peer denied by the peer policy');
            break;
          case 'auth-failed':
            authFailures.inc({ service: 'media-engine', kind: 'credentials' });
            log.fine({ user: e.username, client: `${e.client.address}:${e.client.port}` }, 'TURN authentication failed');
            break;
          case 'auth-unavailable':
            authFailures.inc({ service: 'media-engine', kind: 'unavailable' });
            log.warning({ user: e.username, reason: e.reason }, 'TURN authentication impossible: the user database does not answer (500 sent)');
            break;
          case 'redirected':
            redirects.inc({ service: 'media-engine' });
            log.fine({ user: e.username, client: `${e.client.address}:${e.client.port}`, to: `${e.to.address}:${e.to.port}` }, 'Allocate redirected');
            break;
          case 'listener-skipped':
            log.info({ listener: e.listener, err: e.error.message }, 'TURN listener not bound (IPv6 unavailable?): serving without it');
            break;
          case 'steering-unavailable':
            log.info(
              { listener: e.listener, reason: e.reason },
              'TURN UDP listener: the kernel cannot steer ChannelData to the data plane (SO_REUSEPORT BPF); the data plane reads the listener and hands STUN up',
            );
            break;
          case 'socket-error':
            log.warning({ err: e.error.message }, 'TURN socket error');
            break;
        }
      },
    });
    try {
      await this.turn.start();
    } catch (e) {
      const err = e as Error & { listener?: { transport: string }; code?: string };
      if (err.code === 'ERR_UDP_RELAY_UNAVAILABLE')
        throw new Error(`mediaEngine.dataPlane is 'native' but ${err.message}: set mediaEngine.dataPlane to 'auto' or 'node'`, { cause: e });
      const setting = err.listener?.transport === 'tls' ? 'turn.mediaEngineTlsPort' : 'turn.mediaEnginePort';
      throw new Error(`cannot listen for TURN (media engine) on ${err.message} (set ${setting} or mediaEngine.address, or stop what uses it)`, { cause: e });
    }
    const turn = this.turn;
    const plane = turn.dataPlane;
    if (plane.plane === 'native') log.info({ dataPlane: 'native' }, 'TURN UDP data plane: native (batched recvmmsg/sendmmsg, ChannelData relayed without JavaScript)');
    else if (plane.unavailable !== undefined)
      log.info({ dataPlane: 'node', reason: plane.unavailable }, `TURN UDP data plane: node:dgram (the native one is not available: ${plane.unavailable})`);
    else log.info({ dataPlane: 'node' }, 'TURN UDP data plane: node:dgram');
    const ports4 = this.turnPorts;
    const l6 = turn.listeners.filter((l) => l.address.includes(':'));
    const same6 = l6.length > 0 && l6.every((l) => l.port === ports4[l.transport]);
    const pub = me.publicAddress;
    this.advertised6 = pub.includes(':') ? pub : !isWildcard(me.address) && me.address.includes(':') ? me.address : same6 ? (firstInterfaceAddress(6) ?? '::1') : undefined;
    gauge(registry, 'traverse_turn_allocations', 'Live TURN allocations on this media engine', () => turn.table.size);
    totalCounter(registry, 'traverse_turn_relayed_packets_total', 'Packets relayed by TURN allocations', ['direction'], () => {
      const c = turn.totals();
      return [
        [{ direction: 'to-peer' }, c.packetsToPeers],
        [{ direction: 'to-client' }, c.packetsToClients],
      ];
    });
    totalCounter(registry, 'traverse_turn_relayed_bytes_total', 'Payload bytes relayed by TURN allocations', ['direction'], () => {
      const c = turn.totals();
      return [
        [{ direction: 'to-peer' }, c.bytesToPeers],
        [{ direction: 'to-client' }, c.bytesToClients],
      ];
    });
    totalCounter(registry, 'traverse_turn_dropped_packets_total', 'Packets a TURN allocation did not relay', ['reason'], () => [
      [{ reason: 'no-permission' }, turn.counters.droppedNoPermission],
      [{ reason: 'bandwidth' }, turn.counters.droppedBandwidth],
    ]);
    if (turn.dataPlane.plane === 'native') {
      totalCounter(registry, 'traverse_turn_data_plane_datagrams_total', 'Datagrams of the native UDP data plane, by what became of them', ['event'], () => {
        const n = turn.dataPlaneStats();
        return n
          ? [
              [{ event: 'forwarded-to-peer' }, n.forwardedToPeers],
              [{ event: 'forwarded-to-client' }, n.forwardedToClients],
              [{ event: 'handed-up' }, n.handedUp],
              [{ event: 'dropped-javascript-behind' }, n.droppedHandUp],
              [{ event: 'send-error' }, n.sendErrors],
            ]
          : [];
      });
      gauge(registry, 'traverse_turn_data_plane_routes', 'Channel bindings the native UDP data plane forwards', () => turn.dataPlaneStats()?.routes ?? 0);
    }
    this.turnUp = true;
    log.info(
      {
        engine: this.name,
        listeners: turn.listeners.map((l) => `${l.transport} ${l.address}:${l.port}`),
        advertised: this.advertised,
        ...(this.advertised6 ? { advertised6: this.advertised6 } : {}),
        relayPorts: `${me.relayPortMin}-${me.relayPortMax}`,
        realm,
        sharedWithFront: this.sharing.plain || this.sharing.tls,
      },
      'TURN server (media engine) started',
    );
    // the TLS listeners' certificate follows tls.certFile/keyFile/caFile, as the SIP and TURN front listeners' does
    const tf = config.tls;
    if (tf.certFile && turn.listeners.some((l) => l.transport === 'tls')) {
      this.certificates = watchTlsCertificate({
        what: 'TURN (media engine)',
        files: { certFile: tf.certFile, keyFile: tf.keyFile, ...(tf.caFile ? { caFile: tf.caFile } : {}) },
        current: tlsOptions,
        apply: (m) => turn.setTlsCertificate(m),
        log,
      });
    }
    const relayPorts = me.relayPortMax - me.relayPortMin + 1;
    if (t.maxAllocations !== undefined && relayPorts < t.maxAllocations)
      log.warning(
        { relayPorts: `${me.relayPortMin}-${me.relayPortMax}`, maxAllocations: t.maxAllocations },
        `the relay range holds ${relayPorts} ports, so at most ${relayPorts} allocations at once (508 beyond), fewer than turn.maxAllocations (${t.maxAllocations}): widen mediaEngine.relayPortMin/relayPortMax (and open the range in the firewall) or lower turn.maxAllocations`,
      );
  }

  // ---------------------------------------------------------------- secondary STUN

  private async startSecondaryStun(): Promise<void> {
    const { config, logging } = this.ctx;
    const log = logging.group('stun');
    const bind = config.mediaEngine.address || '0.0.0.0';
    const registry = this.metrics.registry;
    const requests = sharedCounter(registry, 'traverse_stun_requests_total', 'STUN Binding requests answered, by server and CHANGE-REQUEST', ['server', 'change']);
    const malformed = sharedCounter(registry, 'traverse_stun_malformed_total', 'STUN datagrams dropped as malformed, by server', ['server']);
    const ports: [number, number] = [config.stun.portOne, config.stun.mediaEnginePort];
    this.secondaryStun = new StunServer({
      address: bind,
      ports,
      advertisedAddress: this.advertised,
      secondary: () => this.primary,
      control: { address: bind, port: config.mediaEngine.controlPort, secret: changeIpSecret(this.ctx.clusterSecret) },
      software: SOFTWARE,
      onEvent: (e: StunServerEvent) => {
        if (e.type === 'request') requests.inc({ server: 'secondary', change: e.change });
        else if (e.type === 'malformed') malformed.inc({ server: 'secondary' });
        else if (e.type === 'relay-rejected') log.fine({ from: `${e.from.address}:${e.from.port}` }, 'change-IP relay datagram refused (forged, stale or replayed)');
        else log.warning({ err: e.error.message }, 'STUN socket error');
      },
    });
    try {
      await this.secondaryStun.start();
    } catch (e) {
      throw new Error(
        `cannot listen for the secondary STUN server on ${(e as Error).message} (set stun.portOne, stun.mediaEnginePort, mediaEngine.controlPort or mediaEngine.address, or stop what uses it)`,
        { cause: e },
      );
    }
    this.stunUp = true;
    log.info({ address: this.advertised, ports: this.secondaryStun.endpoints.map((x) => x.port), control: this.secondaryStun.controlEndpoint?.port }, 'secondary STUN server (IP B) started');
  }
}
