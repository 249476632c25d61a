import { HOSTCHAR, TOKEN, WORD, isToken, parseUint, trimLws } from './chars';
import { SipResult, fail, ok } from './errors';
import { NameAddr, parseNameAddr } from './name-addr';
import { Params, formatParams, parseParamsInto, quotedEnd, skipLws, unquote } from './params';

/** Compact forms (RFC 3261 section 7.3.3 and the IANA registry). */
export const COMPACT_FORMS: Readonly<Record<string, string>> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

const CANONICAL_NAMES = [
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events', 'Authentication-Info',
  'Authorization', 'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition', 'Content-Encoding', 'Content-Language',
  'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Error-Info', 'Event', 'Expires', 'From', 'Identity', 'Identity-Info',
  'In-Reply-To', 'Max-Forwards', 'MIME-Version', 'Min-Expires', 'Min-SE', 'Organization', 'P-Asserted-Identity', 'Path', 'Priority',
  'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Record-Route', 'Refer-To', 'Referred-By', 'Reject-Contact',
  'Reply-To', 'Request-Disposition', 'Require', 'Retry-After', 'Route', 'RSeq', 'Server', 'Service-Route', 'Session-Expires',
  'Subject', 'Subscription-State', 'Supported', 'Timestamp', 'To', 'Unsupported', 'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
  'Flow-Timer', 'Outbound',
];

const CANONICAL_BY_KEY = new Map<string, string>();
/** Exact spellings seen on the wire mapped to their key, to skip toLowerCase on the hot path. */
const KEY_BY_SPELLING = new Map<string, string>();
for (const name of CANONICAL_NAMES) {
  const key = name.toLowerCase();
  CANONICAL_BY_KEY.set(key, name);
  KEY_BY_SPELLING.set(name, key);
  KEY_BY_SPELLING.set(key, key);
}
for (const [short, key] of Object.entries(COMPACT_FORMS)) {
  KEY_BY_SPELLING.set(short, key);
  KEY_BY_SPELLING.set(short.toUpperCase(), key);
}
KEY_BY_SPELLING.set('Call-Id', 'call-id');
KEY_BY_SPELLING.set('Cseq', 'cseq');
KEY_BY_SPELLING.set('CSEQ', 'cseq');
KEY_BY_SPELLING.set('Www-Authenticate', 'www-authenticate');

/** The key of a header name: lower-case full name (compact forms expanded). */
export function headerKey(name: string): string {
  const k = KEY_BY_SPELLING.get(name);
  if (k !== undefined) return k;
  const lower = name.toLowerCase();
  return COMPACT_FORMS[lower] ?? lower;
}

/** The usual spelling of a header name (e.g. `call-id` -> `Call-ID`); unknown names are returned as given. */
export function canonicalHeaderName(name: string): string {
  return CANONICAL_BY_KEY.get(headerKey(name)) ?? name;
}

/** Index of the first comma outside quoted-strings and <...> at or after `from`; -1 when none. */
export function nextListComma(s: string, from = 0): number {
  const n = s.length;
  let angle = false;
  for (let i = from; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2c) {
      if (!angle) return i;
    } else if (c === 0x22) {
      const e = quotedEnd(s, i);
      if (e < 0) return -1;
      i = e - 1;
    } else if (c === 0x3c) angle = true;
    else if (c === 0x3e) angle = false;
  }
  return -1;
}

/** Split a comma-separated header value into its elements (commas inside quotes and <> are kept); empty elements are dropped. */
export function splitList(s: string): string[] {
  const out: string[] = [];
  let a = 0;
  for (;;) {
    const c = nextListComma(s, a);
    const e = c < 0 ? s.length : c;
    const part = trimLws(s.slice(a, e));
    if (part.length > 0) out.push(part);
    if (c < 0) return out;
    a = c + 1;
  }
}

// ---------------------------------------------------------------- Via

export interface Via {
  /** `SIP` */
  protocol: string;
  /** `2.0` */
  version: string;
  /** Upper-case transport: UDP, TCP, TLS, SCTP, WS, WSS ... */
  transport: string;
  /** sent-by host as written (IPv6 with brackets). */
  host: string;
  port?: number;
  params: Params;
  branch?: string;
  received?: string;
  /** undefined: absent; null: present without value (request for rport); number: filled in. */
  rport?: number | null;
  maddr?: string;
  ttl?: number;
}

function tokenEnd(s: string, i: number): number {
  const n = s.length;
  while (i < n && TOKEN[s.charCodeAt(i)] === 1) i++;
  return i;
}

function badVia(reason: string): { ok: false; error: { code: 'BAD_HEADER_VALUE'; reason: string; header: string } } {
  return fail('BAD_HEADER_VALUE', reason, 'via') as never;
}

