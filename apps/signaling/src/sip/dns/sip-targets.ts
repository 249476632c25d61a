/**
 * The pure part of locating SIP servers (RFC 3263): what to look up for a URI or a Via, how NAPTR
 * records are filtered and ordered (RFC 3403, services of RFC 3263 and RFC 7118), and how SRV
 * records are ordered by priority and weighted random selection (RFC 2782). No I/O: the
 * resolver (dns-resolver.ts) does the lookups and follows these plans.
 */
import { isIP } from 'node:net';
import type { SipUri, Via } from '@traverse/sip';
import { SipDnsError } from './errors';

/** Transports a SIP target can be reached over. */
export type SipTransportName = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** One place to send a request to: the proxy tries a list of them in order. */
export interface SipTarget {
  transport: SipTransportName;
  /** IPv4 or IPv6 address, IPv6 without brackets. */
  address: string;
  port: number;
}

export const ALL_TRANSPORTS: readonly SipTransportName[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];

/** Transports secure enough for a sips URI (RFC 3261 26.2.2: TLS on every hop). */
export function isSecureTransport(t: SipTransportName): boolean {
  return t === 'tls' || t === 'wss';
}

/** Default port of a transport: 5060/5061 (RFC 3261 19.1.2), 80/443 for WebSocket (RFC 7118, RFC 6455). */
export function defaultPort(t: SipTransportName): number {
  switch (t) {
    case 'udp':
    case 'tcp':
      return 5060;
    case 'tls':
      return 5061;
    case 'ws':
      return 80;
    case 'wss':
      return 443;
  }
}

/** The SRV owner name of a transport at a domain: _sip._udp, _sip._tcp, _sips._tcp, _sip._ws, _sips._ws (RFC 3263 4.1, RFC 7118). */
export function srvName(t: SipTransportName, domain: string): string {
  switch (t) {
    case 'udp':
      return `_sip._udp.${domain}`;
    case 'tcp':
      return `_sip._tcp.${domain}`;
    case 'tls':
      return `_sips._tcp.${domain}`;
    case 'ws':
      return `_sip._ws.${domain}`;
    case 'wss':
      return `_sips._ws.${domain}`;
  }
}

/** NAPTR services of SIP (IANA registry of RFC 3263, RFC 4168, RFC 7118) and the transport each means. SCTP is not spoken here. */
const NAPTR_SERVICES: ReadonlyMap<string, SipTransportName> = new Map([
  ['SIP+D2U', 'udp'],
  ['SIP+D2T', 'tcp'],
  ['SIPS+D2T', 'tls'],
  ['SIP+D2W', 'ws'],
  ['SIPS+D2W', 'wss'],
]);

/** The transport a NAPTR service field names, or undefined for services not listed above. */
export function naptrServiceTransport(service: string): SipTransportName | undefined {
  return NAPTR_SERVICES.get(service.toUpperCase());
}

/** A host name or IP literal with the brackets of an IPv6 reference removed, lower case, no trailing dot. */
export function bareHost(host: string): string {
  let h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h.endsWith('.') && isIP(h) === 0) h = h.slice(0, -1);
  return h.toLowerCase();
}

/** Whether a bare host is a syntactically valid DNS name we may query (RFC 1035 lengths, letters, digits, - and _). */
export function isQueryableName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  for (const label of name.split('.')) {
    if (label.length === 0 || label.length > 63) return false;
    if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/i.test(label)) return false;
  }
  return true;
}

/**
 * What to do for a URI (RFC 3263 4.1 and 4.2), before any lookup:
 * - `targets`: the TARGET is an IP literal, nothing to look up;
 * - `address`: look up A/AAAA of `host` and use `port` over `transport` (explicit port);
 * - `srv`: look up the SRV of `transport` at `host` (explicit transport, no port), else A/AAAA on the default port;
 * - `naptr`: neither transport nor port: NAPTR of `host`, then SRV, then A/AAAA.
 */
export type ResolutionPlan =
  | { kind: 'targets'; targets: SipTarget[] }
  | { kind: 'address'; host: string; port: number; transport: SipTransportName }
  | { kind: 'srv'; host: string; transport: SipTransportName }
  | { kind: 'naptr'; host: string; secure: boolean };

