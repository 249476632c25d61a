import {
  HNV,
  HOSTCHAR,
  PARAMCHAR,
  PASSWORD,
  TELCHAR,
  USER,
  escapePct,
  parseUintAt,
  unescapePct,
  validEscaped,
  validEscapedAt,
} from './chars';
import { SipResult, fail, ok } from './errors';
import type { Params } from './params';

/** sip: or sips: URI (RFC 3261 section 19.1). Text fields hold unescaped latin1 byte strings. */
export interface SipUri {
  kind: 'sip';
  scheme: 'sip' | 'sips';
  user?: string;
  password?: string;
  /** As written: domain, IPv4 address, or IPv6 reference with its brackets. */
  host: string;
  port?: number;
  /** URI parameters by lower-case name, values unescaped. */
  params: Params;
  /** URI headers (after `?`), names and values unescaped, in order. Replace the map to change them. */
  headers: ReadonlyMap<string, string>;
}

/** tel: URI (RFC 3966). */
export interface TelUri {
  kind: 'tel';
  scheme: 'tel';
  /** The telephone-subscriber number as written, with visual separators. */
  number: string;
  params: Params;
}

/** Any other absolute URI, kept opaque (e.g. a request to an unknown scheme gets a 416). */
export interface OtherUri {
  kind: 'other';
  scheme: string;
  /** Everything after the colon. */
  opaque: string;
}

export type Uri = SipUri | TelUri | OtherUri;

export type HostKind = 'ipv4' | 'ipv6' | 'domain';

/** The shared empty URI header map (URIs rarely have headers). */
export const NO_URI_HEADERS: ReadonlyMap<string, string> = new Map<string, string>();

function isSchemeChar(c: number, first: boolean): boolean {
  const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (first) return alpha;
  return alpha || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e;
}

function badUri(reason: string): { ok: false; error: { code: 'BAD_URI'; reason: string } } {
  return fail('BAD_URI', reason) as { ok: false; error: { code: 'BAD_URI'; reason: string } };
}

/** Parse a URI (sip, sips, tel, or any other absolute URI) from s[a, n). Never throws. */
export function parseUri(s: string, a = 0, n = s.length): SipResult<Uri> {
  const colon = idx(s, ':', a, n);
  if (colon <= a) return badUri('URI without scheme');
  for (let i = a; i < colon; i++) if (!isSchemeChar(s.charCodeAt(i), i === a)) return badUri('bad URI scheme');
  const sl = colon - a;
  if (sl === 3 && s.startsWith('sip', a)) return parseSipUri(s, colon + 1, n, 'sip');
  if (sl === 4 && s.startsWith('sips', a)) return parseSipUri(s, colon + 1, n, 'sips');
  const scheme = s.slice(a, colon).toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(s, colon + 1, n, scheme);
  if (scheme === 'tel') return parseTelUri(s, colon + 1, n);
  const opaque = s.slice(colon + 1, n);
  if (opaque.length === 0) return badUri('empty URI');
  for (let i = 0; i < opaque.length; i++) {
    const c = opaque.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x3c || c === 0x3e || c === 0x22) return badUri('bad character in URI');
  }
  return ok({ kind: 'other', scheme, opaque });
}

/** URI_VALID | URI_HAS_HEADERS, or 0 when invalid: the answer of checkUri. */
export const URI_VALID = 1;
export const URI_HAS_HEADERS = 2;

function checkUriParams(s: string, i: number, stop: number): boolean {
  while (i < stop) {
    i++;
    let end = s.indexOf(';', i);
    if (end < 0 || end > stop) end = stop;
    let eq = s.indexOf('=', i);
    if (eq < 0 || eq > end) eq = end;
    if (eq === i || !validEscapedAt(s, i, eq, PARAMCHAR)) return false;
    if (eq < end && !validEscapedAt(s, eq + 1, end, PARAMCHAR)) return false;
    i = end;
  }
  return true;
}

function telNumberOk(s: string, a: number, b: number): boolean {
  let digits = 0;
  for (let k = a; k < b; k++) {
    const c = s.charCodeAt(k);
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x2a || c === 0x23) digits++;
    else if (!(c === 0x2d || c === 0x2e || c === 0x28 || c === 0x29 || (c === 0x2b && k === a))) return false;
  }
  return digits > 0;
}