/** Parse one via-parm. */
export function parseVia(s: string): SipResult<Via> {
  const n = s.length;
  let i = skipLws(s, 0);
  let e = tokenEnd(s, i);
  if (e === i) return badVia('bad Via protocol');
  const protocol = s.slice(i, e);
  i = skipLws(s, e);
  if (s.charCodeAt(i) !== 0x2f) return badVia('bad Via sent-protocol');
  i = skipLws(s, i + 1);
  e = tokenEnd(s, i);
  if (e === i) return badVia('bad Via version');
  const version = s.slice(i, e);
  i = skipLws(s, e);
  if (s.charCodeAt(i) !== 0x2f) return badVia('bad Via sent-protocol');
  i = skipLws(s, i + 1);
  e = tokenEnd(s, i);
  if (e === i) return badVia('bad Via transport');
  const transport = s.slice(i, e).toUpperCase();
  const ws = skipLws(s, e);
  if (ws === e || ws >= n) return badVia('missing Via sent-by');
  i = ws;
  let host: string;
  if (s.charCodeAt(i) === 0x5b) {
    const close = s.indexOf(']', i);
    if (close < 0) return badVia('bad IPv6 reference in Via');
    host = s.slice(i, close + 1);
    i = close + 1;
  } else {
    const a = i;
    while (i < n && HOSTCHAR[s.charCodeAt(i)] === 1) i++;
    if (i === a) return badVia('bad Via host');
    host = s.slice(a, i);
  }
  const via: Via = { protocol, version, transport, host, params: new Map() };
  i = skipLws(s, i);
  if (i < n && s.charCodeAt(i) === 0x3a) {
    i = skipLws(s, i + 1);
    const a = i;
    while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
    const port = parseUint(s.slice(a, i), 65535);
    if (port < 0) return badVia('bad Via port');
    via.port = port;
  }
  if (!parseParamsInto(s, i, via.params)) return badVia('bad Via parameter');
  const p = via.params;
  if (p.size > 0) {
    const branch = p.get('branch');
    if (branch !== undefined) {
      if (branch === null) return badVia('Via branch without value');
      via.branch = branch;
    }
    const received = p.get('received');
    if (received !== undefined && received !== null) via.received = received;
    const rport = p.get('rport');
    if (rport !== undefined) {
      if (rport === null) via.rport = null;
      else {
        const v = parseUint(rport, 65535);
        if (v < 0) return badVia('bad Via rport');
        via.rport = v;
      }
    }
    const maddr = p.get('maddr');
    if (maddr !== undefined && maddr !== null) via.maddr = maddr;
    const ttl = p.get('ttl');
    if (ttl !== undefined) {
      const v = ttl === null ? -1 : parseUint(ttl, 255);
      if (v < 0) return badVia('bad Via ttl');
      via.ttl = v;
    }
  }
  return ok(via);
}

/** Serialise a Via value from its fields (params carry branch/received/rport...; the named fields are written from params). */
export function formatVia(v: Via): string {
  return v.protocol + '/' + v.version + '/' + v.transport + ' ' + v.host + (v.port !== undefined ? ':' + v.port : '') + formatParams(v.params);
}

/** Build a Via value object; the named fields fill `params`. */
export function makeVia(opts: { transport: string; host: string; port?: number; branch: string; rport?: boolean | number; received?: string }): Via {
  const params: Params = new Map();
  params.set('branch', opts.branch);
  if (opts.received !== undefined) params.set('received', opts.received);
  if (opts.rport === true) params.set('rport', null);
  else if (typeof opts.rport === 'number') params.set('rport', String(opts.rport));
  const via: Via = { protocol: 'SIP', version: '2.0', transport: opts.transport.toUpperCase(), host: opts.host, params, branch: opts.branch };
  if (opts.port !== undefined) via.port = opts.port;
  if (opts.received !== undefined) via.received = opts.received;
  if (opts.rport === true) via.rport = null;
  else if (typeof opts.rport === 'number') via.rport = opts.rport;
  return via;
}

// ---------------------------------------------------------------- CSeq, Call-ID, integers, token lists

export interface CSeq {
  seq: number;
  method: string;
}

export const MAX_UINT32 = 4294967295;

export function parseCSeq(s: string): SipResult<CSeq> {
  const n = s.length;
  let i = skipLws(s, 0);
  const a = i;
  while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
  const seq = parseUint(s.slice(a, i), MAX_UINT32);
  if (seq < 0) return fail('BAD_HEADER_VALUE', 'bad CSeq number', 'cseq');
  const b = skipLws(s, i);
  if (b === i) return fail('BAD_HEADER_VALUE', 'bad CSeq', 'cseq');
  const e = tokenEnd(s, b);
  if (e === b || skipLws(s, e) !== n) return fail('BAD_HEADER_VALUE', 'bad CSeq method', 'cseq');
  return ok({ seq, method: s.slice(b, e) });
}

export function isValidCallId(s: string): boolean {
  if (s.length === 0) return false;
  let at = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x40) {
      if (at) return false;
      at = true;
    } else if (WORD[c] !== 1) return false;
  }
  return true;
}

