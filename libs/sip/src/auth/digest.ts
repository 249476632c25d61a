/**
 * Digest challenges and credentials (RFC 2617, RFC 7616, RFC 3261 section 22 and 25.1,
 * RFC 8760): typed views of the header values, and the response computation.
 */
import { digestHex, type AlgorithmInfo, type DigestAlgorithm, type DigestHash } from './algorithms';
import {
  AUTH_HEADER_DEFAULT_MAX_LENGTH,
  AUTH_HEADER_DEFAULT_MAX_PARAMS,
  isTchar,
  parseAuthHeader,
  quoteAuthString,
  serializeAuthHeader,
  tokenOrQuoted,
  type AuthHeaderLimits,
  type AuthHeaderValue,
  type AuthParam,
} from './auth-header';
import { fail, ok, type AuthResult } from './result';

export type Qop = 'auth' | 'auth-int';

/** A Digest challenge (WWW-Authenticate / Proxy-Authenticate). */
export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly opaque?: string;
  /** As written; absent means MD5. */
  readonly algorithm?: string;
  /** qop-options as offered (may contain values this library does not know). */
  readonly qop?: readonly string[];
  readonly stale?: boolean;
  readonly domain?: string;
  /** Other parameters, kept for serialisation. */
  readonly extra?: readonly AuthParam[];
}

/** Digest credentials (Authorization / Proxy-Authorization). */
export interface DigestCredentials {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  /** Hex digest as written by the client. */
  readonly response: string;
  readonly algorithm?: string;
  readonly cnonce?: string;
  readonly opaque?: string;
  readonly qop?: string;
  /** nonce-count: 8 hex digits as written. */
  readonly nc?: string;
  readonly extra?: readonly AuthParam[];
}

export type DigestHeaderErrorCode = 'too-large' | 'malformed-header' | 'not-digest' | 'missing-parameter' | 'bad-parameter';

const CHALLENGE_KNOWN = ['realm', 'nonce', 'opaque', 'algorithm', 'qop', 'stale', 'domain'] as const;
const CREDENTIAL_KNOWN = ['username', 'realm', 'nonce', 'uri', 'response', 'algorithm', 'cnonce', 'opaque', 'qop', 'nc'] as const;
const NC = /^[0-9a-fA-F]{8}$/;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The parameters of a header value in one pass: the known ones by name (lower-cased once), the others in order. */
interface ReadParams {
  /** Values of the known names, at their index in the list of known names. */
  known: (string | undefined)[];
  extra: AuthParam[];
  /** The first name given twice (case-insensitively), if any. */
  duplicate: string | undefined;
}

function readParams(h: AuthHeaderValue, names: readonly string[]): ReadParams {
  const known: (string | undefined)[] = new Array<string | undefined>(names.length).fill(undefined);
  const extra: AuthParam[] = [];
  let extraNames: string[] | undefined;
  for (const p of h.params) {
    const n = p.name.toLowerCase();
    const i = names.indexOf(n);
    if (i >= 0) {
      if (known[i] !== undefined) return { known, extra, duplicate: n };
      known[i] = p.value;
    } else {
      if (extraNames?.includes(n)) return { known, extra, duplicate: n };
      (extraNames ??= []).push(n);
      extra.push(p);
    }
  }
  return { known, extra, duplicate: undefined };
}

/** Reads a Digest challenge from an already parsed header value. */
export function digestChallengeFrom(h: AuthHeaderValue): AuthResult<DigestChallenge, DigestHeaderErrorCode> {
  if (h.scheme.toLowerCase() !== 'digest') return fail('not-digest', `scheme ${h.scheme.slice(0, 32)}`);
  const r = readParams(h, CHALLENGE_KNOWN);
  if (r.duplicate !== undefined) return fail('bad-parameter', `${r.duplicate} given twice`);
  const [realm, nonce, opaque, algorithm, qopText, staleText, domain] = r.known;
  if (realm === undefined) return fail('missing-parameter', 'realm');
  if (nonce === undefined) return fail('missing-parameter', 'nonce');
  const c: Mutable<DigestChallenge> = { realm, nonce };
  if (opaque !== undefined) c.opaque = opaque;
  if (algorithm !== undefined) c.algorithm = algorithm;
  if (qopText !== undefined)
    c.qop = qopText
      .split(',')
      .map((q) => q.trim())
      .filter((q) => q !== '');
  if (staleText !== undefined) c.stale = staleText.toLowerCase() === 'true';
  if (domain !== undefined) c.domain = domain;
  if (r.extra.length > 0) c.extra = r.extra;
  return ok(c);
}

/** Reads Digest credentials from an already parsed header value. */
export function digestCredentialsFrom(h: AuthHeaderValue): AuthResult<DigestCredentials, DigestHeaderErrorCode> {
  if (h.scheme.toLowerCase() !== 'digest') return fail('not-digest', `scheme ${h.scheme.slice(0, 32)}`);
  const r = readParams(h, CREDENTIAL_KNOWN);
  if (r.duplicate !== undefined) return fail('bad-parameter', `${r.duplicate} given twice`);
  return credentialsFrom(r.known, r.extra);
}

