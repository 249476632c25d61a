/**
 * Builds the proxy of a signaling node from its configuration (sip, registrar sections), with its
 * logs (group 'proxy') and metrics, and binds it to SipCore: every method except REGISTER goes to
 * the proxy, and so do stray ACKs and responses and CANCELs of proxied INVITEs.
 */
import { createHmac } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import type { DigestAuthenticator, SipRequest, TransactionLayer } from '@traverse/sip';
import type { AuthenticationProvider } from '@traverse/auth';
import type { Metrics, NodeContext } from '@traverse/runtime';
import type { LocationService } from '../registrar/location-service';
import type { Registrar } from '../registrar/registrar';
import type { SipCore } from '../sip-core';
import type { TrustedHosts } from '../transport/addresses';
import type { SipTransport } from '../transport/sip-transport';
import { LocalAddresses } from './local-addresses';
import { SipProxy } from './proxy';
import { ProxyAuthenticator } from './proxy-auth';
import type { ProxyCallObserver, ProxyDeps } from './proxy-types';
import type { SipTargetResolver } from './target-resolver';
import type { ProxiedRegistrations } from './registration-proxy';

/** Timer C of INVITE branches: RFC 3261 16.8 asks for more than 3 minutes. */
export const TIMER_C_MS = 181_000;

/** Methods the proxy serves (unknown methods reach it too, through SipCore's fallback). */
export const PROXIED_METHODS = ['INVITE', 'BYE', 'OPTIONS', 'MESSAGE', 'INFO', 'UPDATE', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'PUBLISH'];

export interface ProxySetup {
  ctx: NodeContext;
  metrics: Metrics;
  transport: SipTransport;
  layer: TransactionLayer;
  location: LocationService;
  registrar: Registrar | undefined;
  resolver: SipTargetResolver;
  authenticator: DigestAuthenticator;
  trusted: TrustedHosts;
  auth: AuthenticationProvider;
  calls?: ProxyCallObserver;
  /** The Route to another node of the cluster holding a party's flow. */
  routeToNode?: ProxyDeps['routeToNode'];
  answerOptions: ProxyDeps['answerOptions'];
  /** Registrations proxied to other domains' registrars. */
  registrations?: ProxiedRegistrations;
}

export function createProxy(s: ProxySetup): SipProxy {
  const { config, logging } = s.ctx;
  const log = logging.group('proxy');
  const registers = [s.metrics.registry];
  const finals = new Counter({ name: 'traverse_proxy_final_responses_total', help: 'Final responses the proxy sent upstream, by method and status', labelNames: ['method', 'status'], registers });
  const branches = new Counter({ name: 'traverse_proxy_branches_total', help: 'Branches the proxy forwarded that ended, by outcome', labelNames: ['outcome'], registers });
  const stateless = new Counter({ name: 'traverse_proxy_stateless_total', help: 'Messages forwarded statelessly (ACK of a 2xx, stray 2xx retransmissions)', labelNames: ['kind'], registers });
  const local = new LocalAddresses({
    udpPort: config.sip.udpPort,
    tcpPort: config.sip.tcpPort,
    tlsPort: config.sip.tlsPort,
    wsPort: config.sip.wsPort,
    wssPort: config.sip.wssPort,
    publicAddress: config.node.publicAddress,
    usePublicAddress: config.sip.usePublicAddress,
    domains: config.registrar.domains,
  });
  const transport = s.transport;
  const proxy = new SipProxy(
    {
      mode: config.sip.proxyMode,
      recurseOnRedirect: config.sip.recurseOnRedirect,
      forking: config.sip.forking,
      sequentialForkingTimeMs: config.sip.sequentialForkingTime * 1000,
      homeRouting: config.sip.homeRouting,
      domainRegistrationPolicy: config.sip.domainRegistrationPolicy,
      homeProxy: config.sip.homeProxy,
      alwaysRecordRoute: config.sip.alwaysRecordRoute,
      maxForwards: config.sip.maxForwards,
      timerCMs: TIMER_C_MS,
    },
    {
      transport,
      layer: s.layer,
      location: s.location,
      local,
      resolver: s.resolver,
      nodeName: s.ctx.nodeName,
      registrarEnabled: s.registrar !== undefined,
      domains: config.registrar.domains,
      isLocalDomain: (uri) => s.registrar?.isLocal(uri) ?? false,
      userExists: (user, source) => s.auth.lookup({ user, realm: s.authenticator.realm, protocol: 'sip', source: { address: source.address, port: source.port } }),
      auth: new ProxyAuthenticator({
        securityLevel: config.registrar.securityLevel,
        authenticator: s.authenticator,
        credentials: (user, realm, source) => s.auth.lookup({ user, realm, protocol: 'sip', source: { address: source.address, port: source.port } }),
        trusted: (ip, port) => s.trusted.has(ip, port),
        location: s.location,
        ...(s.registrations ? { registeredThroughProxy: (aor: string, address: string, flow: string) => s.registrations!.registeredFrom(aor, address, flow) } : {}),
      }),
      ...(s.calls ? { calls: s.calls } : {}),
      ...(s.routeToNode ? { routeToNode: s.routeToNode } : {}),
      flowAlive: (flow) => flow.startsWith('udp:') || transport.connection(flow)?.closed === false,
      // nodes sharing the cluster secret trust each other's relays to a flow
      relaySecret: createHmac('sha256', s.ctx.clusterSecret).update('traverse sip relay').digest(),
      answerOptions: s.answerOptions,
      ...(s.registrations ? { registrations: s.registrations } : {}),
      relayNeeded: () => config.media.relay !== 'none',
      telRouting: { prefixes: config.registrar.prefixes, domains: config.registrar.domains },
      log,
      onEvent: (e) => {
        if (e.type === 'final') finals.inc({ method: e.method, status: String(e.status) });
        else if (e.type === 'branch') branches.inc({ outcome: e.outcome });
        else stateless.inc({ kind: e.kind });
      },
    },
  );
  new Gauge({
    name: 'traverse_proxy_transactions',
    help: 'Requests being proxied now',
    registers,
    collect() {
      this.set(proxy.size);
    },
  });
  log.info(
    { mode: config.sip.proxyMode, forking: config.sip.forking, recurseOnRedirect: config.sip.recurseOnRedirect, homeRouting: config.sip.homeRouting, securityLevel: config.registrar.securityLevel },
    'SIP proxy ready',
  );
  return proxy;
}

/** Binds the proxy's methods to SipCore. */
export function attachProxy(core: SipCore, proxy: SipProxy): void {
  const handler = (req: SipRequest, tx: Parameters<SipProxy['handle']>[1], source: Parameters<SipProxy['handle']>[2]) => proxy.handle(req, tx, source);
  for (const m of PROXIED_METHODS) core.setHandler(m, handler);
  core.setFallbackHandler(handler);
  core.setRegisterProxy((req, tx, source) => proxy.register(req, tx, source));
}
