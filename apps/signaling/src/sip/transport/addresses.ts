/** Address helpers of the SIP edge: canonical IPs, trusted-host lists, Via received/rport. */
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { SipRequest } from '@traverse/sip';

/** Canonical text of an IP: IPv4-mapped IPv6 becomes IPv4, brackets go, IPv6 in lower case. */
export function canonicalIp(ip: string): string {
  let s = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  s = s.toLowerCase();
  if (s.startsWith('::ffff:') && isIP(s.slice(7)) === 4) return s.slice(7);
  return s;
}

/** host or IP with an optional port: `1.2.3.4`, `1.2.3.4:5060`, `[::1]:5060`, `::1`, `pbx.example.com:5070`. */
export function splitHostPort(entry: string): { host: string; port?: number } {
  const e = entry.trim();
  if (e.startsWith('[')) {
    const close = e.indexOf(']');
    const host = e.slice(1, close < 0 ? undefined : close);
    const rest = close < 0 ? '' : e.slice(close + 1);
    return rest.startsWith(':') && /^\d+$/.test(rest.slice(1)) ? { host, port: Number(rest.slice(1)) } : { host };
  }
  if (isIP(e) === 6) return { host: e };
  const colon = e.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(e.slice(colon + 1))) return { host: e.slice(0, colon), port: Number(e.slice(colon + 1)) };
  return { host: e };
}

/**
 * The trusted hosts of registrar.trustedHosts, resolved: names are looked up once (all addresses)
 * when the list is built. A host trusted without a port is trusted on any source port.
 */
export class TrustedHosts {
  private readonly anyPort = new Set<string>();
  private readonly withPort = new Set<string>();

  private constructor() {}

  static async resolve(entries: readonly string[], onUnresolved?: (entry: string, err: Error) => void): Promise<TrustedHosts> {
    const t = new TrustedHosts();
    for (const entry of entries) {
      const { host, port } = splitHostPort(entry);
      let ips: string[];
      if (isIP(host)) ips = [host];
      else {
        try {
          ips = (await lookup(host, { all: true })).map((a) => a.address);
        } catch (e) {
          onUnresolved?.(entry, e as Error);
          continue;
        }
      }
      for (const ip of ips) {
        if (port === undefined) t.anyPort.add(canonicalIp(ip));
        else t.withPort.add(`${canonicalIp(ip)}|${port}`);
      }
    }
    return t;
  }

  static of(entries: readonly string[]): TrustedHosts {
    const t = new TrustedHosts();
    for (const entry of entries) {
      const { host, port } = splitHostPort(entry);
      if (!isIP(host)) continue;
      if (port === undefined) t.anyPort.add(canonicalIp(host));
      else t.withPort.add(`${canonicalIp(host)}|${port}`);
    }
    return t;
  }

  /** Trusted as a source at all (any port): exempt from rate limiting. */
  hasIp(ip: string): boolean {
    const c = canonicalIp(ip);
    if (this.anyPort.has(c)) return true;
    for (const k of this.withPort) if (k.startsWith(c + '|')) return true;
    return false;
  }

  /** This source address (and port) is trusted: not challenged. */
  has(ip: string, port: number): boolean {
    const c = canonicalIp(ip);
    return this.anyPort.has(c) || this.withPort.has(`${c}|${port}`);
  }

  get size(): number {
    return this.anyPort.size + this.withPort.size;
  }
}

/**
 * RFC 3261 18.2.1 and RFC 3581: stamps the top Via of a received request with `received`
 * (when the sent-by host is not the source address, or rport was asked for) and fills `rport`
 * with the source port when the client asked for it. Returns true when the Via changed.
 */
export function stampVia(req: SipRequest, sourceIp: string, sourcePort: number): boolean {
  const top = req.topVia;
  if (top === undefined) return false;
  const wantsRport = top.params.has('rport');
  const sameHost = canonicalIp(top.host) === sourceIp;
  if (!wantsRport && sameHost) return false;
  const params = new Map(top.params);
  params.set('received', sourceIp);
  if (wantsRport) params.set('rport', String(sourcePort));
  req.removeTopVia();
  req.addVia({ ...top, params, received: sourceIp, ...(wantsRport ? { rport: sourcePort } : {}) });
  return true;
}

/** Whether a request looks sent from behind a NAT: its source differs from the top Via sent-by (IP, and port over UDP). */
export function behindNat(req: SipRequest, sourceIp: string, sourcePort: number): boolean {
  const top = req.topVia;
  if (top === undefined) return false;
  const host = canonicalIp(top.host);
  if (isIP(host) === 0) return false; // a name: cannot tell
  if (host !== sourceIp) return true;
  const port = top.port ?? (top.transport === 'TLS' ? 5061 : 5060);
  return top.transport === 'UDP' && port !== sourcePort;
}