/** Credentials from the values of CREDENTIAL_KNOWN (in that order) and the other parameters. */
function credentialsFrom(known: readonly (string | undefined)[], extra: AuthParam[]): AuthResult<DigestCredentials, DigestHeaderErrorCode> {
  const [username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc] = known;
  if (username === undefined) return fail('missing-parameter', 'username');
  if (realm === undefined) return fail('missing-parameter', 'realm');
  if (nonce === undefined) return fail('missing-parameter', 'nonce');
  if (uri === undefined) return fail('missing-parameter', 'uri');
  if (response === undefined) return fail('missing-parameter', 'response');
  if (qop !== undefined) {
    if (nc === undefined) return fail('missing-parameter', 'nc');
    if (cnonce === undefined) return fail('missing-parameter', 'cnonce');
  }
  if (nc !== undefined && !NC.test(nc)) return fail('bad-parameter', 'nc is not 8 hex digits');
  const c: Mutable<DigestCredentials> = { username, realm, nonce, uri, response };
  if (algorithm !== undefined) c.algorithm = algorithm;
  if (cnonce !== undefined) c.cnonce = cnonce;
  if (opaque !== undefined) c.opaque = opaque;
  if (qop !== undefined) c.qop = qop;
  if (nc !== undefined) c.nc = nc;
  if (extra.length > 0) c.extra = extra;
  return ok(c);
}

const isSpTab = (c: number): boolean => c === 0x20 || c === 0x09;

/**
 * Digest credentials read straight from a header value of the plain shape clients send:
 * `Digest` then comma-separated `name=token` / `name="text"` parameters, each of a name
 * credentials know (any case) and given once, quoted text without backslash escapes or line
 * breaks, spaces and tabs around. That is what the general parser (parseAuthHeader, then
 * digestCredentialsFrom) reads too, and to the same credentials; this one builds no parameter
 * list on the way (it runs for every authenticated request). Undefined for any other value, and
 * for credentials that are not usable (a parameter missing, a bad nc): the general parser then
 * reads it and tells what is wrong.
 */
export function plainDigestCredentials(value: string, limits: AuthHeaderLimits = {}): DigestCredentials | undefined {
  const n = value.length;
  if (n > (limits.maxLength ?? AUTH_HEADER_DEFAULT_MAX_LENGTH)) return undefined;
  let i = 0;
  while (i < n && isSpTab(value.charCodeAt(i))) i++;
  if (i + 7 > n || value.slice(i, i + 6).toLowerCase() !== 'digest' || !isSpTab(value.charCodeAt(i + 6))) return undefined;
  i += 7;
  const known = new Array<string | undefined>(CREDENTIAL_KNOWN.length).fill(undefined);
  let count = 0;
  const maxParams = limits.maxParams ?? AUTH_HEADER_DEFAULT_MAX_PARAMS;
  for (;;) {
    while (i < n && isSpTab(value.charCodeAt(i))) i++;
    // name
    const ns = i;
    while (i < n && isTchar(value.charCodeAt(i))) i++;
    if (i === ns) return undefined;
    const k = CREDENTIAL_KNOWN.indexOf(value.slice(ns, i).toLowerCase() as (typeof CREDENTIAL_KNOWN)[number]);
    if (k < 0 || known[k] !== undefined || ++count > maxParams) return undefined;
    while (i < n && isSpTab(value.charCodeAt(i))) i++;
    if (i >= n || value.charCodeAt(i) !== 0x3d) return undefined;
    i++;
    while (i < n && isSpTab(value.charCodeAt(i))) i++;
    // value
    if (i < n && value.charCodeAt(i) === 0x22) {
      const vs = ++i;
      for (;;) {
        if (i >= n) return undefined;
        const c = value.charCodeAt(i);
        if (c === 0x22) break;
        if (c === 0x5c || c === 0x7f || (c < 0x20 && c !== 0x09)) return undefined;
        i++;
      }
      known[k] = value.slice(vs, i++);
    } else {
      const vs = i;
      while (i < n && isTchar(value.charCodeAt(i))) i++;
      if (i === vs) return undefined;
      known[k] = value.slice(vs, i);
    }
    // separator: commas (empty list elements are allowed), or the end
    while (i < n && isSpTab(value.charCodeAt(i))) i++;
    if (i >= n) break;
    if (value.charCodeAt(i) !== 0x2c) return undefined;
    while (i < n && (value.charCodeAt(i) === 0x2c || isSpTab(value.charCodeAt(i)))) i++;
    if (i >= n) break;
  }
  const r = credentialsFrom(known, []);
  return r.ok ? r.value : undefined;
}

