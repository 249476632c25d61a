/**
 * Stateless, time-bound nonces: base64url(timestamp(6) | salt(6) | MAC(16)), where MAC is
 * HMAC-SHA-256 with a server secret over the timestamp, the salt, the realm and (optionally)
 * the client's address, truncated to 128 bits. A server checks a nonce's age and MAC without
 * storing anything; every node of a cluster sharing the secret accepts every node's nonces.
 */
import { randomFillSync } from 'node:crypto';
import { HmacKey, macEquals } from '@traverse/hmac';

const TS_BYTES = 6;
const SALT_BYTES = 6;
const MAC_BYTES = 16;
const NONCE_BYTES = TS_BYTES + SALT_BYTES + MAC_BYTES;
const NONCE_CHARS = Math.ceil((NONCE_BYTES * 4) / 3);
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface NonceOptions {
  /** Server secret (at least 16 bytes), shared by the nodes that must accept each other's nonces. */
  readonly secret: string | Uint8Array;
  /** How long a nonce stays fresh (default 300 s). */
  readonly lifetimeMs?: number;
  /** Tolerated clock skew for nonces stamped in the future by another node (default 5 s). */
  readonly maxSkewMs?: number;
  /** Source of random bytes (tests); default crypto-random bytes from a pool refilled in bulk. */
  readonly random?: (size: number) => Uint8Array;
}

export type NonceCheck =
  | { readonly status: 'fresh'; readonly issuedAt: number }
  | { readonly status: 'expired'; readonly issuedAt: number }
  | { readonly status: 'invalid'; readonly reason: string };

export const DEFAULT_NONCE_LIFETIME_MS = 300_000;

// Salts are cut from a pool of random bytes refilled in bulk: one randomFillSync per 512 nonces
// instead of one randomBytes call each.
const saltPool = Buffer.alloc(SALT_BYTES * 512);
let saltPos = saltPool.length;
function pooledRandom(size: number): Uint8Array {
  if (size > saltPool.length) return randomFillSync(Buffer.alloc(size));
  if (saltPos + size > saltPool.length) {
    randomFillSync(saltPool);
    saltPos = 0;
  }
  const out = saltPool.subarray(saltPos, saltPos + size);
  saltPos += size;
  return out;
}

export class NonceService {
  readonly lifetimeMs: number;
  private readonly maxSkewMs: number;
  private readonly random: (size: number) => Uint8Array;
  /** HMAC-SHA-256 with the secret, its pads prepared once. */
  private readonly key: HmacKey;
  /** The raw nonce (head and MAC) being made, before base64url. */
  private readonly raw = Buffer.alloc(NONCE_BYTES);

  constructor(options: NonceOptions) {
    this.key = new HmacKey('sha256', Buffer.from(options.secret));
    this.lifetimeMs = options.lifetimeMs ?? DEFAULT_NONCE_LIFETIME_MS;
    this.maxSkewMs = options.maxSkewMs ?? 5_000;
    this.random = options.random ?? pooledRandom;
  }

  /** The MAC of the nonce's head (its first TS_BYTES + SALT_BYTES bytes); the nonce carries its first MAC_BYTES. */
  private mac(raw: Uint8Array, realm: string, clientAddress: string | undefined): Buffer {
    return this.key.digest(raw.subarray(0, TS_BYTES + SALT_BYTES), `\0${realm}\0${clientAddress ?? ''}`);
  }

  /** A new nonce for `realm` (bound to `clientAddress` when given), stamped with `now` (ms). */
  create(now: number, realm: string, clientAddress?: string): string {
    const raw = this.raw;
    raw.writeUIntBE(Math.max(0, Math.min(Math.floor(now), 2 ** 48 - 1)), 0, TS_BYTES);
    raw.set(this.random(SALT_BYTES).subarray(0, SALT_BYTES), TS_BYTES);
    this.mac(raw, realm, clientAddress).copy(raw, TS_BYTES + SALT_BYTES, 0, MAC_BYTES);
    return raw.toString('base64url');
  }

  /** Checks a nonce: made by us for this realm (and address), and how old it is. Never throws. */
  check(nonce: string, now: number, realm: string, clientAddress?: string): NonceCheck {
    if (nonce.length !== NONCE_CHARS || !BASE64URL.test(nonce)) return { status: 'invalid', reason: 'not one of our nonces' };
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_BYTES) return { status: 'invalid', reason: 'not one of our nonces' };
    if (!macEquals(this.mac(raw, realm, clientAddress), raw, TS_BYTES + SALT_BYTES, MAC_BYTES)) return { status: 'invalid', reason: 'nonce MAC does not match' };
    const issuedAt = raw.readUIntBE(0, TS_BYTES);
    if (issuedAt > now + this.maxSkewMs) return { status: 'invalid', reason: 'nonce from the future' };
    return now - issuedAt > this.lifetimeMs ? { status: 'expired', issuedAt } : { status: 'fresh', issuedAt };
  }
}