function idx(s: string, ch: string, from: number, end: number): number {
  const r = s.indexOf(ch, from);
  return r < 0 || r >= end ? -1 : r;
}

/**
 * Syntax check of s[a, n) without building anything: 0 when parseUri would refuse it, else URI_VALID (| URI_HAS_HEADERS).
 * Always agrees with parseUri (a property test holds it to that).
 */
export function checkUri(s: string, a = 0, n = s.length): number {
  const colon = idx(s, ':', a, n);
  if (colon <= a) return 0;
  for (let i = a; i < colon; i++) if (!isSchemeChar(s.charCodeAt(i), i === a)) return 0;
  const sl = colon - a;
  const c0 = s.charCodeAt(a) | 0x20;
  const isSip =
    (sl === 3 || sl === 4) &&
    c0 === 0x73 &&
    (s.charCodeAt(a + 1) | 0x20) === 0x69 &&
    (s.charCodeAt(a + 2) | 0x20) === 0x70 &&
    (sl === 3 || (s.charCodeAt(a + 3) | 0x20) === 0x73);
  const isTel = !isSip && sl === 3 && c0 === 0x74 && (s.charCodeAt(a + 1) | 0x20) === 0x65 && (s.charCodeAt(a + 2) | 0x20) === 0x6c;
  let i = colon + 1;
  if (isTel) {
    for (let k = i; k < n; k++) if (TELCHAR[s.charCodeAt(k)] !== 1) return 0;
    let semi = idx(s, ';', i, n);
    if (semi < 0) semi = n;
    if (!telNumberOk(s, i, semi)) return 0;
    return semi >= n || checkUriParams(s, semi, n) ? URI_VALID : 0;
  }
  if (!isSip) {
    if (i >= n) return 0;
    for (let k = i; k < n; k++) {
      const c = s.charCodeAt(k);
      if (c <= 0x20 || c >= 0x7f || c === 0x3c || c === 0x3e || c === 0x22) return 0;
    }
    return URI_VALID;
  }
  const at = idx(s, '@', i, n);
  if (at >= 0) {
    const pc = idx(s, ':', i, n);
    const userEnd = pc >= 0 && pc < at ? pc : at;
    if (userEnd === i || !validEscapedAt(s, i, userEnd, USER)) return 0;
    if (userEnd !== at && !validEscapedAt(s, userEnd + 1, at, PASSWORD)) return 0;
    i = at + 1;
  }
  if (i < n && s.charCodeAt(i) === 0x5b) {
    const e = idx(s, ']', i, n);
    if (e < 0 || e === i + 1) return 0;
    for (let k = i + 1; k < e; k++) {
      const c = s.charCodeAt(k);
      if (!((c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x2e)) return 0;
    }
    i = e + 1;
  } else {
    const h = i;
    while (i < n && HOSTCHAR[s.charCodeAt(i)] === 1) i++;
    if (i === h) return 0;
  }
  if (i < n && s.charCodeAt(i) === 0x3a) {
    const p = ++i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      i++;
    }
    if (parseUintAt(s, p, i, 65535) < 0) return 0;
  }
  let q = idx(s, '?', i, n);
  if (q < 0) q = n;
  if (i < q && s.charCodeAt(i) === 0x3b) {
    if (!checkUriParams(s, i, q)) return 0;
    i = q;
  }
  if (i < n && s.charCodeAt(i) === 0x3f) {
    let h = i + 1;
    for (;;) {
      let amp = idx(s, '&', h, n);
      if (amp < 0) amp = n;
      const eq = idx(s, '=', h, amp);
      if (eq < 0) return 0;
      if (eq === h || !validEscapedAt(s, h, eq, HNV) || !validEscapedAt(s, eq + 1, amp, HNV)) return 0;
      if (amp === n) break;
      h = amp + 1;
    }
    return URI_VALID | URI_HAS_HEADERS;
  }
  return i === n ? URI_VALID : 0;
}

