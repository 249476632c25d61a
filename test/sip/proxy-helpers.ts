// Helpers of the proxy end-to-end suites: a signaling node for proxy tests, SIPp callers and callees
// run as child processes (Debian's sip-tester), the messages a SIPp instance received, the calls
// O&M API, and a TLS relay for SIPp (which Debian builds without TLS).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { httpsGet, waitFor, type ChildRun } from '@traverse/testing';
import { parseMessage, type SipRequest, type SipResponse } from '@traverse/sip';
import { startSipNode, type SipNode } from './helpers';
import { spawnSipp, type SippOutcome } from './sipp';

export const DOMAIN = 'example.com';

/** A signaling-only node (no STUN/TURN, no WebSocket) serving example.com with the given settings. */
export function startProxyNode(env: Record<string, string> = {}): Promise<SipNode> {
  return startSipNode({
    TRAVERSE_NODE__ROLES: 'signaling',
    TRAVERSE_STUN__ENABLED: 'false',
    TRAVERSE_TURN__ENABLED: 'false',
    TRAVERSE_SIP__WS_PORT: '0',
    TRAVERSE_SIP__WSS_PORT: '0',
    TRAVERSE_REGISTRAR__DOMAINS: DOMAIN,
    TRAVERSE_REGISTRAR__SECURITY_LEVEL: 'none',
    ...env,
  });
}

export type SippResult = SippOutcome;

export interface SippProcess {
  port: number;
  run: ChildRun;
  /** Waits for SIPp to end. */
  result(): Promise<SippResult>;
}

export interface SippOptions {
  scenario: string;
  /** u1 (UDP) or t1 (TCP). */
  transport?: 'u1' | 't1';
  /** Where a client sends (host:port); absent: a server (UAS). */
  remote?: string;
  /** The local port (default: a free one). */
  port?: number;
  service?: string;
  /** Call-ID of the call (-cid_str). */
  callId?: string;
  auth?: { user: string; password: string };
  keys?: Record<string, string | number>;
  timeout?: string;
  /** More SIPp arguments (e.g. -d for a pause). */
  extraArgs?: string[];
}

/** Starts SIPp on a scenario of test/sip/scenarios, as a client (remote given) or a server. */
export async function startSipp(o: SippOptions): Promise<SippProcess> {
  const p = await spawnSipp({
    scenario: o.scenario,
    ...(o.remote ? { remote: o.remote } : {}),
    transport: o.transport ?? 'u1',
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.service ? { service: o.service } : {}),
    ...(o.callId ? { callId: o.callId } : {}),
    ...(o.auth ? { authUser: o.auth.user, password: o.auth.password } : {}),
    ...(o.keys ? { keys: o.keys } : {}),
    ...(o.timeout ? { timeout: o.timeout } : {}),
    ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
  });
  return { port: p.port, run: p.run, result: () => p.done };
}

/** The SIP messages in a SIPp message trace that SIPp received. */
export function receivedMessages(trace: string): Array<SipRequest | SipResponse> {
  const out: Array<SipRequest | SipResponse> = [];
  for (const section of trace.split(/^-{20,}.*$/m)) {
    const m = /message received \[\d+\] bytes :\s*\n\n/.exec(section);
    if (!m) continue;
    const text = section.slice(m.index + m[0].length).replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, '\r\n\r\n');
    const parsed = parseMessage(Buffer.from(text, 'latin1'));
    if (parsed.ok) out.push(parsed.value);
  }
  return out;
}

export function receivedRequest(trace: string, method: string): SipRequest | undefined {
  return receivedMessages(trace).find((m): m is SipRequest => m.kind === 'request' && m.method === method);
}

export function receivedResponse(trace: string, status: number): SipResponse | undefined {
  return receivedMessages(trace).find((m): m is SipResponse => m.kind === 'response' && m.status === status);
}

export interface CallRow {
  callId: string;
  node: string;
  caller: { userId: string; publicAddress?: string; country?: string };
  callee: { userId: string; publicAddress?: string; country?: string };
  started: string;
  answered?: string;
  ended?: string;
  duration: number;
  endReason?: string;
  sipStatus?: number;
  successful?: boolean;
}

export async function calls(node: SipNode, kind: 'active' | 'closed'): Promise<CallRow[]> {
  const r = await httpsGet(`${node.base}/api/calls/${kind}`, node.ca);
  if (r.status !== 200) throw new Error(`GET /api/calls/${kind}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as CallRow[];
}

/** Waits until the call appears among the closed calls (the call table folds the cluster's events). */
export function closedCall(node: SipNode, callId: string): Promise<CallRow> {
  return waitFor(`closed call ${callId}`, async () => (await calls(node, 'closed')).find((c) => c.callId === callId), 10_000, 100);
}

/** A row of the Proxy Registrations table (GET /api/sip/proxy-registrations). */
export interface ProxyRegistrationRow {
  sipUri: string;
  contact?: string;
  publicAddress: string;
  privateAddress?: string;
  protocol: string;
  relay: boolean;
  registered?: string;
  lastSeen?: string;
  rate?: number;
  expires: number;
  expiresAt: string;
  node: string;
  keepAlive?: { sent: number; answered: number; failures: number; lastAnswered?: string };
  /** Set for registrations proxied to another domain's registrar. */
  proxiedTo?: string;
}

export async function proxyRegistrations(node: SipNode, aor?: string): Promise<ProxyRegistrationRow[]> {
  const r = await httpsGet(`${node.base}/api/sip/proxy-registrations${aor ? `?aor=${encodeURIComponent(aor)}` : ''}`, node.ca);
  if (r.status !== 200) throw new Error(`GET /api/sip/proxy-registrations: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as ProxyRegistrationRow[];
}

/** A plain TCP port whose connections are carried over TLS to the node (for SIPp, built without TLS). */
export async function tlsRelay(node: SipNode): Promise<{ port: number; close(): Promise<void> }> {
  const ca = readFileSync(join(node.dataDir, 'certs', 'public-cert.pem'), 'utf8');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((plain) => {
    const secure = tls.connect({ host: '127.0.0.1', port: node.tlsPort, ca, servername: 'localhost' });
    for (const s of [plain, secure]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        plain.destroy();
        secure.destroy();
      });
    }
    plain.pipe(secure);
    secure.pipe(plain);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