/** delta-seconds style integer header (Expires, Min-Expires, Max-Forwards ...). */
export function parseIntHeader(s: string, name: string, max = MAX_UINT32): SipResult<number> {
  const v = parseUint(trimLws(s), max);
  if (v < 0) return fail('BAD_HEADER_VALUE', 'bad ' + name + ' value', name.toLowerCase());
  return ok(v);
}

/** Token list header (Supported, Require, Proxy-Require, Allow, Unsupported ...): elements as written. */
export function parseTokenList(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) for (const t of splitList(v)) out.push(t);
  return out;
}

// ---------------------------------------------------------------- Contact

export interface Contact extends NameAddr {
  /** `expires` parameter, when present and valid. */
  expires?: number;
  /** `q` parameter as a number in [0, 1]. */
  q?: number;
  /** `+sip.instance` unquoted (e.g. `<urn:uuid:...>`), RFC 5626. */
  instance?: string;
  /** `reg-id`, RFC 5626. */
  regId?: number;
}

/** Contact header field value: `*` or a list of contacts. */
export type ContactList = { star: true; contacts: [] } | { star: false; contacts: Contact[] };

function parseQ(v: string): number {
  // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
  if (v.length === 0 || v.length > 5) return -1;
  const c0 = v.charCodeAt(0);
  if (c0 !== 0x30 && c0 !== 0x31) return -1;
  if (v.length > 1 && v.charCodeAt(1) !== 0x2e) return -1;
  for (let i = 2; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39 || (c0 === 0x31 && c !== 0x30)) return -1;
  }
  return Number(v);
}

export function parseContact(s: string): SipResult<Contact> {
  const r = parseNameAddr(s);
  if (!r.ok) return fail('BAD_HEADER_VALUE', r.error.reason, 'contact');
  const c: Contact = r.value;
  const p = c.params;
  if (p.size > 0) {
    const exp = p.get('expires');
    if (exp !== undefined) {
      const v = exp === null ? -1 : parseUint(exp, MAX_UINT32);
      if (v < 0) return fail('BAD_HEADER_VALUE', 'bad Contact expires', 'contact');
      c.expires = v;
    }
    const q = p.get('q');
    if (q !== undefined) {
      const v = q === null ? -1 : parseQ(q);
      if (v < 0) return fail('BAD_HEADER_VALUE', 'bad Contact q', 'contact');
      c.q = v;
    }
    const inst = p.get('+sip.instance');
    if (inst !== undefined && inst !== null) c.instance = unquote(inst);
    const regId = p.get('reg-id');
    if (regId !== undefined) {
      const v = regId === null ? -1 : parseUint(regId, MAX_UINT32);
      if (v < 0) return fail('BAD_HEADER_VALUE', 'bad Contact reg-id', 'contact');
      c.regId = v;
    }
  }
  return ok(c);
}

export function parseContactList(values: string[]): SipResult<ContactList> {
  const contacts: Contact[] = [];
  let star = false;
  for (const v of values) {
    for (const part of splitList(v)) {
      if (part === '*') {
        star = true;
        continue;
      }
      const r = parseContact(part);
      if (!r.ok) return r;
      contacts.push(r.value);
    }
  }
  if (star) {
    if (contacts.length > 0) return fail('BAD_HEADER_VALUE', 'Contact * mixed with other contacts', 'contact');
    return ok({ star: true, contacts: [] });
  }
  return ok({ star: false, contacts });
}

/** A list of name-addr values (Route, Record-Route, Path, Service-Route ...). */
export function parseNameAddrList(values: string[], key: string): SipResult<NameAddr[]> {
  const out: NameAddr[] = [];
  for (const v of values) {
    for (const part of splitList(v)) {
      const r = parseNameAddr(part);
      if (!r.ok) return fail('BAD_HEADER_VALUE', r.error.reason, key);
      out.push(r.value);
    }
  }
  return ok(out);
}

// ---------------------------------------------------------------- Content-Type

export interface MediaType {
  /** lower-case type, e.g. `application` */
  type: string;
  /** lower-case subtype, e.g. `sdp` */
  subtype: string;
  params: Params;
}

export function parseMediaType(s: string): SipResult<MediaType> {
  const i = skipLws(s, 0);
  const slash = s.indexOf('/', i);
  if (slash < 0) return fail('BAD_HEADER_VALUE', 'bad Content-Type', 'content-type');
  const type = trimLws(s.slice(i, slash));
  let j = skipLws(s, slash + 1);
  const a = j;
  j = tokenEnd(s, j);
  const subtype = s.slice(a, j);
  if (!isToken(type) || subtype.length === 0) return fail('BAD_HEADER_VALUE', 'bad Content-Type', 'content-type');
  const params: Params = new Map();
  if (!parseParamsInto(s, j, params)) return fail('BAD_HEADER_VALUE', 'bad Content-Type parameter', 'content-type');
  return ok({ type: type.toLowerCase(), subtype: subtype.toLowerCase(), params });
}
