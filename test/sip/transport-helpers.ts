// Helpers of the transport and NAT end-to-end suites: SIPp against any address of the node
// (IPv4 or IPv6, as SIPp's own -i address), run in the background while the test acts on the node.
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot, runChild, waitFor, type ChildRun } from '@traverse/testing';
import { parseMessage, type SipMessage, type SipResponse } from '@traverse/sip';
import type { SipNode } from './helpers';

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
  const v6 = local.includes(':');
  const remote = o.remoteIp ?? (v6 ? '::1' : '127.0.0.1');
  const port = o.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'traverse-sipp-'));
  const errors = join(dir, 'errors.log');
  const messages = join(dir, 'messages.log');
  const args = [
    ...(o.server ? [] : [`${remote.includes(':') ? `[${remote}]` : remote}:${o.remotePort ?? node.sipPort}`]),
    '-sf',
    join(repoRoot(), 'test', 'sip', 'scenarios', scenario),
    '-t',
    o.transport ?? 'u1',
    '-s',
    o.user,
    '-ap',
    o.password ?? 'password',
    '-i',
    local,
    '-p',
    String(port),
    '-m',
    String(o.calls ?? 1),
    '-nostdin',
    '-timeout',
    o.timeout ?? '30s',
    '-timeout_error',
    '-trace_err',
    '-error_file',
    errors,
    '-trace_msg',
    '-message_file',
    messages,
    ...Object.entries(o.keys ?? {}).flatMap(([k, v]) => ['-key', k, String(v)]),
    ...(o.extraArgs ?? []),
  ];
  const run = runChild('sipp', args, { cwd: dir });
  const done = run.exited.then((code) => {
    const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
    const log = `sipp ${args.join(' ')}\nexit ${code}\n${run.stderr()}\n${read(errors)}\n${read(messages).slice(-8000)}`;
    rmSync(dir, { recursive: true, force: true });
    return { code, log };
  });
  return { port, run, done };
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
