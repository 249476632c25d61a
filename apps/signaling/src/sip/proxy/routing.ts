/**
 * Pure routing steps of the proxy (RFC 3261 16.3-16.6): Route pre-processing with loose and strict
 * routing (16.4, 16.12), loop detection by the branch hash (16.3 step 4, 16.6 step 8), the
 * Record-Route values this proxy adds (one, or two when the two sides are reached on different
 * transports or addresses, RFC 5658), and the flow tokens it records in them so that in-dialog
 * requests reach a party behind NAT or on a connection it opened (RFC 5626 flows).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { fnv1a, formatUri, parseNameAddr, randomToken, type NameAddr, type SipRequest, type SipUri } from '@traverse/sip';
import type { ProxyTransportName } from './local-addresses';

/** Prefix of the branches this proxy generates: the magic cookie and a marker. */
export const BRANCH_PREFIX = 'z9hG4bKtv';
const HASH_LEN = 8;

/** A place to send a request to: the transport, the address and the port. */
export interface Hop {
  transport: ProxyTransportName;
  address: string;
  port: number;
  /** TLS server name to verify (the host name the URI carried). */
  serverName?: string;
  /** The RFC 5626 flow to send on while it exists (a connection id or a UDP flow token). */
  flow?: string;
}

// ---------------------------------------------------------------- flow tokens

/**
 * The flow to one party of a dialog, recorded in a Record-Route parameter: where this node sends
 * in-dialog requests for that party instead of its Contact (behind NAT, or on a TCP/TLS
 * connection the party opened). `strict`: the party can be reached through this flow only (a NAT
 * or an RFC 5626 outbound flow); a failed strict flow answers 430 Flow Failed.
 */
export interface FlowToken extends Hop {
  strict: boolean;
  /**
   * MAC of a token one node of the cluster gives another (in the Route to it): the receiving node
   * trusts the request as relayed by a node (no authentication, not a call of its own) only when
   * the MAC verifies under the cluster's secret.
   */
  mac?: string;
}

function tokenBody(f: FlowToken): string {
  return `${f.transport.toLowerCase()}~${f.address}~${f.port}~${f.strict ? 's' : 'r'}`;
}

export function encodeFlowToken(f: FlowToken): string {
  return f.mac !== undefined ? `${tokenBody(f)}~${f.mac}` : tokenBody(f);
}

/** The MAC of a flow token under a secret (16 base64url characters). */
export function flowTokenMac(f: FlowToken, secret: Buffer): string {
  return createHmac('sha256', secret).update(tokenBody(f)).digest('base64url').slice(0, 16);
}

/** Whether a token carries a valid MAC under the secret. */
export function flowTokenVerifies(f: FlowToken, secret: Buffer): boolean {
  if (f.mac === undefined) return false;
  const want = Buffer.from(flowTokenMac(f, secret));
  const got = Buffer.from(f.mac);
  return want.length === got.length && timingSafeEqual(want, got);
}

