import { hash } from 'node:crypto';

/** Digest algorithms of RFC 7616 / RFC 8760. */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';

/** The hash behind an algorithm (what a stored HA1 is computed with). */
export type DigestHash = 'MD5' | 'SHA-256' | 'SHA-512-256';

export interface AlgorithmInfo {
  readonly name: DigestAlgorithm;
  readonly hash: DigestHash;
  readonly session: boolean;
  /** Hex length of a hash value. */
  readonly hexLength: number;
  /** Higher is stronger (RFC 8760: offer the strongest first). */
  readonly strength: number;
}

const NODE_HASH: Record<DigestHash, string> = { MD5: 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };

const TABLE: readonly AlgorithmInfo[] = [
  { name: 'SHA-512-256', hash: 'SHA-512-256', session: false, hexLength: 64, strength: 30 },
  { name: 'SHA-512-256-sess', hash: 'SHA-512-256', session: true, hexLength: 64, strength: 30 },
  { name: 'SHA-256', hash: 'SHA-256', session: false, hexLength: 64, strength: 20 },
  { name: 'SHA-256-sess', hash: 'SHA-256', session: true, hexLength: 64, strength: 20 },
  { name: 'MD5', hash: 'MD5', session: false, hexLength: 32, strength: 10 },
  { name: 'MD5-sess', hash: 'MD5', session: true, hexLength: 32, strength: 10 },
];

const BY_LOWER = new Map(TABLE.map((a) => [a.name.toLowerCase(), a]));

/** Looks an algorithm up by name, case-insensitively; an absent algorithm means MD5 (RFC 2617). */
export function algorithmInfo(name: string | undefined): AlgorithmInfo | undefined {
  return BY_LOWER.get((name ?? 'MD5').toLowerCase());
}

/** Sorts algorithms strongest first (the order RFC 8760 section 2.4 asks challenges to be in). */
export function strongestFirst<T extends DigestAlgorithm>(algorithms: readonly T[]): T[] {
  return [...algorithms].sort((a, b) => (algorithmInfo(b)?.strength ?? 0) - (algorithmInfo(a)?.strength ?? 0));
}

/** Lower-case hex hash of UTF-8 text or bytes (one-shot: no Hash object per value). */
export function digestHex(algorithm: DigestHash, data: string | Uint8Array): string {
  return hash(NODE_HASH[algorithm], data, 'hex');
}
