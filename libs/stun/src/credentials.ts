/**
 * Credentials (RFC 8489 section 9): short-term and long-term keys, PASSWORD-ALGORITHM(S), USERHASH,
 * and stateless nonces with the RFC 8489 security feature set.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { PasswordAlgorithm } from './constants';
import { Result, ok, fail } from './result';

// RFC 3454 table B.1: commonly mapped to nothing.
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
// RFC 3454 table C.1.2: non-ASCII space characters, mapped to SPACE.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// Prohibited output (C.2.1, C.2.2 controls, C.3 private use, C.4 non-characters, C.5 surrogates, C.8 bidi/format, C.9 tagging).
// eslint-disable-next-line no-control-regex
const PROHIBITED = /[\u0000-\u001F\u007F-\u009F\u06DD\u070F\u180E\u200C\u200D\u2028\u2029\u2060-\u2063\u206A-\u206F\uFEFF\uFFF9-\uFFFC\uE000-\uF8FF\uFDD0-\uFDEF\uFFFE\uFFFF\u0340\u0341\u200E\u200F\u202A-\u202E]/u;

/** SASLprep (RFC 4013), as RFC 5389 applies it to passwords. Fails on prohibited characters. */
export function saslPrep(input: string): Result<string> {
  const mapped = input.replace(MAPPED_TO_NOTHING, '').replace(NON_ASCII_SPACE, ' ').normalize('NFKC');
  if (PROHIBITED.test(mapped)) return fail('PROHIBITED_CHARACTER', 'prohibited character');
  return ok(mapped);
}

/**
 * OpaqueString (RFC 8265) preparation used by RFC 8489 for passwords and realms:
 * non-ASCII spaces become SPACE, then NFC. Never fails (keys are derived from trusted config).
 */
export function opaqueString(input: string): string {
  return input.replace(NON_ASCII_SPACE, ' ').normalize('NFC');
}

/** Short-term credential key: the prepared password (RFC 8489 section 9.1.1). */
export function shortTermKey(password: string): Buffer {
  return Buffer.from(opaqueString(password), 'utf8');
}

/**
 * Long-term credential key (RFC 8489 section 9.2.2):
 * MD5 or SHA-256 of username ":" OpaqueString(realm) ":" OpaqueString(password).
 */
export function longTermKey(username: string, realm: string, password: string, algorithm: number = PasswordAlgorithm.MD5): Buffer {
  const hash = algorithm === PasswordAlgorithm.SHA256 ? 'sha256' : 'md5';
  return createHash(hash).update(`${username}:${opaqueString(realm)}:${opaqueString(password)}`, 'utf8').digest();
}

/** USERHASH value: SHA-256(username ":" realm) (RFC 8489 section 14.4). */
export function userhash(username: string, realm: string): Buffer {
  return createHash('sha256').update(`${username}:${opaqueString(realm)}`, 'utf8').digest();
}

/** The nonce cookie that announces the RFC 8489 security feature set (section 9.2). */
export const NONCE_COOKIE = 'obMatJos2';

export interface SecurityFeatures {
  passwordAlgorithms: boolean;
  usernameAnonymity: boolean;
}

function encodeFeatures(f: SecurityFeatures): string {
  const b = Buffer.from([(f.passwordAlgorithms ? 0x80 : 0) | (f.usernameAnonymity ? 0x40 : 0), 0, 0]);
  return b.toString('base64');
}

/** Security features announced in a nonce, or undefined when it carries no nonce cookie. */
export function nonceFeatures(nonce: string): SecurityFeatures | undefined {
  if (!nonce.startsWith(NONCE_COOKIE) || nonce.length < NONCE_COOKIE.length + 4) return undefined;
  const b = Buffer.from(nonce.slice(NONCE_COOKIE.length, NONCE_COOKIE.length + 4), 'base64');
  if (b.length !== 3) return undefined;
  return { passwordAlgorithms: (b[0]! & 0x80) !== 0, usernameAnonymity: (b[0]! & 0x40) !== 0 };
}

/**
 * Stateless nonce: [cookie + features] + base64url(issued-at seconds (4 bytes) + HMAC-SHA256(secret, prefix | time | bindTo)[0..12]).
 * The feature prefix is under the HMAC, so a downgrade (stripping it) makes the nonce invalid.
 * `bindTo` ties the nonce to a client (e.g. its IP); pass '' to not bind.
 */
export function createNonce(secret: Buffer, nowMs: number, bindTo: string, features?: SecurityFeatures): string {
  const t = Buffer.allocUnsafe(4);
  t.writeUInt32BE(Math.floor(nowMs / 1000) >>> 0, 0);
  const prefix = features ? NONCE_COOKIE + encodeFeatures(features) : '';
  const mac = createHmac('sha256', secret).update(prefix, 'utf8').update(t).update(bindTo, 'utf8').digest().subarray(0, 12);
  return prefix + Buffer.concat([t, mac]).toString('base64url');
}

export type NonceCheck = 'valid' | 'stale' | 'invalid';

/** Checks a nonce made by createNonce: 'stale' when older than maxAgeSeconds (answer 438), 'invalid' when forged. */
export function checkNonce(secret: Buffer, nonce: string, nowMs: number, bindTo: string, maxAgeSeconds: number): NonceCheck {
  if (nonce.length > 128) return 'invalid';
  const prefix = nonce.startsWith(NONCE_COOKIE) ? nonce.slice(0, NONCE_COOKIE.length + 4) : '';
  const body = nonce.slice(prefix.length);
  if (!/^[A-Za-z0-9_-]{22}$/.test(body)) return 'invalid';
  const raw = Buffer.from(body, 'base64url');
  if (raw.length !== 16) return 'invalid';
  const t = raw.subarray(0, 4);
  const mac = createHmac('sha256', secret).update(prefix, 'utf8').update(t).update(bindTo, 'utf8').digest().subarray(0, 12);
  if (!timingSafeEqual(mac, raw.subarray(4))) return 'invalid';
  const age = Math.floor(nowMs / 1000) - t.readUInt32BE(0);
  if (age < -5 || age > maxAgeSeconds) return 'stale';
  return 'valid';
}
