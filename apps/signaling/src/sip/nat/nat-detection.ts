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
  return isPrivateIp(a, isIP(a));
}

/** isPrivateAddress of a canonical IP whose family (isIP) is known. */
function isPrivateIp(a: string, kind: number): boolean {
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

/** `ip:port` (`[ip]:port` for IPv6) of a canonical IP whose family is known. */
function hostPort(ip: string, kind: number, port: number | undefined, defaultPort: number): string {
  return `${kind === 6 ? `[${ip}]` : ip}:${port ?? defaultPort}`;
}

export function detectNat(req: SipRequest, source: NatSource): NatVerdict {
  const reasons: NatReason[] = [];
  const defaultPort = source.transport === 'TLS' || source.transport === 'WSS' ? 5061 : 5060;
  // what the client announced for itself (the first contact, else the Via sent-by); written out only when behind NAT
  let announcedIp: string | undefined;
  let announcedKind = 0;
  let announcedPort: number | undefined;
  const top = req.topVia;
  if (top !== undefined) {
    const viaHost = canonicalIp(top.host);
    const kind = isIP(viaHost);
    if (kind !== 0) {
      announcedIp = viaHost;
      announcedKind = kind;
      announcedPort = top.port;
      if (viaHost !== source.address) reasons.push('via-address');
      else if (top.transport === 'UDP' && (top.port ?? 5060) !== source.port) reasons.push('via-port');
    }
  }
  const contacts = req.contacts();
  if (contacts.ok && !contacts.value.star) {
    for (const c of contacts.value.contacts) {
      if (c.uri.kind !== 'sip') continue;
      const host = canonicalIp(c.uri.host);
      const kind = isIP(host);
      if (kind !== 0) {
        announcedIp = host;
        announcedKind = kind;
        announcedPort = c.uri.port;
        if (host !== source.address && isPrivateIp(host, kind) && !reasons.includes('contact-private')) reasons.push('contact-private');
      } else if ((source.transport === 'WS' || source.transport === 'WSS') && !reasons.includes('contact-not-source')) reasons.push('contact-not-source');
      break; // the first contact speaks for the client
    }
  }
  if (reasons.length === 0 || announcedIp === undefined) return { behindNat: reasons.length > 0, reasons };
  const announced = hostPort(announcedIp, announcedKind, announcedPort, defaultPort);
  const sourceIp = canonicalIp(source.address);
  return { behindNat: true, reasons, ...(announced !== hostPort(sourceIp, isIP(sourceIp), source.port, defaultPort) ? { privateAddress: announced } : {}) };
}