function parseUriParams(s: string, i: number, stop: number, params: Params): boolean {
  // s[i] === ';'
  while (i < stop) {
    i++;
    let end = s.indexOf(';', i);
    if (end < 0 || end > stop) end = stop;
    const eq = s.indexOf('=', i);
    let nameRaw: string;
    let valueRaw: string | undefined;
    if (eq >= 0 && eq < end) {
      nameRaw = s.slice(i, eq);
      valueRaw = s.slice(eq + 1, end);
      if (!validEscaped(valueRaw, PARAMCHAR)) return false;
    } else nameRaw = s.slice(i, end);
    if (nameRaw.length === 0 || !validEscaped(nameRaw, PARAMCHAR)) return false;
    const name = (unescapePct(nameRaw) as string).toLowerCase();
    params.set(name, valueRaw === undefined ? null : (unescapePct(valueRaw) as string));
    i = end;
  }
  return true;
}

function parseSipUri(s: string, i: number, n: number, scheme: 'sip' | 'sips'): SipResult<Uri> {
  const uri: SipUri = {
    kind: 'sip',
    scheme,
    user: undefined,
    password: undefined,
    host: '',
    port: undefined,
    params: new Map(),
    headers: NO_URI_HEADERS,
  };
  const at = idx(s, '@', i, n);
  if (at >= 0) {
    const pc = idx(s, ':', i, n);
    const userEnd = pc >= 0 && pc < at ? pc : at;
    const userRaw = s.slice(i, userEnd);
    if (userRaw.length === 0 || !validEscaped(userRaw, USER)) return badUri('bad user part in URI');
    uri.user = unescapePct(userRaw);
    if (userEnd !== at) {
      const pwRaw = s.slice(userEnd + 1, at);
      if (!validEscaped(pwRaw, PASSWORD)) return badUri('bad password in URI');
      uri.password = unescapePct(pwRaw);
    }
    i = at + 1;
  }
  if (i < n && s.charCodeAt(i) === 0x5b) {
    const e = idx(s, ']', i, n);
    if (e < 0) return badUri('unterminated IPv6 reference');
    for (let k = i + 1; k < e; k++) {
      const c = s.charCodeAt(k);
      const hex = (c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x2e;
      if (!hex) return badUri('bad IPv6 reference');
    }
    if (e === i + 1) return badUri('empty IPv6 reference');
    uri.host = s.slice(i, e + 1);
    i = e + 1;
  } else {
    const a = i;
    while (i < n && HOSTCHAR[s.charCodeAt(i)] === 1) i++;
    if (i === a) return badUri('missing host in URI');
    uri.host = s.slice(a, i);
  }
  if (i < n && s.charCodeAt(i) === 0x3a) {
    const a = ++i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      i++;
    }
    const port = parseUintAt(s, a, i, 65535);
    if (port < 0) return badUri('bad port in URI');
    uri.port = port;
  }
  let q = idx(s, '?', i, n);
  if (q < 0) q = n;
  if (i < q && s.charCodeAt(i) === 0x3b) {
    if (!parseUriParams(s, i, q, uri.params)) return badUri('bad URI parameter');
    i = q;
  }
  if (i < n && s.charCodeAt(i) === 0x3f) {
    const parts = s.slice(i + 1, n).split('&');
    const headers = new Map<string, string>();
    uri.headers = headers;
    for (const p of parts) {
      const eq = p.indexOf('=');
      if (eq <= 0) return badUri('bad URI header');
      const hn = p.slice(0, eq);
      const hv = p.slice(eq + 1);
      if (!validEscaped(hn, HNV) || !validEscaped(hv, HNV)) return badUri('bad URI header');
      headers.set(unescapePct(hn) as string, unescapePct(hv) as string);
    }
    i = n;
  }
  if (i !== n) return badUri('unexpected character in URI');
  return ok(uri);
}

function parseTelUri(s: string, i: number, n: number): SipResult<Uri> {
  for (let k = i; k < n; k++) if (TELCHAR[s.charCodeAt(k)] !== 1) return badUri('bad character in tel URI');
  let semi = idx(s, ';', i, n);
  if (semi < 0) semi = n;
  const number = s.slice(i, semi);
  if (number.length === 0) return badUri('empty telephone number');
  let digits = 0;
  for (let k = 0; k < number.length; k++) {
    const c = number.charCodeAt(k);
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x2a || c === 0x23) digits++;
    else if (!(c === 0x2d || c === 0x2e || c === 0x28 || c === 0x29 || (c === 0x2b && k === 0))) return badUri('bad telephone number');
  }
  if (digits === 0) return badUri('telephone number without digits');
  const uri: TelUri = { kind: 'tel', scheme: 'tel', number, params: new Map() };
  if (semi < n && !parseUriParams(s, semi, n, uri.params)) return badUri('bad tel URI parameter');
  return ok(uri);
}

