/**
 * IP address parsing and formatting without node:net (this lib does no I/O).
 * Addresses are raw bytes: 4 for IPv4, 16 for IPv6.
 */
import { Result, ok, fail } from './result';

export type IpBytes = Uint8Array;

export interface TransportAddress {
  family: 4 | 6;
  /** Canonical text form (dotted quad, or IPv6 as Node/libuv print it). */
  address: string;
  port: number;
}

const MAX_TEXT = 64;

/** Strict dotted-quad IPv4 ("192.0.2.1"); no leading zeros, no short forms. */
export function parseIPv4(text: string): IpBytes | undefined {
  if (text.length > 15) return undefined;
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return undefined; // leading zero
      value = value * 10 + (c - 0x30);
      digits++;
      if (value > 255) return undefined;
    } else return undefined;
  }
  return part === 4 ? out : undefined;
}

/**
 * IPv4 in every spelling inet_aton(3) accepts: "127.1", "0x7f.0.0.1", "0177.0.0.1", "2130706433".
 * Used to canonicalise configured or client-supplied text before any policy decision.
 */
export function parseIPv4Loose(text: string): IpBytes | undefined {
  if (text.length === 0 || text.length > MAX_TEXT) return undefined;
  const parts = text.split('.');
  if (parts.length > 4) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) n = parseInt(p, 8);
    else if (/^[1-9][0-9]*$/.test(p)) n = parseInt(p, 10);
    else return undefined;
    if (!Number.isFinite(n) || n > 0xffffffff) return undefined;
    nums.push(n);
  }
  let value: number;
  const last = nums[nums.length - 1];
  const head = nums.slice(0, -1);
  if (head.some((n) => n > 255)) return undefined;
  const maxLast = [0xffffffff, 0xffffff, 0xffff, 0xff][head.length];
  if (last > maxLast) return undefined;
  value = 0;
  for (let i = 0; i < head.length; i++) value += head[i] * 2 ** (8 * (3 - i));
  value += last;
  const out = new Uint8Array(4);
  out[0] = (value >>> 24) & 0xff;
  out[1] = (value >>> 16) & 0xff;
  out[2] = (value >>> 8) & 0xff;
  out[3] = value & 0xff;
  return out;
}

/** IPv6 text (RFC 4291 section 2.2, with "::" and an embedded dotted quad). A zone ("%eth0") is refused. */
export function parseIPv6(text: string): IpBytes | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  let s = text;
  const out = new Uint8Array(16);
  const words: number[] = [];
  let gap = -1;
  if (s.startsWith('::')) {
    gap = 0;
    s = s.slice(2);
    if (s.length === 0) return out;
  } else if (s.startsWith(':')) return undefined;
  const groups = s.split(':');
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (g.length === 0) {
      // "::" in the middle or at the end
      if (gap !== -1) return undefined;
      if (i === groups.length - 1) return undefined; // trailing single ':'
      gap = words.length;
      if (i === groups.length - 2 && groups[i + 1] === '') {
        i++; // trailing "::"
      }
      continue;
    }
    if (i === groups.length - 1 && g.includes('.')) {
      const v4 = parseIPv4(g);
      if (!v4) return undefined;
      words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    words.push(parseInt(g, 16));
  }
  if (gap === -1) {
    if (words.length !== 8) return undefined;
  } else if (words.length > 7) return undefined;
  const fill = 8 - words.length;
  const all = gap === -1 ? words : [...words.slice(0, gap), ...new Array<number>(fill).fill(0), ...words.slice(gap)];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

/**
 * Any textual IP: dotted or inet_aton IPv4, IPv6, optionally in brackets.
 * Returns the raw bytes (4 or 16) so that callers canonicalise before comparing.
 */
export function parseIp(text: string): Result<IpBytes> {
  let t = text.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  if (t.includes(':')) {
    const v6 = parseIPv6(t);
    return v6 ? ok(v6) : fail('BAD_ADDRESS', 'not an IPv6 address');
  }
  const v4 = parseIPv4Loose(t);
  return v4 ? ok(v4) : fail('BAD_ADDRESS', 'not an IPv4 address');
}

export function formatIPv4(b: IpBytes, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/** IPv6 text exactly as libuv's inet_ntop (and so Node's rinfo.address) prints it. */
export function formatIPv6(b: IpBytes): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i] << 8) | b[2 * i + 1]);
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 7 && w[7] !== 0x0001) || (bestLen === 5 && w[5] === 0xffff))) {
      out += formatIPv4(b, 12);
      break;
    }
    out += w[i].toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ':';
  return out;
}

export function formatIp(b: IpBytes): string {
  return b.length === 4 ? formatIPv4(b) : formatIPv6(b);
}

/** Canonical text form of any spelling, or undefined when it is not an IP address. */
export function canonicalIp(text: string): string | undefined {
  const r = parseIp(text);
  return r.ok ? formatIp(r.value) : undefined;
}

/** Builds a TransportAddress from raw bytes and port. */
export function transportAddress(bytes: IpBytes, port: number): TransportAddress {
  return { family: bytes.length === 4 ? 4 : 6, address: formatIp(bytes), port };
}

/** The raw bytes of a TransportAddress (its address text is parsed strictly). */
export function addressBytes(a: { family: 4 | 6; address: string }): IpBytes | undefined {
  if (a.family === 4) return parseIPv4(a.address) ?? parseIPv4Loose(a.address);
  return parseIPv6(a.address);
}
