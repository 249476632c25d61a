/**
 * Wiring of NAT traversal into the node: the NatKeeper over the transport, the transaction layer
 * and the location service, with sip.natKeepAlive* settings, logs (group nat), metrics, and the
 * cluster's NAT binding events (NatBindingCreated / Refreshed / Released) when the node is a
 * cluster member, so every node's NatBindings read model holds the Proxy Registrations table.
 */
import { Counter, Gauge } from 'prom-client';
import type { TransactionLayer } from '@traverse/sip';
import type { TraverseConfig } from '@traverse/config';
import type { GroupLogger } from '@traverse/logging';
import type { Metrics } from '@traverse/runtime';
import { NatBindingCreated, NatBindingRefreshed, NatBindingReleased, type ClusterNode, type NatBindingData } from '@traverse/cluster';
import type { SipTransport } from '../transport/sip-transport';
import type { LocationService } from '../registrar/location-service';
import { NatKeeper, type NatKeepAliveSettings, type ProxyRegistration } from './nat-keeper';
import { ProxiedRegistrations } from '../proxy/registration-proxy';

export function natKeepAliveSettings(sip: TraverseConfig['sip']): NatKeepAliveSettings {
  return { method: sip.natKeepAlive, intervalMs: sip.natKeepAliveInterval * 1000, failures: sip.natKeepAliveFailures };
}

/** The fields of a NAT binding (a registration behind NAT, or one proxied to another domain) the cluster keeps. */
type BindingFields = Pick<
  ProxyRegistration,
  'id' | 'aor' | 'transport' | 'publicAddress' | 'privateAddress' | 'expiresAt' | 'contact' | 'relay' | 'registeredAt' | 'lastSeen' | 'rate'
>;

export function natBindingData(e: BindingFields, node: string): NatBindingData {
  return {
    id: e.id,
    aor: e.aor,
    transport: e.transport,
    publicAddress: e.publicAddress,
    ...(e.privateAddress !== undefined ? { privateAddress: e.privateAddress } : {}),
    node,
    expiresAt: e.expiresAt,
    contact: e.contact,
    relay: e.relay,
    registeredAt: e.registeredAt,
    lastSeen: e.lastSeen,
    rate: e.rate,
  };
}

/**
 * Publishes a node's binding changes (NAT bindings, proxied registrations) as the cluster's NAT
 * binding events; a failed append is logged, never thrown.
 */
function bindingPublisher(cluster: ClusterNode | undefined, log: GroupLogger, node: string, what: string) {
  const publish = (step: string, event: Parameters<ClusterNode['publish']>[0]) => {
    cluster?.publish(event).catch((e: Error) => log.warning({ err: e.message }, `could not publish the ${what} ${step}`));
  };
  return {
    created: (e: BindingFields) => publish('creation', new NatBindingCreated(natBindingData(e, node))),
    refreshed: (e: Pick<BindingFields, 'id' | 'expiresAt' | 'lastSeen' | 'rate'>) =>
      publish('refresh', new NatBindingRefreshed({ id: e.id, expiresAt: e.expiresAt, lastSeen: e.lastSeen, rate: e.rate })),
    released: (e: Pick<BindingFields, 'id'>, reason: string) => publish('release', new NatBindingReleased({ id: e.id, reason })),
  };
}

export interface NatSetupOptions {
  config: TraverseConfig;
  nodeName: string;
  log: GroupLogger;
  metrics: Metrics;
  transport: SipTransport;
  layer: TransactionLayer;
  location: LocationService;
  /** The cluster member, when the node is one: NAT bindings are published as events. */
  cluster?: ClusterNode;
}

export function createNatKeeper(o: NatSetupOptions): NatKeeper {
  const registers = [o.metrics.registry];
  const keepalives = new Counter({
    name: 'traverse_sip_nat_keepalives_total',
    help: 'Keep-alives to registered clients behind NAT: sent, answered and failed (OPTIONS without an answer)',
    labelNames: ['method', 'outcome'],
    registers,
  });
  const unreachable = new Counter({ name: 'traverse_sip_nat_unreachable_total', help: 'Registrations removed because the client behind NAT stopped answering keep-alives or its connection closed', registers });
  const publish = bindingPublisher(o.cluster, o.log, o.nodeName, 'NAT binding');
  const keeper = new NatKeeper({
    transport: o.transport,
    layer: o.layer,
    location: o.location,
    settings: natKeepAliveSettings(o.config.sip),
    relay: () => o.config.media.relay !== 'none',
    onEvent: (e) => {
      switch (e.type) {
        case 'created':
          o.log.fine({ aor: e.entry.aor, publicAddress: e.entry.publicAddress, privateAddress: e.entry.privateAddress, transport: e.entry.transport, reasons: e.entry.reasons }, 'client behind NAT registered');
          publish.created(e.entry);
          break;
        case 'refreshed':
          publish.refreshed(e.entry);
          break;
        case 'released':
          o.log.fine({ aor: e.entry.aor, publicAddress: e.entry.publicAddress, reason: e.reason }, 'NAT binding released');
          publish.released(e.entry, e.reason);
          break;
        case 'keepalive':
          keepalives.inc({ method: e.method, outcome: e.outcome });
          break;
        case 'unreachable':
          unreachable.inc();
          o.log.info({ aor: e.entry.aor, contact: e.entry.contact, publicAddress: e.entry.publicAddress, why: e.why }, 'client behind NAT unreachable: registration removed');
          break;
      }
    },
  });
  new Gauge({
    name: 'traverse_sip_proxy_registrations',
    help: 'Registrations from clients behind NAT held by this node (kept open with keep-alives)',
    registers,
    collect() {
      this.set(keeper.size);
    },
  });
  keeper.start();
  return keeper;
}

export interface ProxiedRegistrationsOptions {
  nodeName: string;
  log: GroupLogger;
  metrics: Metrics;
  cluster?: ClusterNode;
}

/**
 * The registrations this node proxies to other domains' registrars, published as the cluster's
 * NAT binding events (ids `proxied <aor> <contact>`) so every node lists them in the Proxy
 * Registrations table, with logs (group nat) and a gauge.
 */
export function createProxiedRegistrations(o: ProxiedRegistrationsOptions): ProxiedRegistrations {
  const publish = bindingPublisher(o.cluster, o.log, o.nodeName, 'proxied registration');
  const table = new ProxiedRegistrations((e) => {
    switch (e.type) {
      case 'created':
        o.log.fine({ aor: e.entry.aor, contact: e.entry.contact, publicAddress: e.entry.publicAddress, transport: e.entry.transport, via: e.entry.via }, 'registration proxied to another domain');
        publish.created(e.entry);
        break;
      case 'refreshed':
        publish.refreshed(e.entry);
        break;
      case 'released':
        o.log.fine({ aor: e.entry.aor, contact: e.entry.contact, reason: e.reason }, 'proxied registration removed');
        publish.released(e.entry, e.reason);
        break;
    }
  });
  new Gauge({
    name: 'traverse_sip_proxied_registrations',
    help: 'Registrations this node proxied to the registrars of other domains',
    registers: [o.metrics.registry],
    collect() {
      this.set(table.size);
    },
  });
  table.start();
  return table;
}