/**
 * Plans the resolution of a SIP or SIPS URI. TARGET is maddr when present, else the host (RFC 3263 4).
 * A sips URI is reached over TLS (or secure WebSocket) only. `transports` are those this node can open.
 * Throws SipDnsError (bad-uri, unsupported-transport) for a URI that cannot be resolved at all.
 */
export function planResolution(uri: SipUri, transports: readonly SipTransportName[]): ResolutionPlan {
  const secure = uri.scheme === 'sips';
  const maddr = uri.params.get('maddr');
  const target = bareHost(maddr !== undefined && maddr !== null && maddr !== '' ? maddr : uri.host);
  const literal = isIP(target) !== 0;
  if (!literal && !isQueryableName(target)) throw new SipDnsError('bad-uri', `"${target}" is not a valid host name`, { target });
  const param = uri.params.get('transport');
  let transport: SipTransportName | undefined;
  if (param !== undefined) {
    if (param === null || param === '') throw new SipDnsError('bad-uri', 'empty transport parameter', { target });
    transport = uriTransport(param.toLowerCase(), secure, target);
  }
  if (transport !== undefined && !transports.includes(transport)) {
    throw new SipDnsError('unsupported-transport', `transport ${transport} is not available for requests from this node`, { target });
  }
  const port = uri.port;
  if (port !== undefined && (port < 1 || port > 65535)) throw new SipDnsError('bad-uri', `port ${port} out of range`, { target });
  // 4.1: no transport given, with an IP literal or an explicit port: UDP for sip, TLS (TCP) for sips
  const fallback: SipTransportName = secure ? 'tls' : 'udp';
  if (literal) {
    const t = transport ?? fallback;
    if (transport === undefined && !transports.includes(t)) throw new SipDnsError('unsupported-transport', `transport ${t} is not available for requests from this node`, { target });
    return { kind: 'targets', targets: [{ transport: t, address: target, port: port ?? defaultPort(t) }] };
  }
  if (port !== undefined) {
    const t = transport ?? fallback;
    if (transport === undefined && !transports.includes(t)) throw new SipDnsError('unsupported-transport', `transport ${t} is not available for requests from this node`, { target });
    return { kind: 'address', host: target, port, transport: t };
  }
  if (transport !== undefined) return { kind: 'srv', host: target, transport };
  return { kind: 'naptr', host: target, secure };
}

/** The transport a URI's transport parameter asks for; in a sips URI, the secure form of it. */
function uriTransport(param: string, secure: boolean, target: string): SipTransportName {
  switch (param) {
    case 'udp':
      if (secure) throw new SipDnsError('bad-uri', 'a sips URI cannot use transport=udp', { target });
      return 'udp';
    case 'tcp':
      return secure ? 'tls' : 'tcp';
    case 'tls':
      return 'tls';
    case 'ws':
      return secure ? 'wss' : 'ws';
    case 'wss':
      return 'wss';
    default:
      throw new SipDnsError('unsupported-transport', `transport ${param} is not spoken here`, { target });
  }
}

/** A NAPTR record as the resolver returns it (node:dns NaptrRecord). */
export interface NaptrRecord {
  order: number;
  preference: number;
  flags: string;
  service: string;
  regexp: string;
  replacement: string;
}

/** A NAPTR record kept for SIP: the transport it offers and the SRV name to look up. */
export interface NaptrChoice {
  transport: SipTransportName;
  replacement: string;
  order: number;
  preference: number;
}

/**
 * The NAPTR records usable for a URI, most preferred first (RFC 3263 4.1, RFC 3403 4.1):
 * only flag "s" with an empty regexp and a replacement; only services this node can open; for a sips
 * URI only SIPS services, for a sip URI SIPS services too (4.1: kept when TLS is supported). Sorted by
 * order, then preference, answers with equal keys in the order received.
 */
