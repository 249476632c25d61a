/**
 * HMAC (RFC 2104) with SHA-1 and SHA-256 block functions of our own (./sha). Node's createHmac
 * prepares its raw key on every call (about 30 us on Node 24 for a 16-byte key, more than the rest
 * of a TURN transaction), and two one-shot crypto.hash calls cost about 2 us and two new Buffers.
 * HmacKey keeps the hash state after the key's inner and outer pad blocks, so a MAC over a short
 * message (a STUN request, a nonce) is two or three blocks, about 1 us, and allocates only its
 * result. Used for STUN MESSAGE-INTEGRITY(-SHA256) and the stateless nonces of STUN/TURN and SIP
 * digest.
 */
import { hash } from 'node:crypto';
import { SHA1_IV, SHA256_IV, sha1Block, sha256Block } from './sha';

const BLOCK = 64; // SHA-1 and SHA-256 block size
const DIGEST = { sha1: 20, sha256: 32 } as const;
export type HmacAlgorithm = keyof typeof DIGEST;

/** Working state and the block being filled, shared by every digest (one runs at a time). */
const state = new Int32Array(8);
const block = new Uint8Array(BLOCK);
const NON_ASCII = /[\u0080-\uffff]/;

/** The first `words` words of the state, big-endian, at the start of `to`. */
function putWords(to: Uint8Array, words: number): void {
  for (let i = 0, o = 0; i < words; i++, o += 4) {
    const v = state[i];
    to[o] = v >>> 24;
    to[o + 1] = v >>> 16;
    to[o + 2] = v >>> 8;
    to[o + 3] = v;
  }
}

/** A key with the hash states after its inner and outer pads made once: each digest hashes only the message. */
export class HmacKey {
  /** Hash states after the inner pad (words 0..7) and after the outer pad (words 8..15). */
  private readonly pads = new Int32Array(16);
  private readonly compress: (s: Int32Array, b: Uint8Array, o: number) => void;
  private readonly words: number;

  constructor(
    readonly alg: HmacAlgorithm,
    key: Uint8Array,
  ) {
    this.compress = alg === 'sha1' ? sha1Block : sha256Block;
    this.words = DIGEST[alg] / 4;
    const iv = alg === 'sha1' ? SHA1_IV : SHA256_IV;
    const k = key.length > BLOCK ? hash(alg, key, 'buffer') : key;
    this.padState(k, 0x36, iv, 0);
    this.padState(k, 0x5c, iv, 8);
  }

  /** The hash state after the block of the key XOR `x`, into pads[at..]. */
  private padState(k: Uint8Array, x: number, iv: readonly number[], at: number): void {
    for (let i = 0; i < BLOCK; i++) block[i] = (i < k.length ? k[i] : 0) ^ x;
    for (let i = 0; i < this.words; i++) state[i] = iv[i];
    this.compress(state, block, 0);
    for (let i = 0; i < this.words; i++) this.pads[at + i] = state[i];
  }

  /** HMAC of the concatenated parts (bytes or UTF-8 strings). */
  digest(...parts: (Uint8Array | string)[]): Buffer {
    const s = state;
    const words = this.words;
    const pads = this.pads;
    for (let i = 0; i < words; i++) s[i] = pads[i];
    let n = 0;
    let total = BLOCK;
    for (const p of parts) {
      const bytes = typeof p === 'string' ? (NON_ASCII.test(p) ? Buffer.from(p, 'utf8') : p) : p;
      total += bytes.length;
      n = typeof bytes === 'string' ? this.absorbAscii(bytes, n) : this.absorb(bytes, n);
    }
    this.finish(n, total);
    // the outer hash: its pad's state, then the inner digest
    putWords(block, words);
    for (let i = 0; i < words; i++) s[i] = pads[8 + i];
    this.finish(words * 4, BLOCK + words * 4);
    const out = Buffer.allocUnsafe(words * 4);
    putWords(out, words);
    return out;
  }

  /** Adds bytes after the `n` bytes already in the block; returns how many the block holds then. */
  private absorb(bytes: Uint8Array, n: number): number {
    const len = bytes.length;
    let i = 0;
    if (n > 0) {
      while (n < BLOCK && i < len) block[n++] = bytes[i++];
      if (n < BLOCK) return n;
      this.compress(state, block, 0);
      n = 0;
    }
    for (; len - i >= BLOCK; i += BLOCK) this.compress(state, bytes, i);
    while (i < len) block[n++] = bytes[i++];
    return n;
  }

  private absorbAscii(text: string, n: number): number {
    for (let i = 0; i < text.length; i++) {
      block[n++] = text.charCodeAt(i);
      if (n === BLOCK) {
        this.compress(state, block, 0);
        n = 0;
      }
    }
    return n;
  }

  /** Padding and length (`total` bytes hashed) after the `n` bytes in the block. */
  private finish(n: number, total: number): void {
    block[n++] = 0x80;
    if (n > BLOCK - 8) {
      block.fill(0, n);
      this.compress(state, block, 0);
      n = 0;
    }
    block.fill(0, n, BLOCK - 8);
    const high = Math.floor(total / 0x20000000);
    const low = (total * 8) >>> 0;
    block[56] = high >>> 24;
    block[57] = high >>> 16;
    block[58] = high >>> 8;
    block[59] = high;
    block[60] = low >>> 24;
    block[61] = low >>> 16;
    block[62] = low >>> 8;
    block[63] = low;
    this.compress(state, block, 0);
  }
}

/**
 * Whether a MAC computed here (mac[0..len)) equals the one received at bytes[at..at+len), in time
 * that depends on len only: no hint of where a forged MAC first differs. The caller keeps both in
 * bounds (len at most the MAC's length).
 */
export function macEquals(mac: Uint8Array, bytes: Uint8Array, at: number, len: number): boolean {
  let d = 0;
  for (let i = 0; i < len; i++) d |= mac[i] ^ bytes[at + i];
  return d === 0;
}

/** HMAC of the concatenated parts (bytes or UTF-8 strings) under `key`. */
export function hmac(alg: HmacAlgorithm, key: Uint8Array, ...parts: (Uint8Array | string)[]): Buffer {
  return new HmacKey(alg, key).digest(...parts);
}

const prepared = { sha1: new WeakMap<Uint8Array, HmacKey>(), sha256: new WeakMap<Uint8Array, HmacKey>() };

/**
 * The HmacKey of a key object, made on its first use and kept while the key object lives: for keys
 * used again and again (a TURN allocation's long-term key, a nonce secret). The key's bytes must
 * not change while it is in use.
 */
export function preparedKey(alg: HmacAlgorithm, key: Uint8Array): HmacKey {
  const cache = prepared[alg];
  let k = cache.get(key);
  if (k === undefined) {
    k = new HmacKey(alg, key);
    cache.set(key, k);
  }
  return k;
}