export function decodeFlowToken(s: string | null | undefined): FlowToken | undefined {
  if (!s) return undefined;
  const p = s.split('~');
  if (p.length !== 4 && p.length !== 5) return undefined;
  if (p.length === 5 && !/^[A-Za-z0-9_-]{16}$/.test(p[4])) return undefined;
  const transport = p[0].toUpperCase();
  if (transport !== 'UDP' && transport !== 'TCP' && transport !== 'TLS' && transport !== 'WS' && transport !== 'WSS') return undefined;
  const port = Number(p[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || p[1] === '') return undefined;
  if (!/^[0-9A-Fa-f.:]+$/.test(p[1])) return undefined;
  return { transport, address: p[1], port, strict: p[3] === 's', ...(p.length === 5 ? { mac: p[4] } : {}) };
}

// ---------------------------------------------------------------- Route pre-processing (16.4)

export interface RoutePreprocessing {
  /** Route values of this proxy that were removed (or the Request-URI a strict router put there). */
  popped: NameAddr[];
  /** The previous hop was a strict router: the Request-URI was restored from the last Route. */
  strictFixed: boolean;
}

/** The URI of a Route value, when it is a SIP URI. */
function sipUriOf(na: NameAddr): SipUri | undefined {
  return na.uri.kind === 'sip' ? na.uri : undefined;
}

/**
 * RFC 3261 16.4 on a received request (mutated): when the Request-URI is a Record-Route value of
 * this proxy (a strict router sent it), the last Route value becomes the Request-URI; then every
 * Route value naming this proxy is removed from the top. undefined when a Route header is invalid.
 */
export function preprocessRoutes(req: SipRequest, isMe: (uri: SipUri) => boolean): RoutePreprocessing | undefined {
  const popped: NameAddr[] = [];
  let strictFixed = false;
  const hasRoute = req.hasHeader('route');
  const ruri = req.uri;
  if (hasRoute && ruri.kind === 'sip' && ruri.params.has('lr') && isMe(ruri)) {
    const values = req.listValues('route');
    const last = values[values.length - 1];
    const na = parseNameAddr(last);
    if (!na.ok) return undefined;
    popped.push({ uri: ruri, params: new Map() });
    if (!req.setRequestUri(na.value.uri).ok) return undefined;
    if (values.length === 1) req.removeHeader('route');
    else req.setHeader('Route', values.slice(0, -1));
    strictFixed = true;
  }
  for (;;) {
    if (!req.hasHeader('route')) break;
    const routes = req.routes();
    if (!routes.ok) return undefined;
    const top = routes.value[0];
    const u = top === undefined ? undefined : sipUriOf(top);
    if (u === undefined || !isMe(u)) break;
    req.popRoute();
    popped.push(top);
  }
  return { popped, strictFixed };
}

/** A parameter of the first of this proxy's popped Route values that has it. */
export function poppedParam(popped: readonly NameAddr[], name: string): string | undefined {
  for (const na of popped) {
    const u = sipUriOf(na);
    const v = u?.params.get(name);
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

// ---------------------------------------------------------------- loop detection

/** FNV-1a of a string, as HASH_LEN hex digits. */
function hashHex(s: string): string {
  return fnv1a(s).toString(16).padStart(HASH_LEN, '0');
}

/**
 * The loop-detection part of the branch (16.6 step 8): a hash of what identifies the request as
 * received: Request-URI, From and To tags, Call-ID, CSeq number, Route, Proxy-Require and
 * Proxy-Authorization. (The received top Via is left out: it differs when a request comes back
 * around a loop, which would hide the loop.)
 */
export function loopHash(req: SipRequest): string {
  let s = req.requestUri + '\0' + (req.fromTag ?? '') + '\0' + (req.toTag ?? '') + '\0' + req.callId + '\0' + req.cseq.seq;
  for (const h of req.headers) if (h.key === 'route' || h.key === 'proxy-require' || h.key === 'proxy-authorization') s += '\0' + h.value;
  return hashHex(s);
}

/** A fresh branch carrying the loop-detection hash. */
export function proxyBranch(hash: string): string {
  return BRANCH_PREFIX + hash + '.' + randomToken(12);
}

/** A branch for a stateless forward (ACK for 2xx): the same for every retransmission of the message. */
export function statelessBranch(received: string): string {
  return BRANCH_PREFIX + hashHex(received) + '.' + hashHex(received + '\u0001') + 'a';
}

/**
 * 16.3 step 4: the request carries a Via this proxy added (sent-by names it) whose loop hash equals
 * the request's own: it came back unchanged, a loop (a spiral has another Request-URI).
 */
export function looped(req: SipRequest, hash: string, isMeSentBy: (host: string, port: number | undefined, transport: string) => boolean): boolean {
  const vias = req.vias;
  for (let i = 0; i < vias.length; i++) {
    const v = vias[i];
    const b = v.branch;
    if (b === undefined || !b.startsWith(BRANCH_PREFIX)) continue;
    if (b.slice(BRANCH_PREFIX.length, BRANCH_PREFIX.length + HASH_LEN) !== hash) continue;
    if (isMeSentBy(v.host, v.port, v.transport)) return true;
  }
  return false;
}

/** Whether a Via of this proxy is in the request (it passed here before: a spiral or a loop). */
export function passedHere(req: SipRequest, isMeSentBy: (host: string, port: number | undefined, transport: string) => boolean): boolean {
  for (const v of req.vias) if (v.branch !== undefined && v.branch.startsWith(BRANCH_PREFIX) && isMeSentBy(v.host, v.port, v.transport)) return true;
  return false;
}

// ---------------------------------------------------------------- Record-Route

export interface RecordRouteSide {
  /** Advertised host (IPv6 bracketed) and port of this node towards that side. */
  host: string;
  port: number;
  transport: ProxyTransportName;
}

export interface RecordRouteParams {
  /** From tag of the dialog-creating request: tells the direction of in-dialog requests. */
  ftag?: string;
  /** Flow to the caller (upstream) side. */
  up?: FlowToken;
  /** Flow to the callee (downstream) side. */
  down?: FlowToken;
}

/** One Record-Route value of this proxy for a side. */
export function recordRouteValue(side: RecordRouteSide, p: RecordRouteParams): string {
  const params = new Map<string, string | null>();
  if (side.transport !== 'UDP') params.set('transport', side.transport.toLowerCase());
  params.set('lr', null);
  if (p.ftag !== undefined) params.set('ftag', p.ftag);
  if (p.up !== undefined) params.set('tvu', encodeFlowToken(p.up));
  if (p.down !== undefined) params.set('tvd', encodeFlowToken(p.down));
  return '<' + formatUri({ kind: 'sip', scheme: 'sip', host: side.host, port: side.port, params, headers: new Map() }) + '>';
}

/**
 * The Record-Route values to add, top last (add in order with prependRecordRoute): the
 * caller-facing value, then a callee-facing one when the callee side differs in transport or
 * address (RFC 5658 double Record-Route).
 */
export function recordRouteValues(up: RecordRouteSide, down: RecordRouteSide, p: RecordRouteParams): string[] {
  const first = recordRouteValue(up, p);
  if (up.transport === down.transport && up.host === down.host && up.port === down.port) return [first];
  return [first, recordRouteValue(down, p)];
}

// ---------------------------------------------------------------- header helpers

/** Puts Route values on top of the request's Route set (a Path, RFC 3327, or a route to a node). */
export function prependRoutes(req: SipRequest, values: readonly string[]): void {
  if (values.length === 0) return;
  const hs = req.headers;
  let at = hs.findIndex((h) => h.key === 'route');
  if (at < 0) {
    at = 0;
    for (let i = 0; i < hs.length; i++) if (hs[i].key === 'via' || hs[i].key === 'max-forwards') at = i + 1;
  }
  for (let i = values.length - 1; i >= 0; i--) req.addHeader('Route', values[i], at);
}

/**
 * 16.6 step 6: when the next Route value is a strict router (no lr), the Request-URI goes to the
 * end of the Route set and that value becomes the Request-URI. Returns the URI of the next hop
 * from the Route set (undefined when there is no Route).
 */
export function nextHopFromRoutes(req: SipRequest): { uri: SipUri } | { error: string } | undefined {
  if (!req.hasHeader('route')) return undefined;
  const routes = req.routes();
  if (!routes.ok) return { error: routes.error.reason };
  const top = routes.value[0];
  if (top === undefined || top.uri.kind !== 'sip') return { error: 'Route is not a SIP URI' };
  const uri = top.uri;
  if (uri.params.has('lr')) return { uri };
  // strict router
  const values = req.listValues('route');
  const rest = values.slice(1);
  rest.push('<' + req.requestUri + '>');
  const strictUri: SipUri = { ...uri, headers: new Map() };
  if (!req.setRequestUri(strictUri).ok) return { error: 'bad strict route' };
  req.setHeader('Route', rest);
  return { uri };
}

/** Removes the Proxy-Authorization values meant for this realm (RFC 3261 22.3: credentials are consumed by their proxy). */
export function removeOwnCredentials(req: SipRequest, realm: string): void {
  const values = req.headerValues('proxy-authorization');
  if (values.length === 0) return;
  const re = /realm\s*=\s*"([^"]*)"/i;
  const keep = values.filter((v) => re.exec(v)?.[1] !== realm);
  if (keep.length === values.length) return;
  req.removeHeader('proxy-authorization');
  for (const v of keep) req.addHeader('Proxy-Authorization', v);
}
