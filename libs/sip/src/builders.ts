import { randomFillSync } from 'node:crypto';
import { trimLws } from './chars';
import { canonicalHeaderName, formatVia, headerKey, makeVia, parseTokenList } from './headers';
import { SipHeader, SipRequest, SipResponse } from './message';
import { NameAddr, formatDisplayName, formatNameAddr, parseNameAddr } from './name-addr';
import { Uri, formatUri } from './uri';

// ------------------------------------------------------------ random identifiers

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolPos = POOL_SIZE;
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-.'; // 64 token characters

/** `n` crypto-random token characters (6 bits each). */
export function randomToken(n: number): string {
  if (poolPos + n > POOL_SIZE) {
    randomFillSync(pool);
    poolPos = 0;
  }
  let out = '';
  for (let i = 0; i < n; i++) out += ALPHABET[pool[poolPos++] & 63];
  return out;
}

/** RFC 3261 branch: magic cookie `z9hG4bK` followed by 96 random bits. */
export function generateBranch(): string {
  return 'z9hG4bK' + randomToken(16);
}

/** From/To tag: 60 random bits. */
export function generateTag(): string {
  return randomToken(10);
}

/** FNV-1a (32 bits) over the char codes of a text, from the standard offset basis or another one. */
export function fnv1a(text: string, basis = 0x811c9dc5): number {
  let h = basis;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The To tag of a response sent without a transaction (RFC 3261 8.2.7): the same for every copy
 * of one request (a retransmission gets the tag its first copy got), different for different
 * requests. Made from the first Via, From, Call-ID and CSeq as they came: 64 bits of two FNV-1a
 * hashes, in hex.
 */
export function statelessTag(req: SipRequest): string {
  // FNV-1a continues from its last value: the hashes of the values, each followed by a newline, with no joined text built
  let h1 = 0x811c9dc5;
  let h2 = 0x1b873593;
  let seen = 0;
  for (const hd of req.headers) {
    const bit = hd.key === 'via' ? 1 : hd.key === 'from' ? 2 : hd.key === 'call-id' ? 4 : hd.key === 'cseq' ? 8 : 0;
    if (bit === 0 || (seen & bit) !== 0) continue;
    seen |= bit;
    h1 = fnv1a('\n', fnv1a(hd.value, h1));
    h2 = fnv1a('\n', fnv1a(hd.value, h2));
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** Call-ID: 120 random bits, optionally `@host`. */
export function generateCallId(host?: string): string {
  const id = randomToken(20);
  return host === undefined ? id : id + '@' + host;
}

// ------------------------------------------------------------ reason phrases

export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK',
  202: 'Accepted',
  204: 'No Notification',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  412: 'Conditional Request Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  417: 'Unknown Resource-Priority',
  420: 'Bad Extension',
  421: 'Extension Required',
  422: 'Session Interval Too Small',
  423: 'Interval Too Brief',
  428: 'Use Identity Header',
  429: 'Provide Referrer Identity',
  430: 'Flow Failed',
  433: 'Anonymity Disallowed',
  439: 'First Hop Lacks Outbound Support',
  440: 'Max-Breadth Exceeded',
  469: 'Bad Info Package',
  470: 'Consent Needed',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  493: 'Undecipherable',
  494: 'Security Agreement Required',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  555: 'Push Notification Service Not Supported',
  580: 'Precondition Failure',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
  607: 'Unwanted',
  608: 'Rejected',
};

export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? REASON_PHRASES[Math.floor(status / 100) * 100] ?? 'Unknown';
}

function h(name: string, value: string): SipHeader {
  return { name, key: headerKey(name), value };
}

function strip(s: string): string {
  // reason phrases and header values must not break lines
  return s.indexOf('\r') >= 0 || s.indexOf('\n') >= 0 ? s.replace(/[\r\n]+/g, ' ') : s;
}

export interface ResponseOptions {
  /** Reason phrase; default from REASON_PHRASES. */
  reason?: string;
  /** To tag to add when the request's To has none (ignored for 100). Default: a fresh generateTag(). */
  toTag?: string;
  /** Copy Record-Route (RFC 3261 12.1.1: a UAS does so in 18x/2xx to dialog-creating requests). Default false. */
  copyRecordRoute?: boolean;
  /** Extra headers, appended in order. */
  headers?: Array<[name: string, value: string]>;
  body?: Buffer | string;
  contentType?: string;
}

/** Does this To value carry a tag parameter? Works on the raw text, so it also works when To is malformed. */
function rawHasTag(to: string): boolean {
  const r = parseNameAddr(to);
  if (r.ok) return r.value.params.has('tag');
  return /;\s*tag\s*=/i.test(to);
}

/** Whether the request's (first) To carries a tag: from its parsed To when read already, else from the raw value. */
function toHasTag(req: SipRequest, raw: string): boolean {
  const to = req._to;
  // a To that did not parse reads as a placeholder (an 'other' URI without scheme): look at the raw text then
  if (to !== undefined && !(to.uri.kind === 'other' && to.uri.scheme === '')) return to.params.has('tag');
  return rawHasTag(raw);
}

const SEEN_FROM = 1;
const SEEN_TO = 2;
const SEEN_CALL_ID = 4;
const SEEN_CSEQ = 8;

/**
 * Build a response to a request (RFC 3261 8.2.6): Via(s), From, To (+tag), Call-ID and CSeq are copied from the
 * raw request headers, so it also works for a request the parser refused with responsePossible (e.g. for a 400).
 */
export function createResponse(req: SipRequest, status: number, opts: ResponseOptions = {}): SipResponse {
  const headers: SipHeader[] = [];
  let timestamp: string | undefined;
  // only the first From, To, Call-ID and CSeq: a request refused for duplicates can still be answered
  let seen = 0;
  for (const hd of req.headers) {
    switch (hd.key) {
      case 'via':
        headers.push(hd);
        break;
      case 'from':
        if ((seen & SEEN_FROM) === 0) headers.push(hd);
        seen |= SEEN_FROM;
        break;
      case 'call-id':
        if ((seen & SEEN_CALL_ID) === 0) headers.push(hd);
        seen |= SEEN_CALL_ID;
        break;
      case 'cseq':
        if ((seen & SEEN_CSEQ) === 0) headers.push(hd);
        seen |= SEEN_CSEQ;
        break;
      case 'to':
        if ((seen & SEEN_TO) !== 0) break;
        seen |= SEEN_TO;
        if (status > 100 && !toHasTag(req, hd.value))
          headers.push({ name: hd.name, key: 'to', value: hd.value + ';tag=' + (opts.toTag ?? generateTag()) });
        else headers.push(hd);
        break;
      case 'record-route':
        if (opts.copyRecordRoute === true) headers.push(hd);
        break;
      case 'timestamp':
        timestamp = hd.value;
        break;
    }
  }
  if (status === 100 && timestamp !== undefined) headers.push(h('Timestamp', timestamp));
  if (opts.headers) for (const [n, v] of opts.headers) headers.push(h(canonicalHeaderName(n), strip(v)));
  const res = new SipResponse(status, strip(opts.reason ?? reasonPhrase(status)), headers);
  if (opts.body !== undefined) res.setBody(opts.body, opts.contentType);
  else headers.push(h('Content-Length', '0'));
  return res;
}

/** One end of a new request: From or To. */
export interface AddressSpec {
  uri: Uri | string;
  displayName?: string;
  tag?: string;
}

export interface RequestOptions {
  method: string;
  uri: Uri | string;
  from: AddressSpec;
  to: AddressSpec;
  /** The Via of this element. Branch defaults to a fresh generateBranch(); rport defaults to true. */
  via: { transport: string; host: string; port?: number; branch?: string; rport?: boolean };
  callId?: string;
  /** Default 1. */
  cseq?: number;
  /** Default 70. */
  maxForwards?: number;
  contact?: NameAddr | string | Array<NameAddr | string>;
  route?: Array<NameAddr | string>;
  /** Extra headers, appended in order. */
  headers?: Array<[name: string, value: string]>;
  body?: Buffer | string;
  contentType?: string;
}

function formatAddress(a: AddressSpec, tag: string | undefined): string {
  const uri = typeof a.uri === 'string' ? a.uri : formatUri(a.uri);
  const na = a.displayName !== undefined ? formatDisplayName(a.displayName) + ' ' : '';
  return na + '<' + uri + '>' + (tag !== undefined ? ';tag=' + tag : '');
}

function nameAddrText(v: NameAddr | string): string {
  return typeof v === 'string' ? v : formatNameAddr(v);
}

/** Build a new request (UAC, RFC 3261 8.1.1). The From tag defaults to a fresh tag. */
export function createRequest(o: RequestOptions): SipRequest {
  const branch = o.via.branch ?? generateBranch();
  const via = makeVia({ transport: o.via.transport, host: o.via.host, port: o.via.port, branch, rport: o.via.rport ?? true });
  const headers: SipHeader[] = [h('Via', formatVia(via)), h('Max-Forwards', String(o.maxForwards ?? 70))];
  if (o.route) for (const r of o.route) headers.push(h('Route', nameAddrText(r)));
  headers.push(h('From', formatAddress(o.from, o.from.tag ?? generateTag())));
  headers.push(h('To', formatAddress(o.to, o.to.tag)));
  headers.push(h('Call-ID', o.callId ?? generateCallId()));
  headers.push(h('CSeq', (o.cseq ?? 1) + ' ' + o.method));
  if (o.contact !== undefined) {
    const list = Array.isArray(o.contact) ? o.contact : [o.contact];
    for (const c of list) headers.push(h('Contact', nameAddrText(c)));
  }
  if (o.headers) for (const [n, v] of o.headers) headers.push(h(canonicalHeaderName(n), strip(v)));
  const req = new SipRequest(o.method, o.uri, headers);
  req._via = [via];
  if (o.body !== undefined) req.setBody(o.body, o.contentType);
  else headers.push(h('Content-Length', '0'));
  return req;
}

/** ACK for a non-2xx final response (RFC 3261 17.1.1.3): same branch, Request-URI, Call-ID, From, Route; To from the response. */
export function createNon2xxAck(invite: SipRequest, response: SipResponse): SipRequest {
  const headers: SipHeader[] = [];
  const top = invite.headers.find((x) => x.key === 'via');
  if (top) headers.push({ name: top.name, key: 'via', value: trimLws(top.value.split(',')[0]) });
  headers.push(h('Max-Forwards', '70'));
  for (const hd of invite.headers) if (hd.key === 'route' || hd.key === 'from' || hd.key === 'call-id') headers.push(hd);
  const to = response.header('to');
  if (to !== undefined) headers.push(h('To', to));
  headers.push(h('CSeq', invite.cseq.seq + ' ACK'));
  headers.push(h('Content-Length', '0'));
  return new SipRequest('ACK', invite.requestUri, headers);
}

/** Option tags in Require/Proxy-Require that are not in `supported` (for 420 Bad Extension's Unsupported). */
export function unsupportedExtensions(
  req: SipRequest,
  supported: readonly string[],
  which: 'require' | 'proxy-require' = 'proxy-require',
): string[] {
  const wanted = parseTokenList(req.headerValues(which));
  if (wanted.length === 0) return wanted;
  const have = new Set(supported.map((s) => s.toLowerCase()));
  return wanted.filter((t) => !have.has(t.toLowerCase()));
}
