/**
 * Whether a SIP client is behind a NAT, from what its request says about itself and where it
 * really came from (the tests of Kamailio's nat_uac_test, in the field's words):
 *  - the top Via sent-by is an IP other than the source address;
 *  - over UDP, the Via port is not the source port (RFC 3581 rport shows the mapping);
 *  - a Contact names a private, shared (CGNAT), link-local or ULA address that is not the source;
 *  - over WebSocket, the Contact is not the source (RFC 7118 clients invent a `.invalid` host and
 *    are reachable only through their connection).
 * A client behind NAT is reached at its public (source) address, through the flow it opened.
 */
import { isIP } from 'node:net';
import type { SipRequest } from '@traverse/sip';
import { canonicalIp } from '../transport/addresses';

export type NatReason = 'via-address' | 'via-port' | 'contact-private' | 'contact-not-source';

export interface NatVerdict {
  behindNat: boolean;
  /** The tests that said so (empty when not behind NAT). */
  reasons: NatReason[];
  /** The address the client announced for itself (Contact, else Via sent-by), `ip:port`, when it differs from the source. */
  privateAddress?: string;
}

export interface NatSource {
  transport: string;
  address: string;
  port: number;
}

function v4(ip: string): number[] | undefined {
  const parts = ip.split('.').map(Number);
  return parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255) ? parts : undefined;
}

/** RFC 1918, RFC 6598 (shared CGNAT space), link-local (RFC 3927, fe80::/10) and unique local (fc00::/7) addresses. */
export function isPrivateAddress(ip: string): boolean {
  const a = canonicalIp(ip);
  const kind = isIP(a);
  if (kind === 4) {
    const [x, y] = v4(a)!;
    return x === 10 || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168) || (x === 100 && y >= 64 && y <= 127) || (x === 169 && y === 254);
  }
  if (kind === 6) {
    const first = parseInt(a.split(':')[0] || '0', 16);
    return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80;
  }
  return false;
}

function hostPort(host: string, port: number | undefined, defaultPort: number): string {
  const h = canonicalIp(host);
  return `${isIP(h) === 6 ? `[${h}]` : h}:${port ?? defaultPort}`;
}

export function detectNat(req: SipRequest, source: NatSource): NatVerdict {
  const reasons: NatReason[] = [];
  const defaultPort = source.transport === 'TLS' || source.transport === 'WSS' ? 5061 : 5060;
  let announced: string | undefined;
  const top = req.topVia;
  if (top !== undefined) {
    const viaHost = canonicalIp(top.host);
    if (isIP(viaHost) !== 0) {
      announced = hostPort(viaHost, top.port, defaultPort);
      if (viaHost !== source.address) reasons.push('via-address');
      else if (top.transport === 'UDP' && (top.port ?? 5060) !== source.port) reasons.push('via-port');
    }
  }
  const contacts = req.contacts();
  if (contacts.ok && !contacts.value.star) {
    for (const c of contacts.value.contacts) {
      if (c.uri.kind !== 'sip') continue;
      const host = canonicalIp(c.uri.host);
      if (isIP(host) !== 0) {
        announced = hostPort(host, c.uri.port, defaultPort);
        if (host !== source.address && isPrivateAddress(host) && !reasons.includes('contact-private')) reasons.push('contact-private');
      } else if ((source.transport === 'WS' || source.transport === 'WSS') && !reasons.includes('contact-not-source')) reasons.push('contact-not-source');
      break; // the first contact speaks for the client
    }
  }
  const sourceText = hostPort(source.address, source.port, defaultPort);
  return {
    behindNat: reasons.length > 0,
    reasons,
    ...(reasons.length > 0 && announced !== undefined && announced !== sourceText ? { privateAddress: announced } : {}),
  };
}
