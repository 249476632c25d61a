/**
 * Which peer addresses a TURN server may relay to (RFC 8656 section 21.3 and the architecture's
 * security baseline). Every spelling is canonicalised first: IPv4-mapped, IPv4-compatible and
 * SIIT-translated IPv6, NAT64 (64:ff9b::/96), 6to4 and Teredo all resolve to their embedded IPv4.
 */
import { IpBytes, parseIp, formatIp } from './ip';
import { Result, ok, fail } from './result';

export type PeerCategory =
  | 'public'
  | 'unspecified'
  | 'this-network'
  | 'loopback'
  | 'link-local'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'private'
  | 'cgnat'
  | 'unique-local'
  | 'site-local'
  | 'documentation'
  | 'benchmarking'
  | 'discard';

export interface Cidr {
  bytes: IpBytes;
  prefix: number;
}

/** Parses "10.0.0.0/8", "fc00::/7", or a single address (full-length prefix). */
export function parseCidr(text: string): Result<Cidr> {
  const slash = text.indexOf('/');
  const addr = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!addr.ok) return addr;
  const max = addr.value.length * 8;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p)) return fail('BAD_ADDRESS', 'bad prefix length');
    prefix = Number(p);
    if (prefix > max) return fail('BAD_ADDRESS', 'prefix longer than the address');
  }
  return ok({ bytes: addr.value, prefix });
}

export function cidrContains(c: Cidr, ip: IpBytes): boolean {
  if (c.bytes.length !== ip.length) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((c.bytes[i] & mask) !== (ip[i] & mask)) return false;
  }
  return true;
}

function v4Category(b: IpBytes): PeerCategory {
  const [a, c, d, e] = [b[0], b[1], b[2], b[3]];
  if (a === 0) return a === 0 && c === 0 && d === 0 && e === 0 ? 'unspecified' : 'this-network';
  if (a === 127) return 'loopback';
  if (a === 169 && c === 254) return 'link-local';
  if (a >= 224 && a <= 239) return 'multicast';
  if (a === 255 && c === 255 && d === 255 && e === 255) return 'broadcast';
  if (a >= 240) return 'reserved';
  if (a === 10 || (a === 172 && c >= 16 && c <= 31) || (a === 192 && c === 168)) return 'private';
  if (a === 100 && c >= 64 && c <= 127) return 'cgnat';
  if (a === 192 && c === 0 && d === 0) return 'reserved'; // IETF protocol assignments
  if ((a === 192 && c === 0 && d === 2) || (a === 198 && c === 51 && d === 100) || (a === 203 && c === 0 && d === 113))
    return 'documentation';
  if (a === 198 && (c === 18 || c === 19)) return 'benchmarking';
  return 'public';
}

/** The IPv4 address embedded in an IPv6 spelling, if any (mapped, compatible, SIIT, NAT64, 6to4, Teredo). */
export function embeddedIPv4(b: IpBytes): IpBytes | undefined {
  if (b.length !== 16) return undefined;
  const w = (i: number) => (b[2 * i] << 8) | b[2 * i + 1];
  const zeros = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (b[i] !== 0) return false;
    return true;
  };
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (SIIT translated), ::a.b.c.d (compatible, deprecated)
  if (zeros(0, 10) && w(5) === 0xffff) return b.slice(12, 16);
  if (zeros(0, 8) && w(4) === 0xffff && w(5) === 0) return b.slice(12, 16);
  if (zeros(0, 12) && !(b[12] === 0 && b[13] === 0 && b[14] === 0 && (b[15] === 0 || b[15] === 1))) return b.slice(12, 16);
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052)
  if (w(0) === 0x0064 && w(1) === 0xff9b && zeros(4, 12)) return b.slice(12, 16);
  // 6to4 2002:V4ADDR::/48 (RFC 3056)
  if (w(0) === 0x2002) return b.slice(2, 6);
  // Teredo 2001:0000::/32: server at bits 32-63, client obfuscated (xor 0xffffffff) in the last 32 bits
  if (w(0) === 0x2001 && w(1) === 0x0000) return Uint8Array.from(b.slice(12, 16), (x) => x ^ 0xff);
  return undefined;
}

function v6Category(b: IpBytes): PeerCategory {
  const w0 = (b[0] << 8) | b[1];
  let allZero = true;
  for (let i = 0; i < 15; i++) if (b[i] !== 0) allZero = false;
  if (allZero && b[15] === 0) return 'unspecified';
  if (allZero && b[15] === 1) return 'loopback';
  if ((w0 & 0xffc0) === 0xfe80) return 'link-local';
  if ((w0 & 0xffc0) === 0xfec0) return 'site-local';
  if ((w0 & 0xfe00) === 0xfc00) return 'unique-local';
  if (b[0] === 0xff) return 'multicast';
  if (w0 === 0x0064 && b[2] === 0xff && b[3] === 0x9b && b[4] === 0 && b[5] === 1) return 'private'; // 64:ff9b:1::/48 local-use NAT64
  if (w0 === 0x0100 && b[2] === 0 && b[3] === 0 && b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] === 0) return 'discard'; // 100::/64
  if (w0 === 0x2001 && b[2] === 0x0d && b[3] === 0xb8) return 'documentation';
  if (w0 === 0x2001 && b[2] === 0x00 && (b[3] & 0xf0) === 0x10) return 'reserved'; // ORCHID 2001:10::/28
  if (w0 === 0x2001 && b[2] === 0x00 && (b[3] & 0xf0) === 0x20) return 'reserved'; // ORCHIDv2 2001:20::/28
  if (w0 === 0x2001 && b[2] === 0x00 && b[3] === 0x02 && b[4] === 0 && b[5] === 0) return 'benchmarking'; // 2001:2::/48
  if ((w0 & 0xe000) !== 0x2000) return 'reserved'; // outside global unicast 2000::/3
  return 'public';
}