/** Serialise a URI, escaping what must be escaped. */
/** The user part of a SIP URI as formatUri writes it (escaped where needed). */
export function formatUriUser(user: string): string {
  return escapePct(user, USER);
}

export function formatUri(uri: Uri): string {
  if (uri.kind === 'other') return uri.scheme + ':' + uri.opaque;
  if (uri.kind === 'tel') return 'tel:' + uri.number + formatUriParams(uri.params);
  let out = uri.scheme + ':';
  if (uri.user !== undefined) {
    out += escapePct(uri.user, USER);
    if (uri.password !== undefined) out += ':' + escapePct(uri.password, PASSWORD);
    out += '@';
  }
  out += uri.host;
  if (uri.port !== undefined) out += ':' + uri.port;
  out += formatUriParams(uri.params);
  if (uri.headers.size > 0) {
    let sep = '?';
    for (const [k, v] of uri.headers) {
      out += sep + escapePct(k, HNV) + '=' + escapePct(v, HNV);
      sep = '&';
    }
  }
  return out;
}

function formatUriParams(params: Params): string {
  let out = '';
  for (const [k, v] of params) out += ';' + escapePct(k, PARAMCHAR) + (v === null ? '' : '=' + escapePct(v, PARAMCHAR));
  return out;
}

/** What the host of a SIP URI (or Via sent-by) is. */
export function hostKind(host: string): HostKind {
  if (host.charCodeAt(0) === 0x5b) return 'ipv6';
  let dots = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 0x2e) dots++;
    else if (c < 0x30 || c > 0x39) return 'domain';
  }
  return dots === 3 ? 'ipv4' : 'domain';
}

const ALWAYS_COMPARED = ['user', 'ttl', 'method', 'maddr', 'transport'];

function lowerOrEmpty(v: string | null | undefined): string {
  return v === null || v === undefined ? '' : v.toLowerCase();
}

/** URI equivalence of RFC 3261 section 19.1.4 (sip/sips) and RFC 3966 section 4 (tel). */
export function uriEquals(a: Uri, b: Uri): boolean {
  if (a.kind !== b.kind || a.scheme !== b.scheme) return false;
  if (a.kind === 'other') return a.opaque === (b as OtherUri).opaque;
  if (a.kind === 'tel') {
    const bt = b as TelUri;
    if (telDigits(a.number) !== telDigits(bt.number)) return false;
    if (a.params.size !== bt.params.size) return false;
    for (const [k, v] of a.params) {
      if (!bt.params.has(k) || lowerOrEmpty(v) !== lowerOrEmpty(bt.params.get(k))) return false;
    }
    return true;
  }
  const bs = b as SipUri;
  if (a.user !== bs.user || a.password !== bs.password) return false;
  if (a.host.toLowerCase() !== bs.host.toLowerCase()) return false;
  if (a.port !== bs.port) return false;
  for (const k of ALWAYS_COMPARED) if (a.params.has(k) !== bs.params.has(k)) return false;
  for (const [k, v] of a.params) {
    if (bs.params.has(k) && lowerOrEmpty(v) !== lowerOrEmpty(bs.params.get(k))) return false;
  }
  if (a.headers.size !== bs.headers.size) return false;
  if (a.headers.size > 0) {
    const bh = new Map<string, string>();
    for (const [k, v] of bs.headers) bh.set(k.toLowerCase(), v);
    for (const [k, v] of a.headers) if (bh.get(k.toLowerCase()) !== v) return false;
  }
  return true;
}

function telDigits(n: string): string {
  let out = '';
  for (let i = 0; i < n.length; i++) {
    const c = n[i];
    if (c !== '-' && c !== '.' && c !== '(' && c !== ')') out += c;
  }
  return out.toLowerCase();
}
