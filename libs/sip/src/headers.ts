import { HOSTCHAR, TOKEN, WORD, isToken, parseUint, parseUintAt, trimLws } from './chars';
import { SipResult, fail, ok } from './errors';
import { NameAddr, parseNameAddr } from './name-addr';
import { Params, formatParams, parseParamsAt, parseParamsInto, quotedEnd, skipLws, unquote } from './params';

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
  'Accept',
  'Accept-Contact',
  'Accept-Encoding',
  'Accept-Language',
  'Alert-Info',
  'Allow',
  'Allow-Events',
  'Authentication-Info',
  'Authorization',
  'Call-ID',
  'Call-Info',
  'Contact',
  'Content-Disposition',
  'Content-Encoding',
  'Content-Language',
  'Content-Length',
  'Content-Type',
  'CSeq',
  'Date',
  'Error-Info',
  'Event',
  'Expires',
  'From',
  'Identity',
  'Identity-Info',
  'In-Reply-To',
  'Max-Forwards',
  'MIME-Version',
  'Min-Expires',
  'Min-SE',
  'Organization',
  'P-Asserted-Identity',
  'Path',
  'Priority',
  'Proxy-Authenticate',
  'Proxy-Authorization',
  'Proxy-Require',
  'RAck',
  'Record-Route',
  'Refer-To',
  'Referred-By',
  'Reject-Contact',
  'Reply-To',
  'Request-Disposition',
  'Require',
  'Retry-After',
  'Route',
  'RSeq',
  'Server',
  'Service-Route',
  'Session-Expires',
  'Subject',
  'Subscription-State',
  'Supported',
  'Timestamp',
  'To',
  'Unsupported',
  'User-Agent',
  'Via',
  'Warning',
  'WWW-Authenticate',
  'Flow-Timer',
  'Outbound',
];

/** An internalized copy of a computed string, so that comparisons with literals are pointer checks. */
function intern(v: string): string {
  return Object.keys({ [v]: 0 })[0];
}

