/**
 * Server side of Digest authentication for a registrar or proxy: builds challenges (one
 * per offered algorithm, strongest first, RFC 8760), finds the credentials meant for this
 * realm among a request's Authorization / Proxy-Authorization values, and verifies them.
 * Pure apart from the bounded nonce-count table it keeps in memory; never throws on input.
 *
 * Outcome codes and the SIP answer the edge is expected to give:
 *   ok                  -> let the request through
 *   missing-credentials -> 401/407 with fresh challenges
 *   bad-realm           -> 401/407 with fresh challenges (credentials were for another realm)
 *   malformed           -> 400 Bad Request
 *   unknown-algorithm   -> 401/407 with fresh challenges (or 400)
 *   invalid-nonce       -> 401/407 with fresh challenges (nonce not made by us, for this realm or
 *                          for this client address, and the response did not prove the password)
 *   stale-nonce         -> 401/407 with fresh challenges and stale=true: the response was right but
 *                          the nonce expired, was not made by us, or is no longer tracked
 *   replay              -> 401/407 with fresh challenges (nonce-count not increasing)
 *   unknown-user        -> 403 Forbidden (or 401 to avoid disclosing accounts)
 *   wrong-response      -> 403 Forbidden (or 401 to let the user retry)
 */
import { detached } from '../chars';
import { algorithmInfo, strongestFirst, type DigestAlgorithm, type DigestHash } from './algorithms';
import { parseAuthHeader, type AuthHeaderLimits } from './auth-header';
import {
  computeDigestResponse,
  computeHa1,
  digestCredentialsFrom,
  plainDigestCredentials,
  serializeDigestChallenge,
  type DigestChallenge,
  type DigestCredentials,
  type Qop,
} from './digest';
import { NonceCountTracker } from './nonce-count';
import { NonceService } from './nonce';

export type DigestOutcomeCode =
  | 'missing-credentials'
  | 'bad-realm'
  | 'malformed'
  | 'unknown-algorithm'
  | 'invalid-nonce'
  | 'stale-nonce'
  | 'replay'
  | 'unknown-user'
  | 'wrong-response';

export interface DigestSuccess {
  readonly username: string;
  readonly realm: string;
  readonly algorithm: DigestAlgorithm;
  readonly qop?: Qop;
}

export type DigestOutcome = { ok: true; value: DigestSuccess } | { ok: false; error: { code: DigestOutcomeCode; reason: string } };

/** What the server knows about a user: the cleartext password, or stored HA1 values per hash. */
export type DigestSecret = { readonly password: string } | { readonly ha1: Partial<Record<DigestHash, string>> };

export interface DigestServerOptions {
  readonly realm: string;
  /** Key of the nonce MAC; share it between the nodes of a cluster. */
  readonly secret: string | Uint8Array;
  /** Offered algorithms (default SHA-512-256, SHA-256, MD5); challenges come strongest first. */
  readonly algorithms?: readonly DigestAlgorithm[];
  /** Offered qop values (default ['auth']); an empty list offers none (RFC 2069 style). */
  readonly qop?: readonly Qop[];
  /** Nonce lifetime (default 300 s). */
  readonly nonceLifetimeMs?: number;
  /** Bind nonces to the client's address (default false: clients behind NAT may change port or address). */
  readonly bindClientAddress?: boolean;
  /** Accept responses without qop (RFC 2069 compatibility, each nonce then usable once). Default true. */
  readonly allowNoQop?: boolean;
  /** Size of the nonce-count table (default 100 000). */
  readonly maxTrackedNonces?: number;
  /** Users whose HA1 (from a cleartext password) is kept for reuse, per hash (default 10 000; 0 keeps none). */
  readonly maxCachedHa1?: number;
  readonly domain?: string;
  readonly opaque?: string;
  readonly headerLimits?: AuthHeaderLimits;
  /** Random source for nonce salts (tests). */
  readonly random?: (size: number) => Uint8Array;
}

export interface DigestRequest {
  readonly method: string;
  /** Message body (for qop=auth-int). */
  readonly body?: string | Uint8Array;
  /** Time in ms (Date.now() in production). */
  readonly now: number;
  /** Client address "ip" or "ip:port" as the transport saw it, used when nonces are bound to it. */
  readonly clientAddress?: string;
  /** When given, the credentials' uri must equal it (else wrong-response). */
  readonly requestUri?: string;
}

const failure = (code: DigestOutcomeCode, reason: string): { ok: false; error: { code: DigestOutcomeCode; reason: string } } => ({ ok: false, error: { code, reason } });

/** An HA1 kept for a user, with the password it was computed from. */
interface CachedHa1 {
  readonly password: string;
  readonly ha1: string;
}

