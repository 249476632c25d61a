/**
 * Client side of Digest authentication: answers a challenge with credentials (a proxy
 * registering upstream, and the tests).
 */
import { randomBytes } from 'node:crypto';
import { algorithmInfo, type DigestHash } from './algorithms';
import { parseAuthHeader } from './auth-header';
import { computeDigestResponse, computeHa1, digestChallengeFrom, type DigestChallenge, type DigestCredentials, type Qop } from './digest';
import { fail, ok, type AuthResult } from './result';

export interface DigestClientInput {
  readonly username: string;
  /** The password, or the base HA1 values per hash. */
  readonly password?: string;
  readonly ha1?: Partial<Record<DigestHash, string>>;
  readonly method: string;
  /** digest-uri: the Request-URI. */
  readonly uri: string;
  readonly body?: string | Uint8Array;
  /** Default: random 16 bytes, base64url. */
  readonly cnonce?: string;
  /** nonce-count to send (default 1); increase it for each request under the same nonce. */
  readonly nc?: number;
  /** Use qop=auth-int when offered (default: auth when offered, else auth-int). */
  readonly preferAuthInt?: boolean;
}

export type DigestClientErrorCode = 'unknown-algorithm' | 'unsupported-qop' | 'missing-secret';

/** Picks the challenge to answer: the strongest algorithm this library supports (RFC 8760). */
export function selectChallenge(challenges: readonly DigestChallenge[]): DigestChallenge | undefined {
  let best: DigestChallenge | undefined;
  let bestStrength = -1;
  for (const c of challenges) {
    const info = algorithmInfo(c.algorithm);
    if (info !== undefined && info.strength > bestStrength) {
      best = c;
      bestStrength = info.strength;
    }
  }
  return best;
}

/** Reads the Digest challenges from WWW-Authenticate / Proxy-Authenticate values, skipping what does not parse. */
export function challengesFromHeaders(headerValues: readonly string[]): DigestChallenge[] {
  const out: DigestChallenge[] = [];
  for (const v of headerValues) {
    const r = parseAuthHeader(v);
    if (!r.ok) continue;
    for (const h of r.value) {
      const c = digestChallengeFrom(h);
      if (c.ok) out.push(c.value);
    }
  }
  return out;
}

/** Computes the credentials answering `challenge`. */
export function computeAuthorization(challenge: DigestChallenge, input: DigestClientInput): AuthResult<DigestCredentials, DigestClientErrorCode> {
  const alg = algorithmInfo(challenge.algorithm);
  if (alg === undefined) return fail('unknown-algorithm', `algorithm ${(challenge.algorithm ?? '').slice(0, 32)}`);
  let qop: Qop | undefined;
  if (challenge.qop !== undefined) {
    const offered = challenge.qop;
    if (offered.includes('auth-int') && (input.preferAuthInt || !offered.includes('auth'))) qop = 'auth-int';
    else if (offered.includes('auth')) qop = 'auth';
    else return fail('unsupported-qop', `qop ${offered.join(',').slice(0, 32)}`);
  }
  const ha1 = input.password !== undefined ? computeHa1(alg.hash, input.username, challenge.realm, input.password) : input.ha1?.[alg.hash];
  if (ha1 === undefined) return fail('missing-secret', `no password or ${alg.hash} HA1`);
  const needsCnonce = qop !== undefined || alg.session;
  const cnonce = needsCnonce ? (input.cnonce ?? randomBytes(16).toString('base64url')) : undefined;
  const nc = qop !== undefined ? (input.nc ?? 1).toString(16).padStart(8, '0').slice(-8) : undefined;
  const response = computeDigestResponse({
    algorithm: alg,
    ha1,
    nonce: challenge.nonce,
    method: input.method,
    uri: input.uri,
    ...(qop !== undefined ? { qop } : {}),
    ...(nc !== undefined ? { nc } : {}),
    ...(cnonce !== undefined ? { cnonce } : {}),
    ...(input.body !== undefined ? { body: input.body } : {}),
  });
  if (response === undefined) return fail('unsupported-qop', 'cannot compute a response'); // unreachable: cnonce is set when needed
  return ok({
    username: input.username,
    realm: challenge.realm,
    nonce: challenge.nonce,
    uri: input.uri,
    response,
    ...(challenge.algorithm !== undefined ? { algorithm: challenge.algorithm } : {}),
    ...(cnonce !== undefined ? { cnonce } : {}),
    ...(challenge.opaque !== undefined ? { opaque: challenge.opaque } : {}),
    ...(qop !== undefined ? { qop } : {}),
    ...(nc !== undefined ? { nc } : {}),
  });
}
