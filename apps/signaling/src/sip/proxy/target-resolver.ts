/**
 * Where a URI leads without DNS (RFC 3263 for IP literals and the transport of a URI), and the hops
 * of the DNS resolver's ordered targets (../dns: NAPTR/SRV/A/AAAA), tried one after the other.
 */
import { isIP } from 'node:net';
import type { SipUri } from '@traverse/sip';
import type { SipTarget as ResolvedTarget } from '../dns';
import { canonicalIp } from '../transport/addresses';
import type { Hop } from './routing';

export type { SipTargetResolver, SipTarget as ResolvedTarget } from '../dns';
export type ResolvedTransport = ResolvedTarget['transport'];

/** The transport a URI asks for without DNS: its transport parameter, TLS for sips, else UDP. */
export function uriTransport(uri: SipUri): ResolvedTransport | undefined {
  const t = uri.params.get('transport');
  if (t !== undefined && t !== null) {
    const l = t.toLowerCase();
    if (l === 'udp' || l === 'tcp' || l === 'tls' || l === 'ws' || l === 'wss') return uri.scheme === 'sips' && l === 'tcp' ? 'tls' : l;
    return undefined;
  }
  return uri.scheme === 'sips' ? 'tls' : 'udp';
}

function defaultPort(t: ResolvedTransport): number {
  return t === 'tls' ? 5061 : t === 'ws' ? 80 : t === 'wss' ? 443 : 5060;
}

/** The hop of a URI whose host is an IP literal (no lookup needed); undefined for a host name or an unknown transport. */
export function literalHop(uri: SipUri): Hop | undefined {
  const host = uri.host.startsWith('[') ? uri.host.slice(1, -1) : uri.host;
  if (isIP(host) === 0) return undefined;
  const t = uriTransport(uri);
  if (t === undefined) return undefined;
  return { transport: t.toUpperCase() as Hop['transport'], address: canonicalIp(host), port: uri.port ?? defaultPort(t) };
}

/** The hops of a resolver's targets, in its order. */
export function hopsOf(targets: readonly ResolvedTarget[], serverName?: string): Hop[] {
  return targets.map((t) => {
    const transport = t.transport.toUpperCase() as Hop['transport'];
    const secure = transport === 'TLS' || transport === 'WSS';
    return { transport, address: canonicalIp(t.address), port: t.port, ...(secure && serverName !== undefined && isIP(serverName) === 0 ? { serverName } : {}) };
  });
}