/** Parses a WWW-Authenticate / Proxy-Authenticate value holding one Digest challenge. */
export function parseDigestChallenge(value: string, limits?: AuthHeaderLimits): AuthResult<DigestChallenge, DigestHeaderErrorCode> {
  const r = parseAuthHeader(value, limits);
  if (!r.ok) return r;
  const digest = r.value.find((h) => h.scheme.toLowerCase() === 'digest');
  if (digest === undefined) return fail('not-digest', 'no Digest challenge');
  return digestChallengeFrom(digest);
}

/** Parses an Authorization / Proxy-Authorization value holding Digest credentials. */
export function parseDigestCredentials(value: string, limits?: AuthHeaderLimits): AuthResult<DigestCredentials, DigestHeaderErrorCode> {
  const r = parseAuthHeader(value, limits);
  if (!r.ok) return r;
  if (r.value.length !== 1) return fail('malformed-header', 'more than one credentials in one value');
  return digestCredentialsFrom(r.value[0]);
}

const q = (name: string, value: string): AuthParam => ({ name, value, quoted: true });
const t = (name: string, value: string): AuthParam => ({ name, value, quoted: false });

/** Writes a challenge: `Digest realm="...", nonce="...", ..., algorithm=X, qop="auth"`. */
export function serializeDigestChallenge(c: DigestChallenge): string {
  // written directly (what serializeAuthHeader writes for these parameters): a 401 is the most common response
  let out = 'Digest realm=' + quoteAuthString(c.realm);
  if (c.domain !== undefined) out += ', domain=' + quoteAuthString(c.domain);
  out += ', nonce=' + quoteAuthString(c.nonce);
  if (c.opaque !== undefined) out += ', opaque=' + quoteAuthString(c.opaque);
  if (c.stale !== undefined) out += c.stale ? ', stale=true' : ', stale=false';
  if (c.algorithm !== undefined) out += ', algorithm=' + tokenOrQuoted(c.algorithm);
  if (c.qop !== undefined && c.qop.length > 0) out += ', qop=' + quoteAuthString(c.qop.join(','));
  if (c.extra !== undefined && c.extra.length > 0) out += ', ' + serializeAuthHeader({ scheme: 'Digest', params: c.extra }).slice(7);
  return out;
}

/** Writes credentials the way RFC 3261 section 25.1 has them (qop, nc, algorithm unquoted). */
export function serializeDigestCredentials(c: DigestCredentials): string {
  const params: AuthParam[] = [q('username', c.username), q('realm', c.realm), q('nonce', c.nonce), q('uri', c.uri), q('response', c.response)];
  if (c.algorithm !== undefined) params.push(t('algorithm', c.algorithm));
  if (c.cnonce !== undefined) params.push(q('cnonce', c.cnonce));
  if (c.opaque !== undefined) params.push(q('opaque', c.opaque));
  if (c.qop !== undefined) params.push(t('qop', c.qop));
  if (c.nc !== undefined) params.push(t('nc', c.nc));
  params.push(...(c.extra ?? []));
  return serializeAuthHeader({ scheme: 'Digest', params });
}

// ---- computation ------------------------------------------------------------------------

/** H(username ":" realm ":" password): the HA1 a registrar may store instead of the password. */
export function computeHa1(hash: DigestHash, username: string, realm: string, password: string): string {
  return digestHex(hash, `${username}:${realm}:${password}`);
}

export interface DigestInput {
  readonly algorithm: AlgorithmInfo;
  /** The base HA1, H(username:realm:password), lower-case hex. */
  readonly ha1: string;
  readonly nonce: string;
  readonly method: string;
  readonly uri: string;
  readonly qop?: Qop;
  readonly nc?: string;
  readonly cnonce?: string;
  /** Message body, for qop=auth-int (absent means empty). */
  readonly body?: string | Uint8Array;
}

/**
 * request-digest of RFC 7616 section 3.4.1 (and RFC 2617 / RFC 2069 without qop).
 * Returns undefined when a -sess algorithm or a qop is used without a cnonce.
 */
export function computeDigestResponse(i: DigestInput): string | undefined {
  const H = (s: string | Uint8Array): string => digestHex(i.algorithm.hash, s);
  let ha1 = i.ha1.toLowerCase();
  if (i.algorithm.session) {
    if (i.cnonce === undefined) return undefined;
    ha1 = H(`${ha1}:${i.nonce}:${i.cnonce}`);
  }
  const ha2 = i.qop === 'auth-int' ? H(`${i.method}:${i.uri}:${H(i.body ?? '')}`) : H(`${i.method}:${i.uri}`);
  if (i.qop === undefined) return H(`${ha1}:${i.nonce}:${ha2}`);
  if (i.cnonce === undefined || i.nc === undefined) return undefined;
  return H(`${ha1}:${i.nonce}:${i.nc}:${i.cnonce}:${i.qop}:${ha2}`);
}

export type { DigestAlgorithm };
