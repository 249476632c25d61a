// Helpers of the transport and NAT end-to-end suites: SIPp against any address of the node
// (IPv4 or IPv6, as SIPp's own -i address), run in the background while the test acts on the node.
import dgram from 'node:dgram';
import { waitFor, type ChildRun } from '@traverse/testing';
import { parseMessage, type SipMessage, type SipResponse } from '@traverse/sip';
import type { SipNode } from './helpers';
import { spawnSipp } from './sipp';

export interface SippOptions {
  /** SIPp's own address (-i): 127.0.0.1 or ::1. */
  localIp?: string;
  /** The node's address SIPp sends to; default the same family's loopback. */
  remoteIp?: string;
  /** Port of the node; default the node's UDP/TCP port. */
  remotePort?: number;
  transport?: 'u1' | 't1';
  user: string;
  password?: string;
  keys?: Record<string, string | number>;
  /** Calls to run (default 1). */
  calls?: number;
  /** SIPp -timeout (default 30s). */
  timeout?: string;
  /** The local port SIPp binds (default a free one). */
  port?: number;
  /** A user agent server: SIPp waits for requests and names no remote host. */
  server?: boolean;
  /** More SIPp arguments (e.g. -aa, -d). */
  extraArgs?: string[];
}

export interface SippProcess {
  port: number;
  run: ChildRun;
  /** Resolves when SIPp exits: its code and a log for assertion messages. */
  done: Promise<{ code: number | string; log: string }>;
}

/** Starts SIPp with a scenario of test/sip/scenarios against the node; does not wait for it. */
export async function startSipp(node: SipNode, scenario: string, o: SippOptions): Promise<SippProcess> {
  const local = o.localIp ?? '127.0.0.1';
  const remote = o.remoteIp ?? (local.includes(':') ? '::1' : '127.0.0.1');
  const p = await spawnSipp({
    scenario,
    ...(o.server ? {} : { remote: `${remote.includes(':') ? `[${remote}]` : remote}:${o.remotePort ?? node.sipPort}` }),
    transport: o.transport ?? 'u1',
    localIp: local,
    ...(o.port !== undefined ? { port: o.port } : {}),
    service: o.user,
    password: o.password ?? 'password',
    calls: o.calls ?? 1,
    ...(o.timeout ? { timeout: o.timeout } : {}),
    ...(o.keys ? { keys: o.keys } : {}),
    ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
  });
  return { port: p.port, run: p.run, done: p.done.then(({ code, log }) => ({ code, log })) };
}

/** Runs SIPp to its end. */
export async function runSipp(node: SipNode, scenario: string, o: SippOptions): Promise<{ code: number | string; log: string; port: number }> {
  const p = await startSipp(node, scenario, o);
  return { ...(await p.done), port: p.port };
}

/** A SIP client on a UDP socket: sends requests, collects every message it gets. */
export class UdpSipClient {
  readonly got: SipMessage[] = [];
  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (m) => {
      const p = parseMessage(m);
      if (p.ok) this.got.push(p.value);
    });
  }

  static async open(address = '127.0.0.1'): Promise<UdpSipClient> {
    const s = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((r) => s.bind(0, address, () => r()));
    return new UdpSipClient(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(msg: SipMessage, port: number, address = '127.0.0.1'): void {
    this.socket.send(msg.toBuffer(), port, address);
  }

  /** The first final response to the request with this branch. */
  async response(branch: string | undefined, ms = 10_000): Promise<SipResponse> {
    return waitFor(
      `a final response to ${branch}`,
      () => this.got.find((m): m is SipResponse => m.kind === 'response' && m.status >= 200 && m.topVia?.branch === branch),
      ms,
      20,
    );
  }

  close(): void {
    this.socket.close();
  }
}
