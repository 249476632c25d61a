/**
 * The target set of a request (RFC 3261 16.5): the contacts of a local user from the location
 * service, each with the way to reach it: the Path its REGISTER came through (RFC 3327), the flow
 * it registered on (RFC 5626 outbound, a NAT binding, or a TCP/TLS connection it opened), or its
 * Contact URI resolved like any other.
 */
import { parseUri, type Contact, type SipUri } from '@traverse/sip';
import type { ContactBinding } from '../registrar/location-service';
import { canonicalIp, splitHostPort } from '../transport/addresses';
import type { FlowToken, Hop } from './routing';

export interface Target {
  /** The Request-URI of the branch. */
  uri: SipUri;
  q: number;
  /** Identity in the set of URIs already tried (3xx recursion never repeats one). */
  key: string;
  /** A fixed next hop (the party's flow) instead of resolving the URI. */
  hop?: Hop;
  /** Route values to put on top of the request (the binding's Path). */
  routes?: string[];
  /** The flow to record in the Record-Route so that in-dialog requests reach this party. */
  downFlow?: FlowToken;
  /** A destination outside this node's users (another server): for end reasons and DNS. */
  external: boolean;
  /** The party's flow is gone: the branch answers 430 Flow Failed at once (RFC 5626). */
  flowGone?: boolean;
  /** The address of record this target came from, for logs. */
  aor?: string;
}

export interface BindingTargetOptions {
  nodeName: string;
  /** Whether an RFC 5626 flow (a connection id, or a UDP 5-tuple) of this node is still open. */
  flowAlive: (flow: string) => boolean;
  /** The Route to another node of the cluster that holds a flow (undefined: no such route). */
  routeToNode?: (node: string, flow: FlowToken) => string | undefined;
  /** Signs the flow token handed to another node (its MAC under the cluster's secret). */
  sign?: (flow: FlowToken) => string;
}

/** Identity of a target URI: scheme, user, host (lower case), port and transport. */
export function uriKey(u: SipUri): string {
  const t = u.params.get('transport');
  return u.scheme + ':' + (u.user ?? '') + '@' + u.host.toLowerCase() + ':' + (u.port ?? '') + ';' + (typeof t === 'string' ? t.toLowerCase() : '');
}

function transportOf(b: ContactBinding): Hop['transport'] | undefined {
  const t = (b.transport ?? 'UDP').toUpperCase();
  return t === 'UDP' || t === 'TCP' || t === 'TLS' || t === 'WS' || t === 'WSS' ? t : undefined;
}

/** The target of one binding; undefined when its contact is not a SIP URI. */
export function bindingTarget(b: ContactBinding, o: BindingTargetOptions): Target | undefined {
  const parsed = parseUri(b.contact);
  if (!parsed.ok || parsed.value.kind !== 'sip') return undefined;
  const base: Target = { uri: parsed.value, q: b.q, key: uriKey(parsed.value), external: false, aor: b.aor };
  if (b.path !== undefined && b.path.length > 0) return { ...base, routes: [...b.path] };
  const transport = transportOf(b);
  const outbound = b.flow !== undefined;
  const needsFlow = outbound || b.behindNat === true || (transport !== undefined && transport !== 'UDP');
  if (!needsFlow || transport === undefined || b.received === undefined) return base;
  const recv = splitHostPort(b.received);
  if (recv.port === undefined) return base;
  const hop: Hop = { transport, address: canonicalIp(recv.host), port: recv.port, ...(outbound ? { flow: b.flow } : {}) };
  const strict = outbound || b.behindNat === true;
  const flow: FlowToken = { ...hop, strict };
  if (b.node !== o.nodeName) {
    const route = o.routeToNode?.(b.node, o.sign ? { ...flow, mac: o.sign(flow) } : flow);
    if (route !== undefined) return { ...base, routes: [route], downFlow: flow };
    return strict ? { ...base, flowGone: true } : base;
  }
  if (outbound && !o.flowAlive(b.flow!)) return { ...base, flowGone: true };
  return { ...base, hop, downFlow: flow };
}

/** Targets of a 3xx response's contacts (RFC 3261 16.7 step 4), best q first; contacts that are not SIP URIs are left out. */
export function redirectTargets(contacts: readonly Contact[]): Target[] {
  const out: Target[] = [];
  for (const c of contacts) {
    if (c.uri.kind !== 'sip') continue;
    const uri: SipUri = { ...c.uri, headers: new Map() };
    out.push({ uri, q: c.q ?? 1, key: uriKey(uri), external: true });
  }
  return out.sort((a, b) => b.q - a.q);
}
