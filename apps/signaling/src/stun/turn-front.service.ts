/**
 * The signaling node's TURN front, started and stopped with the node: it authenticates Allocate
 * with the users of the authentication provider and redirects (300 Try Alternate +
 * ALTERNATE-SERVER) to the media engine that will relay: by the client's location with
 * turn.redirectByLocation, else the default engine. With both roles in one process on the same
 * address and port, the media engine's listener serves as the front (no second bind): the engine
 * allocates itself and redirects only when the policy names another engine.
 */
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { AUTHENTICATION_PROVIDER, type AuthenticationProvider } from '@traverse/auth';
import { type CertificateMaterial, type CertificateWatcher, watchTlsCertificate } from '@traverse/net';
import { Metrics, NODE_CONTEXT, Readiness, type NodeContext } from '@traverse/runtime';
import type { TransportAddress } from '@traverse/stun';
import { TurnFront, type TurnFrontEvent, type TurnFrontOptions } from './turn-front';
import { MediaEngineDirectory, engineAddress, type TurnTransport } from './media-engine-directory';
import { SOFTWARE, hasIPv6, isWildcard, turnAuthenticator, turnNonceSecret, turnPasswordAlgorithms, turnRealm, turnSharing } from '@traverse/stun-turn';
import { sharedCounter } from '@traverse/runtime';

