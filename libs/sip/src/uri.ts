import { HNV, HOSTCHAR, PARAMCHAR, PASSWORD, TELCHAR, USER, escapePct, parseUint, unescapePct, validEscaped } from './chars';
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
  /** URI headers (after `?`), names and values unescaped, in order. */
  headers: Map<string, string>;
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

function isSchemeChar(c: number, first: boolean): boolean {
  const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (first) return alpha;
  return alpha || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e;
}

function badUri(reason: string): { ok: false; error: { code: 'BAD_URI'; reason: string } } {
  return fail('BAD_URI', reason) as { ok: false; error: { code: 'BAD_URI'; reason: string } };
}

/** Parse a URI (sip, sips, tel, or any other absolute URI). Never throws. */
export function parseUri(s: string): SipResult<Uri> {
  const colon = s.indexOf(':');
  if (colon <= 0) return badUri('URI without scheme');
  for (let i = 0; i < colon; i++) if (!isSchemeChar(s.charCodeAt(i), i === 0)) return badUri('bad URI scheme');
  let scheme = s.slice(0, colon);
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') scheme = scheme.toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(s, colon + 1, scheme);
  if (scheme === 'tel') return parseTelUri(s, colon + 1);
  const opaque = s.slice(colon + 1);
  if (opaque.length === 0) return badUri('empty URI');
  for (let i = 0; i < opaque.length; i++) {
    const c = opaque.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x3c || c === 0x3e || c === 0x22) return badUri('bad character in URI');
  }
  return ok({ kind: 'other', scheme, opaque });
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

function parseSipUri(s: string, i: number, scheme: 'sip' | 'sips'): SipResult<Uri> {
  const n = s.length;
  const uri: SipUri = { kind: 'sip', scheme, host: '', params: new Map(), headers: new Map() };
  const at = s.indexOf('@', i);
  if (at >= 0) {
    const pc = s.indexOf(':', i);
    const userEnd = pc >= 0 && pc < at ? pc : at;
    const userRaw = s.slice(i, userEnd);
    if (userRaw.length === 0 || !validEscaped(userRaw, USER)) return badUri('bad user part in URI');
    uri.user = unescapePct(userRaw) as string;
    if (userEnd !== at) {
      const pwRaw = s.slice(userEnd + 1, at);
      if (!validEscaped(pwRaw, PASSWORD)) return badUri('bad password in URI');
      uri.password = unescapePct(pwRaw) as string;
    }
    i = at + 1;
  }
  if (i < n && s.charCodeAt(i) === 0x5b) {
    const e = s.indexOf(']', i);
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
    const port = parseUint(s.slice(a, i), 65535);
    if (port < 0) return badUri('bad port in URI');
    uri.port = port;
  }
  let q = s.indexOf('?', i);
  if (q < 0) q = n;
  if (i < q && s.charCodeAt(i) === 0x3b) {
    if (!parseUriParams(s, i, q, uri.params)) return badUri('bad URI parameter');
    i = q;
  }
  if (i < n && s.charCodeAt(i) === 0x3f) {
    const parts = s.slice(i + 1).split('&');
    for (const p of parts) {
      const eq = p.indexOf('=');
      if (eq <= 0) return badUri('bad URI header');
      const hn = p.slice(0, eq);
      const hv = p.slice(eq + 1);
      if (!validEscaped(hn, HNV) || !validEscaped(hv, HNV)) return badUri('bad URI header');
      uri.headers.set(unescapePct(hn) as string, unescapePct(hv) as string);
    }
    i = n;
  }
  if (i !== n) return badUri('unexpected character in URI');
  return ok(uri);
}

function parseTelUri(s: string, i: number): SipResult<Uri> {
  const n = s.length;
  for (let k = i; k < n; k++) if (TELCHAR[s.charCodeAt(k)] !== 1) return badUri('bad character in tel URI');
  let semi = s.indexOf(';', i);
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
