/**
 * Who "this proxy" is: the addresses and names a Route, a Request-URI or a Via sent-by may use to
 * mean this node (RFC 3261 16.4), and the address it advertises in the Via and Record-Route it adds
 * towards a peer (the loopback address to a loopback peer, else the public address when
 * sip.usePublicAddress is on and node.publicAddress is set, else the host's first address of the
 * peer's family).
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { canonicalIp } from '../transport/addresses';

export type ProxyTransportName = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';

export interface LocalAddressesOptions {
  udpPort: number;
  tcpPort: number;
  tlsPort: number;
  wsPort?: number;
  wssPort?: number;
  /** node.publicAddress ('' when not set): an IP or a host name. */
  publicAddress: string;
  usePublicAddress: boolean;
  /** Local SIP domains: a Route naming one (and a port of ours, or none) means this proxy. */
  domains: readonly string[];
  /** The host's interface addresses (default: os.networkInterfaces()). */
  interfaceAddresses?: readonly string[];
}

/** A host for a URI or Via: IPv6 in brackets. */
export function uriHost(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

export class LocalAddresses {
  private readonly hosts = new Set<string>();
  private readonly ports: Set<number>;
  private readonly v4: string | undefined;
  private readonly v6: string | undefined;
  private readonly publicHost: string | undefined;

  constructor(private readonly o: LocalAddressesOptions) {
    const ifaces =
      o.interfaceAddresses ??
      Object.values(networkInterfaces())
        .flat()
        .filter((a) => a !== undefined)
        .map((a) => a.address);
    for (const a of ifaces) this.hosts.add(canonicalIp(a));
    this.hosts.add('localhost');
    if (o.publicAddress) this.hosts.add(canonicalIp(o.publicAddress));
    for (const d of o.domains) this.hosts.add(d.toLowerCase());
    this.ports = new Set([o.udpPort, o.tcpPort, o.tlsPort, o.wsPort ?? 0, o.wssPort ?? 0].filter((p) => p > 0));
    const external = ifaces.map(canonicalIp).filter((a) => !isLoopback(a) && !a.startsWith('fe80:'));
    this.v4 = external.find((a) => isIP(a) === 4);
    this.v6 = external.find((a) => isIP(a) === 6);
    this.publicHost = o.usePublicAddress && o.publicAddress ? o.publicAddress : undefined;
  }

  /** Whether host (and port; absent means the default port of the scheme/transport) names this proxy. */
  isMe(host: string, port: number | undefined, secure = false): boolean {
    if (!this.hosts.has(canonicalIp(host))) return false;
    return this.ports.has(port ?? (secure ? 5061 : 5060));
  }

  /** Whether an address is one of this host's own. */
  isOwnAddress(host: string): boolean {
    return this.hosts.has(canonicalIp(host));
  }

  /** The port this node listens on for a transport. */
  port(transport: ProxyTransportName): number {
    switch (transport) {
      case 'UDP':
        return this.o.udpPort;
      case 'TCP':
        return this.o.tcpPort;
      case 'TLS':
        return this.o.tlsPort;
      case 'WS':
        return this.o.wsPort ?? 0;
      case 'WSS':
        return this.o.wssPort ?? 0;
    }
  }

  /** The host (IPv6 bracketed) this node puts in a Via or Record-Route it sends towards peerIp. */
  advertisedHost(peerIp: string): string {
    const peer = canonicalIp(peerIp);
    const v6 = isIP(peer) === 6;
    if (isLoopback(peer)) return v6 ? '[::1]' : '127.0.0.1';
    if (this.publicHost !== undefined) return uriHost(this.publicHost);
    const own = v6 ? (this.v6 ?? this.v4) : (this.v4 ?? this.v6);
    return own !== undefined ? uriHost(own) : v6 ? '[::1]' : '127.0.0.1';
  }
}
