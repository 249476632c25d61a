/**
 * Credentials (RFC 8489 section 9): short-term and long-term keys, PASSWORD-ALGORITHM(S), USERHASH,
 * and stateless nonces with the RFC 8489 security feature set.
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import { macEquals, preparedKey } from '@traverse/hmac';
import { PasswordAlgorithm } from './constants';
import { Result, ok, fail } from './result';

type Range = readonly [number, number];
const inRanges = (cp: number, ranges: readonly Range[]) => ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
// RFC 3454 table B.1: commonly mapped to nothing.
const MAPPED_TO_NOTHING: readonly Range[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];
// RFC 3454 table C.1.2: non-ASCII space characters, mapped to SPACE.
const NON_ASCII_SPACE: readonly Range[] = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];
// Prohibited output: controls (C.2), private use (C.3), non-characters (C.4), surrogates (C.5),
// change display / deprecated (C.8), tagging (C.9).
const PROHIBITED: readonly Range[] = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x180e, 0x180e],
  [0x200c, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x2063],
  [0x206a, 0x206f],
  [0xd800, 0xdfff],
  [0xe000, 0xf8ff],
  [0xfdd0, 0xfdef],
  [0xfeff, 0xfeff],
  [0xfff9, 0xfffc],
  [0xfffe, 0xffff],
  [0x0340, 0x0341],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
  [0xf0000, 0x10ffff],
];

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function mapChars(input: string, mapSpaces: boolean, dropNothing: boolean): string {
  let out = '';
  for (const ch of input) {
    const cp = ch.codePointAt(0)!;
    if (dropNothing && inRanges(cp, MAPPED_TO_NOTHING)) continue;
    out += mapSpaces && inRanges(cp, NON_ASCII_SPACE) ? ' ' : ch;
  }
  return out;
}

/** SASLprep (RFC 4013), as RFC 5389 applies it to passwords. Fails on prohibited characters. */
export function saslPrep(input: string): Result<string> {
  const mapped = mapChars(input, true, true).normalize('NFKC');
  for (const ch of mapped) if (inRanges(ch.codePointAt(0)!, PROHIBITED)) return fail('PROHIBITED_CHARACTER', 'prohibited character');
  return ok(mapped);
}

/**
 * OpaqueString (RFC 8265) preparation used by RFC 8489 for passwords and realms:
 * non-ASCII spaces become SPACE, then NFC. Never fails (keys are derived from trusted config).
 */
export function opaqueString(input: string): string {
  // printable ASCII holds no non-ASCII space and is its own NFC: nothing to do
  if (PRINTABLE_ASCII.test(input)) return input;
  return mapChars(input, true, false).normalize('NFC');
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
  return oneShotHash(algorithm === PasswordAlgorithm.SHA256 ? 'sha256' : 'md5', `${username}:${opaqueString(realm)}:${opaqueString(password)}`, 'buffer');
}

/** USERHASH value: SHA-256(username ":" realm) (RFC 8489 section 14.4). */
export function userhash(username: string, realm: string): Buffer {
  return createHash('sha256')
    .update(`${username}:${opaqueString(realm)}`, 'utf8')
    .digest();
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
  return { passwordAlgorithms: (b[0] & 0x80) !== 0, usernameAnonymity: (b[0] & 0x40) !== 0 };
}

/** Issued-at time, and time and MAC, of a nonce being made or checked (scratch: each is used at once). */
const nonceTime = Buffer.alloc(4);
const nonceBody = Buffer.alloc(16);
const NONCE_BODY = /^[A-Za-z0-9_-]{22}$/;

/**
 * Stateless nonce: [cookie + features] + base64url(issued-at seconds (4 bytes) + HMAC-SHA256(secret, prefix | time | bindTo)[0..12]).
 * The feature prefix is under the HMAC, so a downgrade (stripping it) makes the nonce invalid.
 * `bindTo` ties the nonce to a client (e.g. its IP); pass '' to not bind.
 */
export function createNonce(secret: Buffer, nowMs: number, bindTo: string, features?: SecurityFeatures): string {
  const t = nonceTime;
  t.writeUInt32BE(Math.floor(nowMs / 1000) >>> 0, 0);
  const prefix = features ? NONCE_COOKIE + encodeFeatures(features) : '';
  t.copy(nonceBody, 0);
  preparedKey('sha256', secret).digest(prefix, t, bindTo).copy(nonceBody, 4, 0, 12);
  return prefix + nonceBody.toString('base64url');
}

export type NonceCheck = 'valid' | 'stale' | 'invalid';

/** Checks a nonce made by createNonce: 'stale' when older than maxAgeSeconds (answer 438), 'invalid' when forged. */
export function checkNonce(secret: Buffer, nonce: string, nowMs: number, bindTo: string, maxAgeSeconds: number): NonceCheck {
  if (nonce.length > 128) return 'invalid';
  const prefix = nonce.startsWith(NONCE_COOKIE) ? nonce.slice(0, NONCE_COOKIE.length + 4) : '';
  const body = nonce.slice(prefix.length);
  if (!NONCE_BODY.test(body)) return 'invalid';
  // 22 base64url characters are 16 bytes (the pattern above allows no other length)
  const raw = nonceBody;
  if (raw.write(body, 0, 'base64url') !== 16) return 'invalid';
  const t = nonceTime;
  raw.copy(t, 0, 0, 4);
  if (!macEquals(preparedKey('sha256', secret).digest(prefix, t, bindTo), raw, 4, 12)) return 'invalid';
  const age = Math.floor(nowMs / 1000) - t.readUInt32BE(0);
  if (age < -5 || age > maxAgeSeconds) return 'stale';
  return 'valid';
}
