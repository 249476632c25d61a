/**
 * The server side of the long-term credential mechanism (RFC 8489 section 9.2.4), pure:
 * what to answer to a request (challenge, 438, 400), or which key to look up; then the integrity check.
 * Covers RFC 5389 clients (MD5, no nonce cookie) and RFC 8489 ones (nonce cookie, PASSWORD-ALGORITHMS,
 * PASSWORD-ALGORITHM, USERHASH, MESSAGE-INTEGRITY-SHA256).
 */
import { Attr, ErrorCode, PasswordAlgorithm } from './constants';
import { OutAttribute, PasswordAlgorithmValue } from './attributes';
import { checkNonce, createNonce, nonceFeatures } from './credentials';
import { StunMessage, attributeValue, findAttribute, getAttribute, verifyIntegrity, verifyIntegritySha256 } from './message';

export interface LongTermPolicy {
  realm: string;
  nonceSecret: Buffer;
  /** Seconds before a nonce is stale (438). */
  nonceLifetime: number;
  /**
   * RFC 8489 password algorithms to offer, in preference order (e.g. [SHA256, MD5]). Empty or absent:
   * RFC 5389 behaviour, MD5 keys, no nonce cookie.
   */
  passwordAlgorithms?: number[];
  /** Accept USERHASH instead of USERNAME (RFC 8489 username anonymity). */
  userhash?: boolean;
}

export type LongTermStep =
  /** Answer an error with ERROR-CODE `code` plus `attributes` (REALM, NONCE, maybe PASSWORD-ALGORITHMS). */
  | { kind: 'challenge'; code: 401 | 438; attributes: OutAttribute[] }
  /** Answer 400 Bad Request. */
  | { kind: 'bad-request'; reason: string }
  /** Look up the key of this user for this algorithm, then call verifyLongTerm. */
  | { kind: 'lookup'; username?: string; userhash?: Buffer; realm: string; algorithm: number };

const offered = (p: LongTermPolicy): PasswordAlgorithmValue[] =>
  (p.passwordAlgorithms ?? []).map((algorithm) => ({ algorithm, params: Buffer.alloc(0) }));

/** REALM, NONCE (and PASSWORD-ALGORITHMS when offered) for a 401 or 438 answer. */
export function longTermChallenge(policy: LongTermPolicy, nowMs: number, clientIp: string): OutAttribute[] {
  const algs = offered(policy);
  const features =
    algs.length > 0 || policy.userhash ? { passwordAlgorithms: algs.length > 0, usernameAnonymity: !!policy.userhash } : undefined;
  const attrs: OutAttribute[] = [
    { type: Attr.Realm, value: policy.realm },
    { type: Attr.Nonce, value: createNonce(policy.nonceSecret, nowMs, clientIp, features) },
  ];
  if (algs.length > 0) attrs.push({ type: Attr.PasswordAlgorithms, value: algs });
  return attrs;
}

/** First step for a request that needs long-term authentication. */
export function beginLongTerm(msg: StunMessage, policy: LongTermPolicy, nowMs: number, clientIp: string): LongTermStep {
  const challenge = (code: 401 | 438): LongTermStep => ({
    kind: 'challenge',
    code,
    attributes: longTermChallenge(policy, nowMs, clientIp),
  });
  if (msg.integrityOffset < 0 && msg.integritySha256Offset < 0) return challenge(ErrorCode.Unauthenticated);
  const realm = attributeValue(msg, Attr.Realm);
  const nonce = attributeValue(msg, Attr.Nonce);
  const username = attributeValue(msg, Attr.Username);
  const userhash = policy.userhash ? attributeValue(msg, Attr.Userhash) : undefined;
  if (realm === undefined || nonce === undefined || (username === undefined && userhash === undefined))
    return { kind: 'bad-request', reason: 'USERNAME/USERHASH, REALM or NONCE missing' };
  if (realm !== policy.realm) return challenge(ErrorCode.Unauthenticated);
  if (checkNonce(policy.nonceSecret, nonce, nowMs, clientIp, policy.nonceLifetime) !== 'valid') return challenge(ErrorCode.StaleNonce);
  let algorithm: number = PasswordAlgorithm.MD5;
  const features = nonceFeatures(nonce);
  if (features?.passwordAlgorithms) {
    // RFC 8489 section 9.2.4: both attributes present, the list unchanged, the choice from the list.
    const list = getAttribute(msg, Attr.PasswordAlgorithms);
    const choice = getAttribute(msg, Attr.PasswordAlgorithm);
    const ours = offered(policy);
    if (!list && !choice) {
      algorithm = PasswordAlgorithm.MD5;
      if (!ours.some((a) => a.algorithm === PasswordAlgorithm.MD5)) return { kind: 'bad-request', reason: 'PASSWORD-ALGORITHM required' };
    } else {
      if (!list?.ok || !choice?.ok) return { kind: 'bad-request', reason: 'PASSWORD-ALGORITHMS and PASSWORD-ALGORITHM must come together' };
      const same =
        list.value.length === ours.length &&
        list.value.every((a, i) => a.algorithm === ours[i].algorithm && a.params.equals(ours[i].params));
      if (!same || !ours.some((a) => a.algorithm === choice.value.algorithm))
        return { kind: 'bad-request', reason: 'password algorithm mismatch' };
      algorithm = choice.value.algorithm;
    }
  }
  return { kind: 'lookup', username, userhash: username === undefined ? userhash : undefined, realm, algorithm };
}

/** Checks MESSAGE-INTEGRITY-SHA256 when present (preferred), else MESSAGE-INTEGRITY, with the looked-up key. */
export function verifyLongTerm(msg: StunMessage, key: Buffer): boolean {
  if (msg.integritySha256Offset >= 0) return verifyIntegritySha256(msg, key);
  return verifyIntegrity(msg, key);
}

/** Whether the request carried USERHASH rather than USERNAME. */
export const usesUserhash = (msg: StunMessage): boolean =>
  findAttribute(msg, Attr.Username) === undefined && findAttribute(msg, Attr.Userhash) !== undefined;