export interface PeerPolicyOptions {
  /** Allow RFC 1918, CGNAT 100.64/10, ULA fc00::/7, site-local fec0::/10, NAT64 local-use. Default false. */
  allowPrivate?: boolean;
  /** Allow documentation and benchmarking ranges. Default false. */
  allowDocumentation?: boolean;
  /**
   * Exceptions that are allowed whatever their category (e.g. a test peer on 127.0.0.1).
   * Matched against the canonical address, so ::ffff:127.0.0.1 matches 127.0.0.1/32.
   */
  allow?: string[];
  /** Extra denials, checked after the categories (matched on the canonical address too). */
  deny?: string[];
}

export interface PeerDecision {
  allowed: boolean;
  category: PeerCategory;
  /** The canonical address the decision was made on (the embedded IPv4 where there is one). */
  canonical: string;
  /** Why it was refused (for logs and the 403 reason). */
  reason?: string;
}

const ALWAYS_DENIED: ReadonlySet<PeerCategory> = new Set([
  'unspecified',
  'this-network',
  'loopback',
  'link-local',
  'multicast',
  'broadcast',
  'reserved',
  'discard',
]);
const PRIVATE: ReadonlySet<PeerCategory> = new Set(['private', 'cgnat', 'unique-local', 'site-local']);
const DOCS: ReadonlySet<PeerCategory> = new Set(['documentation', 'benchmarking']);

export function categorize(b: IpBytes): PeerCategory {
  return b.length === 4 ? v4Category(b) : v6Category(b);
}

/**
 * A peer-address policy. Construction fails (Result) on a malformed allow/deny entry.
 * check() is pure and allocation-light; call it on every CreatePermission, ChannelBind, Send and Connect.
 */
export class PeerPolicy {
  private constructor(
    private readonly opts: PeerPolicyOptions,
    private readonly allowList: Cidr[],
    private readonly denyList: Cidr[],
  ) {}

  static create(opts: PeerPolicyOptions = {}): Result<PeerPolicy> {
    const parse = (list: string[] | undefined): Result<Cidr[]> => {
      const out: Cidr[] = [];
      for (const t of list ?? []) {
        const c = parseCidr(t);
        if (!c.ok) return fail('BAD_ADDRESS', `bad peer policy entry "${t}": ${c.error.reason}`);
        out.push(c.value);
      }
      return ok(out);
    };
    const allow = parse(opts.allow);
    if (!allow.ok) return allow;
    const deny = parse(opts.deny);
    if (!deny.ok) return deny;
    return ok(new PeerPolicy({ ...opts }, allow.value, deny.value));
  }

  /** Decision on raw address bytes (as decoded from XOR-PEER-ADDRESS). */
  checkBytes(raw: IpBytes): PeerDecision {
    const embedded = embeddedIPv4(raw);
    // Judge both the IPv6 form and the IPv4 it carries; either denied means denied.
    const forms: IpBytes[] = embedded ? [embedded, raw] : [raw];
    const canonical = formatIp(embedded && raw.length === 16 && isTranslatedForm(raw) ? embedded : raw);
    const primary = categorize(forms[0]);
    for (const f of forms) if (this.allowList.some((c) => cidrContains(c, f))) return { allowed: true, category: primary, canonical };
    // The host is the embedded IPv4 when there is one (the IPv6 wrapper of mapped/compatible/NAT64 forms is
    // outside global unicast by construction, and 6to4/Teredo wrappers are global unicast).
    const why = this.denied(primary);
    if (why) return { allowed: false, category: primary, canonical, reason: why };
    for (const f of forms)
      if (this.denyList.some((c) => cidrContains(c, f)))
        return { allowed: false, category: primary, canonical, reason: 'denied by configuration' };
    return { allowed: true, category: primary, canonical };
  }

  /** Decision on any textual spelling; unparseable text is refused. */
  check(text: string): PeerDecision {
    const r = parseIp(text);
    if (!r.ok) return { allowed: false, category: 'reserved', canonical: text, reason: 'not an IP address' };
    return this.checkBytes(r.value);
  }

  private denied(cat: PeerCategory): string | undefined {
    if (ALWAYS_DENIED.has(cat)) return `${cat} address`;
    if (PRIVATE.has(cat) && !this.opts.allowPrivate) return `${cat} address`;
    if (DOCS.has(cat) && !this.opts.allowDocumentation) return `${cat} address`;
    return undefined;
  }
}

/** Mapped / compatible / SIIT forms are the same host as their IPv4; NAT64, 6to4, Teredo are not. */
function isTranslatedForm(b: IpBytes): boolean {
  for (let i = 0; i < 8; i++) if (b[i] !== 0) return false;
  return true;
}