@Injectable()
export class TurnFrontService implements OnModuleInit, OnModuleDestroy {
  front: TurnFront | undefined;
  private up = false;
  private certificates: CertificateWatcher | undefined;

  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    private readonly readiness: Readiness,
    private readonly metrics: Metrics,
    private readonly directory: MediaEngineDirectory,
    @Inject(AUTHENTICATION_PROVIDER) private readonly auth: AuthenticationProvider,
  ) {}

  /** The alternate for a client, or undefined when no media engine offers that transport. */
  alternate(client: TransportAddress, transport: TurnTransport): { to: TransportAddress; engine: string; local: boolean; reason: string } | undefined {
    const sel = this.directory.select(client, transport);
    if (!sel) return undefined;
    const e = sel.engine;
    const address = engineAddress(e, client.family)!;
    return { to: { family: client.family, address, port: e.turn[transport] }, engine: e.name, local: e.source === 'local', reason: sel.reason };
  }

  async onModuleInit(): Promise<void> {
    const { config, logging } = this.ctx;
    const log = logging.group('turn');
    const t = config.turn;
    this.readiness.register('turn-front', () => !t.enabled || this.up);
    if (!t.enabled) {
      log.info('TURN disabled (turn.enabled is false)');
      return;
    }
    const registry = this.metrics.registry;
    const authFailures = sharedCounter(registry, 'traverse_turn_auth_failures_total', 'TURN requests refused for bad credentials (401) or an unavailable user database (500)', ['service', 'kind']);
    const redirects = sharedCounter(registry, 'traverse_turn_redirects_total', 'Allocate requests redirected with 300 Try Alternate', ['service']);
    const noEngine = sharedCounter(registry, 'traverse_turn_no_media_engine_total', 'Allocate requests answered 508: no media engine offers the transport', ['service']);
    const sharing = turnSharing(config, this.ctx.roles);
    const engine = this.directory.localEngine;
    if ((sharing.plain || sharing.tls) && engine) {
      // the engine's shared listener asks the front's policy; its own engine means "allocate here"
      engine.setRedirect((client, username, transport) => {
        if (transport === 'tls' ? !sharing.tls : !sharing.plain) return undefined;
        const a = this.alternate(client, transport);
        if (!a || a.local) return undefined;
        log.fine({ user: username, client: `${client.address}:${client.port}`, engine: a.engine, reason: a.reason }, 'Allocate sent to another media engine');
        return a.to;
      });
    }
    const bind = t.address || '0.0.0.0';
    let lastNoEngineLog = 0;
    const cert = this.ctx.publicCertificate;
    const listeners: TurnFrontOptions['listeners'] = [];
    const tlsOptions = { cert: cert.cert, key: cert.key, ...(cert.ca ? { ca: cert.ca } : {}) };
    // on all addresses: IPv6 clients too, where the host has IPv6 (skipped quietly where it cannot bind)
    const hosts = isWildcard(t.address) && hasIPv6() ? [bind, '::'] : [bind];
    for (const host of hosts) {
      const optional = host === '::';
      if (!sharing.plain) listeners.push({ transport: 'udp', address: host, port: t.port, optional }, { transport: 'tcp', address: host, port: t.port, optional });
      if (t.tlsPort !== 0 && !sharing.tls) listeners.push({ transport: 'tls', address: host, port: t.tlsPort, tls: tlsOptions, optional });
    }
    if (listeners.length === 0) {
      this.up = true;
      log.info({ port: t.port, tlsPort: t.tlsPort }, 'TURN front served by the media engine of this process (same address and ports): it allocates here');
      return;
    }
    this.front = new TurnFront({
      listeners,
      realm: turnRealm(config),
      passwordAlgorithms: turnPasswordAlgorithms(config),
      authenticate: turnAuthenticator(this.auth),
      nonceSecret: turnNonceSecret(this.ctx.clusterSecret),
      selectAlternate: (client, username, transport) => {
        const a = this.alternate(client, transport);
        if (a) log.fine({ user: username, client: `${client.address}:${client.port}`, engine: a.engine, reason: a.reason, to: `${a.to.address}:${a.to.port}` }, 'Allocate redirected');
        return a?.to;
      },
      software: SOFTWARE,
      onEvent: (e: TurnFrontEvent) => {
        switch (e.type) {
          case 'redirected':
            redirects.inc({ service: 'front' });
            break;
          case 'auth-failed':
            authFailures.inc({ service: 'front', kind: 'credentials' });
            log.fine({ user: e.username, client: `${e.client.address}:${e.client.port}` }, 'TURN authentication failed');
            break;
          case 'auth-unavailable':
            authFailures.inc({ service: 'front', kind: 'unavailable' });
            log.warning({ user: e.username, reason: e.reason }, 'TURN authentication impossible: the user database does not answer (500 sent)');
            break;
          case 'no-media-engine': {
            noEngine.inc({ service: 'front' });
            const now = Date.now();
            if (now - lastNoEngineLog > 10_000) {
              lastNoEngineLog = now;
              log.warning({ user: e.username, client: `${e.client.address}:${e.client.port}` }, 'no media engine for a TURN client (508 sent): none is up, or none offers its transport (logged at most every 10 s)');
            }
            break;
          }
          case 'listener-skipped':
            log.info({ listener: e.listener, err: e.error.message }, 'TURN front listener not bound (IPv6 unavailable?): serving without it');
            break;
          case 'socket-error':
            log.warning({ err: e.error.message }, 'TURN front socket error');
            break;
        }
      },
    });
    try {
      await this.front.start();
    } catch (e) {
      const err = e as Error & { listener?: { transport: string } };
      const setting = err.listener?.transport === 'tls' ? 'turn.tlsPort' : 'turn.port';
      throw new Error(`cannot listen for TURN (front) on ${err.message} (set ${setting} or turn.address, or stop what uses it)`, { cause: e });
    }
    this.up = true;
    if (this.front.listeners.some((l) => l.transport === 'tls')) this.certificates = this.watchCertificate(tlsOptions);
    log.info(
      {
        listeners: this.front.listeners.map((l) => `${l.transport} ${l.address}:${l.port}`),
        redirectByLocation: t.redirectByLocation,
        mediaEngines: this.directory.list().map((m) => `${m.name} ${m.address} (${m.source})`),
      },
      'TURN front started: authenticates Allocate and redirects to a media engine',
    );
  }

  /**
   * The TLS listeners' certificate follows the configured files (tls.certFile, keyFile, caFile)
   * as the SIP TLS listeners' does: new connections get a new certificate, connections up keep
   * theirs, and files that do not load leave the current one in place with a warning.
   */
  private watchCertificate(current: CertificateMaterial): CertificateWatcher | undefined {
    const t = this.ctx.config.tls;
    const front = this.front;
    if (!t.certFile || !front) return undefined;
    const log = this.ctx.logging.group('turn');
    const w = watchTlsCertificate({
      what: 'TURN',
      files: { certFile: t.certFile, keyFile: t.keyFile, ...(t.caFile ? { caFile: t.caFile } : {}) },
      current,
      apply: (m) => front.setTlsCertificate(m),
      log,
    });
    log.config({ certFile: t.certFile, keyFile: t.keyFile, ...(t.caFile ? { caFile: t.caFile } : {}) }, 'watching the TLS certificate files for changes (TURN front)');
    return w;
  }

  async onModuleDestroy(): Promise<void> {
    this.up = false;
    this.certificates?.stop();
    this.directory.localEngine?.setRedirect(undefined);
    await this.front?.stop();
  }
}