export function orderNaptr(records: readonly NaptrRecord[], opts: { secure: boolean; transports: readonly SipTransportName[] }): NaptrChoice[] {
  const out: NaptrChoice[] = [];
  for (const r of records) {
    if (r.flags.toLowerCase() !== 's' || r.regexp !== '') continue;
    const replacement = bareHost(r.replacement);
    if (replacement === '' || replacement === '.' || !isQueryableName(replacement)) continue;
    const transport = naptrServiceTransport(r.service);
    if (transport === undefined || !opts.transports.includes(transport)) continue;
    if (opts.secure && !isSecureTransport(transport)) continue;
    out.push({ transport, replacement, order: r.order, preference: r.preference });
  }
  // Array.prototype.sort is stable: equal records keep the order of the answer
  return out.sort((a, b) => a.order - b.order || a.preference - b.preference);
}

/** An SRV record as the resolver returns it (node:dns SrvRecord). */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  name: string;
}

/** Whether an SRV answer says the service is decidedly not available (a single record with target ".", RFC 2782). */
export function srvSaysUnavailable(records: readonly SrvRecord[]): boolean {
  return records.length > 0 && records.every((r) => r.name === '' || r.name === '.');
}

/**
 * RFC 2782 ordering of SRV records: ascending priority; within a priority, weighted random selection
 * (records of weight 0 placed first, a number drawn uniformly in [0, sum of weights], the first record
 * whose running sum reaches it is taken, and so on until none is left). `random` returns [0, 1); the
 * same numbers give the same order whatever the order of the answer. Records whose target is "." are dropped.
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const usable = records.filter((r) => r.name !== '' && r.name !== '.');
  const priorities = [...new Set(usable.map((r) => r.priority))].sort((a, b) => a - b);
  const out: SrvRecord[] = [];
  for (const p of priorities) {
    // weight-0 records first (RFC 2782), then heavier before lighter; ties by target and port, so the
    // outcome depends on the random numbers only, not on the order of the answer (RFC 3263 4.4)
    const pool = usable
      .filter((r) => r.priority === p)
      .sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1) || b.weight - a.weight || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || a.port - b.port);
    while (pool.length > 0) {
      let sum = 0;
      for (const r of pool) sum += r.weight;
      const pick = Math.min(sum, Math.floor(random() * (sum + 1)));
      let running = 0;
      let chosen = pool.length - 1;
      for (let i = 0; i < pool.length; i++) {
        running += pool[i].weight;
        if (running >= pick) {
          chosen = i;
          break;
        }
      }
      out.push(pool[chosen]);
      pool.splice(chosen, 1);
    }
  }
  return out;
}

/** Appends targets not already in the list (same transport, address and port); returns the list. */
export function appendUnique(list: SipTarget[], add: readonly SipTarget[], max: number): SipTarget[] {
  for (const t of add) {
    if (list.length >= max) break;
    if (!list.some((x) => x.transport === t.transport && x.address === t.address && x.port === t.port)) list.push(t);
  }
  return list;
}

/** The transport a Via names (UDP, TCP, TLS, WS, WSS), or undefined for one not spoken here (SCTP, ...). */
export function viaTransport(via: Via): SipTransportName | undefined {
  const t = via.transport.toLowerCase();
  return (ALL_TRANSPORTS as readonly string[]).includes(t) ? (t as SipTransportName) : undefined;
}

/**
 * Where a response goes when sending to the source of the request failed (RFC 3263 5): the sent-by
 * of the top Via (maddr first) with its transport: an IP literal as it is; a name with a port, its
 * A/AAAA records; a name without a port, the SRV of the transport (_sips for TLS), else A/AAAA on
 * the default port.
 */
export function planVia(via: Via): ResolutionPlan {
  const transport = viaTransport(via);
  const target = bareHost(via.maddr ?? via.host);
  if (transport === undefined) throw new SipDnsError('unsupported-transport', `Via transport ${via.transport} is not spoken here`, { target });
  if (isIP(target) !== 0) return { kind: 'targets', targets: [{ transport, address: target, port: via.port ?? defaultPort(transport) }] };
  if (!isQueryableName(target)) throw new SipDnsError('bad-uri', `"${target}" is not a valid host name`, { target });
  if (via.port !== undefined) return { kind: 'address', host: target, port: via.port, transport };
  return { kind: 'srv', host: target, transport };
}
