/**
 * Requests for a party whose flow (TCP/TLS/WebSocket connection or NAT binding) another node of
 * the cluster holds go to that node, which sends them on the flow: the Route names the node's SIP
 * address (from its heartbeat) with the flow token in `tvf`. A node that is down or unknown gives
 * no route, and the proxy answers 430 Flow Failed for a party only that flow reaches (RFC 5626).
 */
import type { ClusterNode } from '@traverse/cluster';
import { encodeFlowToken, type FlowToken } from './proxy/routing';

/** What a signaling node announces of its SIP service in its heartbeat (announcement extra `sip`). */
export interface AnnouncedSip {
  host: string;
  udp: number;
  tcp: number;
}

export function announcedSip(extra: Record<string, unknown> | undefined): AnnouncedSip | undefined {
  const s = extra?.sip as Partial<AnnouncedSip> | undefined;
  if (!s || typeof s.host !== 'string' || s.host === '' || !Number.isInteger(s.tcp) || !Number.isInteger(s.udp)) return undefined;
  return { host: s.host, udp: s.udp!, tcp: s.tcp! };
}

export function routeToClusterNode(cluster: ClusterNode): (node: string, flow: FlowToken) => string | undefined {
  return (node, flow) => {
    const server = cluster.membership.table.find((s) => s.name === node);
    if (!server || server.status !== 'up') return undefined;
    const sip = announcedSip(server.extra);
    if (!sip || sip.tcp === 0) return undefined;
    const host = sip.host.includes(':') ? `[${sip.host}]` : sip.host;
    // between nodes over TCP: no UDP size limit, one connection reused for every request
    return `<sip:${host}:${sip.tcp};transport=tcp;lr;tvf=${encodeFlowToken(flow)}>`;
  };
}
