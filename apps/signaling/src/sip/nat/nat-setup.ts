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
import {
  NatBindingCreated,
  NatBindingRefreshed,
  NatBindingReleased,
  type ClusterNode,
  type NatBindingData,
  type NatBindingRefreshedData,
} from '@traverse/cluster';
import type { ProxyTransportName } from '../proxy/local-addresses';
import type { SipTransport } from '../transport/sip-transport';
import type { LocationService } from '../registrar/location-service';
import { NatKeeper, type NatKeepAliveSettings, type ProxyRegistration } from './nat-keeper';
import { ProxiedRegistrations, type ProxiedRegistration } from '../proxy/registration-proxy';

export function natKeepAliveSettings(sip: TraverseConfig['sip']): NatKeepAliveSettings {
  return { method: sip.natKeepAlive, intervalMs: sip.natKeepAliveInterval * 1000, failures: sip.natKeepAliveFailures };
}

/**
 * The fields of a NAT binding the cluster keeps: a registration behind NAT (NatKeeper: binding key,
 * reasons) or one proxied to another domain (ProxiedRegistrations: domain, token, path mode).
 */
type BindingFields = Pick<
  ProxyRegistration,
  | 'id'
  | 'aor'
  | 'transport'
  | 'publicAddress'
  | 'privateAddress'
  | 'expiresAt'
  | 'contact'
  | 'relay'
  | 'registeredAt'
  | 'lastSeen'
  | 'rate'
  | 'flow'
> &
  Partial<Pick<ProxyRegistration, 'key' | 'reasons'>> &
  Partial<Pick<ProxiedRegistration, 'domain' | 'token' | 'via' | 'behindNat'>>;

export function natBindingData(e: BindingFields, node: string): NatBindingData {
  const d: NatBindingData = {
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
    flow: e.flow,
  };
  if (e.key !== undefined) d.key = e.key;
  if (e.reasons !== undefined) d.reasons = [...e.reasons];
  if (e.domain !== undefined && e.token !== undefined && e.via !== undefined)
    d.proxied = { domain: e.domain, token: e.token, via: e.via, behindNat: e.behindNat ?? false };
  return d;
}

/** What a re-registration changed in a binding, for the cluster. */
export function natBindingRefreshedData(e: BindingFields): NatBindingRefreshedData {
  return {
    id: e.id,
    expiresAt: e.expiresAt,
    lastSeen: e.lastSeen,
    rate: e.rate,
    contact: e.contact,
    relay: e.relay,
    flow: e.flow,
    ...(e.token !== undefined ? { token: e.token } : {}),
    ...(e.via !== undefined ? { via: e.via } : {}),
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
    refreshed: (e: BindingFields) => publish('refresh', new NatBindingRefreshed(natBindingRefreshedData(e))),
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

const TRANSPORTS = new Set(['UDP', 'TCP', 'TLS', 'WS', 'WSS']);

/** What both kinds of entry take from a cluster row; undefined when the row lacks it (written before rows carried the flow). */
function rowFields(r: NatBindingData) {
  if (r.aor === undefined || r.flow === undefined || r.contact === undefined || !TRANSPORTS.has(r.transport)) return undefined;
  const seen = r.lastSeen ?? r.registeredAt ?? Date.now();
  return {
    id: r.id,
    aor: r.aor,
    contact: r.contact,
    transport: r.transport as ProxyTransportName,
    publicAddress: r.publicAddress,
    ...(r.privateAddress !== undefined ? { privateAddress: r.privateAddress } : {}),
    flow: r.flow,
    relay: r.relay ?? true,
    registeredAt: r.registeredAt ?? seen,
    lastSeen: seen,
    rate: r.rate ?? 0,
    expiresAt: r.expiresAt,
  };
}

/** A NatKeeper entry from its cluster row; undefined when the row lacks what the keeper needs. */
function keptEntry(r: NatBindingData): ProxyRegistration | undefined {
  const f = rowFields(r);
  if (f === undefined || r.key === undefined) return undefined;
  return { ...f, key: r.key, reasons: r.reasons ?? [], keepAlive: { sent: 0, answered: 0, failures: 0 } };
}

/** A proxied registration from its cluster row; undefined when the row lacks what the table needs. */
function proxiedEntry(r: NatBindingData): ProxiedRegistration | undefined {
  const f = rowFields(r);
  const p = r.proxied;
  if (f === undefined || p === undefined) return undefined;
  return { ...f, domain: p.domain, token: p.token, behindNat: p.behindNat, via: p.via };
}

/** This node's rows of the cluster's table as entries of the keeper and of the proxied table; `lost`: rows that cannot be taken back (they lack the flow). */
export function rowsToTakeBack(
  rows: readonly NatBindingData[],
  nodeName: string,
): { kept: ProxyRegistration[]; proxied: ProxiedRegistration[]; lost: string[] } {
  const out = { kept: [] as ProxyRegistration[], proxied: [] as ProxiedRegistration[], lost: [] as string[] };
  for (const r of rows) {
    if (r.node !== nodeName) continue;
    if (r.id.startsWith('proxied ')) {
      const e = proxiedEntry(r);
      if (e === undefined) out.lost.push(r.id);
      else out.proxied.push(e);
    } else {
      const e = keptEntry(r);
      if (e === undefined) out.lost.push(r.id);
      else out.kept.push(e);
    }
  }
  return out;
}

/**
 * After a restart, the node takes back its rows of the cluster's Proxy Registrations table (those
 * naming it): registrations behind NAT go back to the keeper, proxied ones to their table, so
 * keep-alives and routing to the clients go on without waiting for them to re-register. A row that
 * cannot be taken back is released. Returns what was done, for the log.
 */
export async function takeBackBindings(o: {
  cluster: ClusterNode;
  nodeName: string;
  keeper: NatKeeper;
  proxied: ProxiedRegistrations;
}): Promise<{ kept: number; proxied: number; released: number }> {
  await o.cluster.ready;
  const { kept, proxied, lost } = rowsToTakeBack(o.cluster.nat.list(0), o.nodeName);
  o.keeper.adopt(kept);
  o.proxied.adopt(proxied);
  await Promise.all(lost.map((id) => o.cluster.publish(new NatBindingReleased({ id, reason: 'not restorable after a restart' }))));
  return { kept: kept.length, proxied: proxied.length, released: lost.length };
}