/**
 * Whether the hex digest we computed (lower case) equals the one a client wrote (either case), in
 * time that depends only on their lengths: every character is compared, ASCII letters of the
 * client's lower-cased on the way (what toLowerCase does to hex digits).
 */
export function equalHex(expected: string, given: string): boolean {
  if (expected.length !== given.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    const c = given.charCodeAt(i);
    diff |= expected.charCodeAt(i) ^ (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
  }
  return diff === 0;
}

export class DigestAuthenticator {
  readonly realm: string;
  readonly algorithms: readonly DigestAlgorithm[];
  readonly qop: readonly Qop[];
  private readonly nonces: NonceService;
  private readonly tracker: NonceCountTracker;
  private readonly options: DigestServerOptions;
  /**
   * HA1 = H(username:realm:password) of users with a cleartext password, per hash: a user's HA1
   * changes only with the password, and computing it is one hash per request. An entry is used
   * only while the password it was computed from is the one given; the table is emptied when full.
   */
  private readonly ha1Cache = new Map<DigestHash, Map<string, CachedHa1>>();
  private readonly maxCachedHa1: number;

  constructor(options: DigestServerOptions) {
    this.options = options;
    this.realm = options.realm;
    this.algorithms = strongestFirst(options.algorithms ?? ['SHA-512-256', 'SHA-256', 'MD5']);
    this.qop = options.qop ?? ['auth'];
    this.nonces = new NonceService({
      secret: options.secret,
      ...(options.nonceLifetimeMs !== undefined ? { lifetimeMs: options.nonceLifetimeMs } : {}),
      ...(options.random !== undefined ? { random: options.random } : {}),
    });
    this.tracker = new NonceCountTracker({ lifetimeMs: this.nonces.lifetimeMs, ...(options.maxTrackedNonces !== undefined ? { maxEntries: options.maxTrackedNonces } : {}) });
    this.maxCachedHa1 = Math.max(0, Math.floor(options.maxCachedHa1 ?? 10_000));
  }

  /** HA1 of a user with a cleartext password, from the cache when it was computed from the same password. */
  private passwordHa1(hash: DigestHash, username: string, password: string): string {
    if (this.maxCachedHa1 === 0) return computeHa1(hash, username, this.realm, password);
    let byUser = this.ha1Cache.get(hash);
    if (byUser === undefined) this.ha1Cache.set(hash, (byUser = new Map()));
    const hit = byUser.get(username);
    if (hit !== undefined && hit.password === password) return hit.ha1;
    const ha1 = computeHa1(hash, username, this.realm, password);
    if (hit === undefined && byUser.size >= this.maxCachedHa1) byUser.clear();
    // the user name is usually cut from the request's text: kept as a copy of its own, or the entry would hold that text
    byUser.set(detached(username), { password, ha1 });
    return ha1;
  }

  private bound(clientAddress: string | undefined): string | undefined {
    return this.options.bindClientAddress ? (clientAddress ?? '') : undefined;
  }

  /** One challenge per offered algorithm, strongest first, sharing one fresh nonce. */
  challenges(at: { now: number; clientAddress?: string; stale?: boolean }): DigestChallenge[] {
    const nonce = this.nonces.create(at.now, this.realm, this.bound(at.clientAddress));
    const { domain, opaque } = this.options;
    return this.algorithms.map((algorithm) => {
      const c: { -readonly [K in keyof DigestChallenge]: DigestChallenge[K] } = { realm: this.realm, nonce };
      if (domain !== undefined) c.domain = domain;
      if (opaque !== undefined) c.opaque = opaque;
      if (at.stale) c.stale = true;
      c.algorithm = algorithm;
      if (this.qop.length > 0) c.qop = this.qop;
      return c;
    });
  }

  /** The challenges as WWW-Authenticate / Proxy-Authenticate header values, in order. */
  challengeHeaderValues(at: { now: number; clientAddress?: string; stale?: boolean }): string[] {
    return this.challenges(at).map(serializeDigestChallenge);
  }

  /**
   * Finds the Digest credentials for this realm among the values of a request's
   * Authorization (or Proxy-Authorization) header fields (RFC 3261 section 22.3).
   */
  findCredentials(headerValues: readonly string[]): { ok: true; value: DigestCredentials } | { ok: false; error: { code: DigestOutcomeCode; reason: string } } {
    let sawDigest = false;
    let otherRealm: string | undefined;
    let malformed: string | undefined;
    for (const v of headerValues) {
      // the usual value, read without the general parser's parameter list (same credentials)
      const plain = plainDigestCredentials(v, this.options.headerLimits);
      if (plain !== undefined) {
        sawDigest = true;
        if (plain.realm === this.realm) return { ok: true, value: plain };
        otherRealm ??= plain.realm;
        continue;
      }
      const parsed = parseAuthHeader(v, this.options.headerLimits);
      if (!parsed.ok) {
        malformed ??= parsed.error.reason;
        continue;
      }
      for (const h of parsed.value) {
        if (h.scheme.toLowerCase() !== 'digest') continue;
        sawDigest = true;
        const c = digestCredentialsFrom(h);
        const realm = c.ok ? c.value.realm : h.params.find((p) => p.name.toLowerCase() === 'realm')?.value;
        if (realm !== this.realm) {
          otherRealm ??= realm ?? '';
          continue;
        }
        if (!c.ok) return failure('malformed', `${c.error.code}: ${c.error.reason}`);
        return { ok: true, value: c.value };
      }
    }
    if (otherRealm !== undefined) return failure('bad-realm', `credentials for realm "${otherRealm.slice(0, 64)}"`);
    if (malformed !== undefined) return failure('malformed', malformed);
    return failure('missing-credentials', sawDigest ? 'no usable Digest credentials' : 'no Digest credentials');
  }

  /** Verifies credentials against the user's secret. Updates the nonce-count table on success only. */
  verify(credentials: DigestCredentials, request: DigestRequest, secret: DigestSecret | undefined): DigestOutcome {
    const c = credentials;
    if (c.realm !== this.realm) return failure('bad-realm', `credentials for realm "${c.realm.slice(0, 64)}"`);
    const alg = algorithmInfo(c.algorithm);
    if (alg === undefined || !this.algorithms.includes(alg.name)) return failure('unknown-algorithm', `algorithm ${(c.algorithm ?? 'MD5').slice(0, 32)} not offered`);
    let qop: Qop | undefined;
    if (c.qop !== undefined) {
      if (c.qop !== 'auth' && c.qop !== 'auth-int') return failure('malformed', `qop ${c.qop.slice(0, 16)} unknown`);
      if (!this.qop.includes(c.qop)) return failure('malformed', `qop ${c.qop} not offered`);
      qop = c.qop;
    } else if (this.options.allowNoQop === false) {
      return failure('malformed', 'qop missing');
    } else if (alg.session) {
      return failure('malformed', `${alg.name} needs qop and cnonce`);
    }
    const nonce = this.nonces.check(c.nonce, request.now, this.realm, this.bound(request.clientAddress));
    if (secret === undefined) return failure(nonce.status === 'invalid' ? 'invalid-nonce' : 'unknown-user', nonce.status === 'invalid' ? nonce.reason : 'no such user');
    let ha1: string | undefined;
    if ('password' in secret) ha1 = this.passwordHa1(alg.hash, c.username, secret.password);
    else ha1 = secret.ha1[alg.hash];
    if (ha1 === undefined) return failure('unknown-algorithm', `no stored HA1 for ${alg.hash}`);
    const expected = computeDigestResponse({
      algorithm: alg,
      ha1,
      nonce: c.nonce,
      method: request.method,
      uri: c.uri,
      ...(qop !== undefined ? { qop } : {}),
      ...(c.nc !== undefined ? { nc: c.nc } : {}),
      ...(c.cnonce !== undefined ? { cnonce: c.cnonce } : {}),
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    const right = expected !== undefined && equalHex(expected, c.response);
    // A nonce we did not make (another server, a rotated secret, a client that moved) with a
    // right response: the client knows the password, so let it retry silently (stale=true).
    if (nonce.status === 'invalid') return failure(right ? 'stale-nonce' : 'invalid-nonce', nonce.reason);
    if (!right) return failure('wrong-response', 'response does not match');
    if (request.requestUri !== undefined && c.uri !== request.requestUri) return failure('wrong-response', 'uri does not match the Request-URI');
    if (nonce.status === 'expired') return failure('stale-nonce', 'nonce expired');
    const nc = qop === undefined ? 1 : parseInt(c.nc ?? '0', 16);
    const counted = this.tracker.check(c.nonce, nonce.issuedAt, nc, request.now);
    if (counted === 'replay') return failure('replay', qop === undefined ? 'nonce already used' : `nc ${c.nc} not above the last one`);
    if (counted === 'stale') return failure('stale-nonce', 'nonce no longer tracked');
    return { ok: true, value: { username: c.username, realm: this.realm, algorithm: alg.name, ...(qop !== undefined ? { qop } : {}) } };
  }

  /**
   * findCredentials + verify, with a synchronous user lookup. For an asynchronous lookup
   * (database), call findCredentials, look the user up, then verify.
   */
  authenticate(headerValues: readonly string[], request: DigestRequest, lookup: (username: string, realm: string) => DigestSecret | undefined): DigestOutcome {
    const found = this.findCredentials(headerValues);
    if (!found.ok) return found;
    return this.verify(found.value, request, lookup(found.value.username, found.value.realm));
  }

  /** Number of nonces in the replay table (for metrics). */
  get trackedNonces(): number {
    return this.tracker.size;
  }
}