const CANONICAL_BY_KEY = new Map<string, string>();
/** Exact spellings seen on the wire mapped to their key, to skip toLowerCase on the hot path. */
const KEY_BY_SPELLING = new Map<string, string>();
for (const name of CANONICAL_NAMES) {
  const key = intern(name.toLowerCase());
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

interface KnownName {
  name: string;
  lower: string;
  key: string;
}
/** Known names by shape (length and first letter, case folded): a small array index instead of hashing. */
const KNOWN_BY_SHAPE: Array<KnownName[] | undefined> = new Array<KnownName[] | undefined>(1024).fill(undefined);
function shapeOf(len: number, first: number): number {
  return ((len & 31) << 5) | ((first | 0x20) & 31);
}
for (const [spelling, key] of KEY_BY_SPELLING) {
  if (spelling !== CANONICAL_BY_KEY.get(key) && spelling.length > 1) continue;
  const shape = shapeOf(spelling.length, spelling.charCodeAt(0));
  const list = KNOWN_BY_SHAPE[shape] ?? [];
  if (!list.some((k) => k.lower === spelling.toLowerCase()))
    list.push({ name: spelling, lower: intern(spelling.toLowerCase()), key: intern(key) });
  KNOWN_BY_SHAPE[shape] = list;
}

/**
 * Name and key of the header name s[a, b) without slicing when it is a known name in its usual spelling.
 * Returns undefined for names that are not known.
 */
export function lookupHeaderName(s: string, a: number, b: number): { name: string; key: string } | undefined {
  const list = KNOWN_BY_SHAPE[shapeOf(b - a, s.charCodeAt(a))];
  if (list === undefined) return undefined;
  for (let j = 0; j < list.length; j++) {
    const k = list[j];
    const sp = k.name;
    if (sp.length !== b - a) continue;
    let exact = true;
    let i = 0;
    for (; i < sp.length; i++) {
      const c = s.charCodeAt(a + i);
      if (c === sp.charCodeAt(i)) continue;
      exact = false;
      if ((c | 0x20) !== k.lower.charCodeAt(i) || c < 0x41) break;
    }
    if (i === sp.length) return exact ? k : { name: s.slice(a, b), key: k.key };
  }
  return undefined;
}

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
export function nextListComma(s: string, from = 0, n = s.length): number {
  const any = s.indexOf(',', from);
  if (any < 0 || any >= n) return -1;
  let angle = false;
  for (let i = from; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2c) {
      if (!angle) return i;
    } else if (c === 0x22) {
      const e = quotedEnd(s, i, n);
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

function tokenEnd(s: string, i: number, n = s.length): number {
  while (i < n && TOKEN[s.charCodeAt(i)] === 1) i++;
  return i;
}

const VIA_ERRORS = [
  'bad Via protocol',
  'bad Via sent-protocol',
  'bad Via version',
  'bad Via transport',
  'missing Via sent-by',
  'bad IPv6 reference in Via',
  'bad Via host',
  'bad Via port',
  'bad Via parameter',
];

/**
 * The grammar of via-parm over s[a, n); fills `via` when given. Returns where it stopped (n, or a comma
 * starting the next via-parm ...) or a negative code -1-k for VIA_ERRORS[k].
 */
function viaCore(s: string, a: number, n: number, via: Via | null): number {
  let i = skipLws(s, a, n);
  let e = tokenEnd(s, i, n);
  if (e === i) return -1;
  if (via !== null) via.protocol = e - i === 3 && s.startsWith('SIP', i) ? 'SIP' : s.slice(i, e);
  i = skipLws(s, e, n);
  if (i >= n || s.charCodeAt(i) !== 0x2f) return -2;
  i = skipLws(s, i + 1, n);
  e = tokenEnd(s, i, n);
  if (e === i) return -3;
  if (via !== null) via.version = e - i === 3 && s.startsWith('2.0', i) ? '2.0' : s.slice(i, e);
  i = skipLws(s, e, n);
  if (i >= n || s.charCodeAt(i) !== 0x2f) return -2;
  i = skipLws(s, i + 1, n);
  e = tokenEnd(s, i, n);
  if (e === i) return -4;
  if (via !== null) {
    via.transport =
      e - i === 3 && s.startsWith('UDP', i)
        ? 'UDP'
        : e - i === 3 && s.startsWith('TCP', i)
          ? 'TCP'
          : e - i === 3 && s.startsWith('TLS', i)
            ? 'TLS'
            : s.slice(i, e).toUpperCase();
  }
  const ws = skipLws(s, e, n);
  if (ws === e || ws >= n) return -5;
  i = ws;
  if (s.charCodeAt(i) === 0x5b) {
    const close = s.indexOf(']', i);
    if (close < 0 || close >= n) return -6;
    for (let k = i + 1; k < close; k++) {
      const c = s.charCodeAt(k);
      if (!((c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x2e)) return -6;
    }
    if (via !== null) via.host = s.slice(i, close + 1);
    i = close + 1;
  } else {
    const h = i;
    while (i < n && HOSTCHAR[s.charCodeAt(i)] === 1) i++;
    if (i === h) return -7;
    if (via !== null) via.host = s.slice(h, i);
  }
  i = skipLws(s, i, n);
  if (i < n && s.charCodeAt(i) === 0x3a) {
    i = skipLws(s, i + 1, n);
    const p = i;
    while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
    const port = parseUintAt(s, p, i, 65535);
    if (port < 0) return -8;
    if (via !== null) via.port = port;
  }
  const end = parseParamsAt(s, i, via === null ? null : via.params, n);
  return end < 0 ? -1 - VIA_ERRORS.indexOf('bad Via parameter') : end;
}

/** Syntax check of one via-parm; undefined when good, else the reason. Agrees with parseVia. */
export function checkVia(s: string, a = 0, n = s.length): string | undefined {
  const r = viaCore(s, a, n, null);
  return r < 0 ? VIA_ERRORS[-1 - r] : r === n ? undefined : 'bad Via parameter';
}

/** Syntax check of a Via header value (one or more comma-separated via-parms) over s[a, n). */
export function checkViaList(s: string, a = 0, n = s.length): string | undefined {
  let count = 0;
  let x = skipLws(s, a, n);
  while (x < n) {
    if (s.charCodeAt(x) === 0x2c) {
      x = skipLws(s, x + 1, n);
      continue;
    }
    const r = viaCore(s, x, n, null);
    if (r < 0) return VIA_ERRORS[-1 - r];
    count++;
    if (r === n) break;
    if (s.charCodeAt(r) !== 0x2c) return 'bad Via parameter';
    x = skipLws(s, r + 1, n);
  }
  return count === 0 ? 'empty Via' : undefined;
}

/**
 * Parse one via-parm. The named fields come from the parameters; a malformed rport/ttl value or a
 * branch without value leaves the field undefined (the raw text stays in `params`).
 */
export function parseVia(s: string, a = 0, n = s.length): SipResult<Via> {
  const via: Via = {
    protocol: '',
    version: '',
    transport: '',
    host: '',
    port: undefined,
    params: new Map(),
    branch: undefined,
    received: undefined,
    rport: undefined,
    maddr: undefined,
    ttl: undefined,
  };
  const r = viaCore(s, a, n, via);
  if (r < 0) return fail('BAD_HEADER_VALUE', VIA_ERRORS[-1 - r], 'via');
  if (r !== n) return fail('BAD_HEADER_VALUE', 'bad Via parameter', 'via');
  const p = via.params;
  if (p.size > 0) {
    const branch = p.get('branch');
    if (branch !== undefined && branch !== null) via.branch = branch;
    const received = p.get('received');
    if (received !== undefined && received !== null) via.received = received;
    const rport = p.get('rport');
    if (rport !== undefined) {
      if (rport === null) via.rport = null;
      else {
        const v = parseUint(rport, 65535);
        if (v >= 0) via.rport = v;
      }
    }
    const maddr = p.get('maddr');
    if (maddr !== undefined && maddr !== null) via.maddr = maddr;
    const ttl = p.get('ttl');
    if (ttl !== undefined && ttl !== null) {
      const v = parseUint(ttl, 255);
      if (v >= 0) via.ttl = v;
    }
  }
  return ok(via);
}

/** Serialise a Via value from its fields (params carry branch/received/rport...; the named fields are written from params). */
export function formatVia(v: Via): string {
  return (
    v.protocol + '/' + v.version + '/' + v.transport + ' ' + v.host + (v.port !== undefined ? ':' + v.port : '') + formatParams(v.params)
  );
}

/** Build a Via value object; the named fields fill `params`. */
export function makeVia(opts: {
  transport: string;
  host: string;
  port?: number;
  branch: string;
  rport?: boolean | number;
  received?: string;
}): Via {
  const params: Params = new Map();
  params.set('branch', opts.branch);
  if (opts.received !== undefined) params.set('received', opts.received);
  if (opts.rport === true) params.set('rport', null);
  else if (typeof opts.rport === 'number') params.set('rport', String(opts.rport));
  const via: Via = {
    protocol: 'SIP',
    version: '2.0',
    transport: opts.transport.toUpperCase(),
    host: opts.host,
    port: opts.port,
    params,
    branch: opts.branch,
    received: opts.received,
    rport: opts.rport === true ? null : typeof opts.rport === 'number' ? opts.rport : undefined,
    maddr: undefined,
    ttl: undefined,
  };
  return via;
}

// ---------------------------------------------------------------- CSeq, Call-ID, integers, token lists

export interface CSeq {
  seq: number;
  method: string;
}

export const MAX_UINT32 = 4294967295;

export function parseCSeq(s: string, a = 0, n = s.length): SipResult<CSeq> {
  let i = skipLws(s, a, n);
  const d = i;
  while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
  const seq = parseUintAt(s, d, i, MAX_UINT32);
  if (seq < 0) return fail('BAD_HEADER_VALUE', 'bad CSeq number', 'cseq');
  const b = skipLws(s, i, n);
  if (b === i) return fail('BAD_HEADER_VALUE', 'bad CSeq', 'cseq');
  const e = tokenEnd(s, b, n);
  if (e === b || skipLws(s, e, n) !== n) return fail('BAD_HEADER_VALUE', 'bad CSeq method', 'cseq');
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

/** Where a header value is: s[a, b). Lets the typed parsers work on the flat message text instead of sliced copies. */
export interface ValueRange {
  s: string;
  a: number;
  b: number;
}

export function rangesOf(values: string[]): ValueRange[] {
  return values.map((v) => ({ s: v, a: 0, b: v.length }));
}

/** Push the [start, end) of every non-empty comma-separated element of s[a, b), LWS trimmed. */
export function listBounds(s: string, a: number, b: number, out: number[]): void {
  let x = a;
  for (;;) {
    const c = nextListComma(s, x, b);
    let e = c < 0 ? b : c;
    while (x < e && (s.charCodeAt(x) === 0x20 || s.charCodeAt(x) === 0x09)) x++;
    while (e > x && (s.charCodeAt(e - 1) === 0x20 || s.charCodeAt(e - 1) === 0x09)) e--;
    if (e > x) out.push(x, e);
    if (c < 0) return;
    x = c + 1;
  }
}

/** Parse one Contact value (name-addr or addr-spec with params) from s[a, n). */
export function parseContact(s: string, a = 0, n = s.length): SipResult<Contact> {
  const r = parseNameAddr(s, false, a, n);
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

/** Parse Contact header values (all lines): `*` or the list. */
export function parseContactList(values: string[] | ValueRange[]): SipResult<ContactList> {
  const ranges = values.length > 0 && typeof values[0] === 'string' ? rangesOf(values as string[]) : (values as ValueRange[]);
  const contacts: Contact[] = [];
  let star = false;
  const bounds: number[] = [];
  for (const r of ranges) {
    bounds.length = 0;
    listBounds(r.s, r.a, r.b, bounds);
    for (let k = 0; k < bounds.length; k += 2) {
      const x = bounds[k];
      const e = bounds[k + 1];
      if (e - x === 1 && r.s.charCodeAt(x) === 0x2a) {
        star = true;
        continue;
      }
      const c = parseContact(r.s, x, e);
      if (!c.ok) return c;
      contacts.push(c.value);
    }
  }
  if (star) {
    if (contacts.length > 0) return fail('BAD_HEADER_VALUE', 'Contact * mixed with other contacts', 'contact');
    return ok({ star: true, contacts: [] });
  }
  return ok({ star: false, contacts });
}

/** A list of name-addr values (Route, Record-Route, Path, Service-Route ...). */
export function parseNameAddrList(values: string[] | ValueRange[], key: string): SipResult<NameAddr[]> {
  const ranges = values.length > 0 && typeof values[0] === 'string' ? rangesOf(values as string[]) : (values as ValueRange[]);
  const out: NameAddr[] = [];
  const bounds: number[] = [];
  for (const r of ranges) {
    bounds.length = 0;
    listBounds(r.s, r.a, r.b, bounds);
    for (let k = 0; k < bounds.length; k += 2) {
      const na = parseNameAddr(r.s, false, bounds[k], bounds[k + 1]);
      if (!na.ok) return fail('BAD_HEADER_VALUE', na.error.reason, key);
      out.push(na.value);
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
