// SIPp (Debian's sip-tester) as a child process, for every suite that drives the node with it:
// a scenario of test/sip/scenarios, as a client (remote given) or a server, with its error,
// message and scenario-log traces collected into one log for assertion messages.
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot, runChild, waitFor, type ChildRun } from '@traverse/testing';

export interface SippRunOptions {
  /** File name in test/sip/scenarios (or a path relative to it). */
  scenario: string;
  /** Where a client sends (host:port, IPv6 bracketed); absent: a server (UAS). */
  remote?: string;
  /** u1 (UDP) or t1 (TCP). */
  transport?: 'u1' | 't1';
  /** SIPp's own address (-i), default 127.0.0.1. */
  localIp?: string;
  /** The local port (default: a free one). */
  port?: number;
  /** -s: the user of the scenario's [service]. */
  service?: string;
  /** -au (when given) and -ap for [authentication]. */
  authUser?: string;
  password?: string;
  /** -cid_str: the Call-ID of the call. */
  callId?: string;
  keys?: Record<string, string | number>;
  /** Calls to run (default 1). */
  calls?: number;
  /** SIPp -timeout (default 30s). */
  timeout?: string;
  /** More SIPp arguments (e.g. -aa, -d). */
  extraArgs?: string[];
}

export interface SippOutcome {
  code: number | string;
  /** Command, exit, errors, the scenario's log lines and the end of the message trace. */
  log: string;
  /** The whole message trace. */
  messages: string;
  /** Lines the scenario logged (<log message=...>). */
  logs: string;
}

export interface SippChild {
  port: number;
  run: ChildRun;
  /** Resolves when SIPp exits. */
  done: Promise<SippOutcome>;
}

/**
 * Whether a socket of this machine's network namespace is bound to the local port: listening,
 * for TCP (/proc/net/tcp and tcp6 list the local address and port in hex, then the state; 0A is
 * LISTEN).
 */
function bound(port: number, transport: 'u1' | 't1'): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const tables = transport === 't1' ? ['/proc/net/tcp', '/proc/net/tcp6'] : ['/proc/net/udp', '/proc/net/udp6'];
  for (const t of tables) {
    if (!existsSync(t)) continue;
    for (const line of readFileSync(t, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[1].endsWith(hex) && (transport === 'u1' || f[3] === '0A')) return true;
    }
  }
  return false;
}

/**
 * Starts SIPp; does not wait for it to end. A server (no remote) is waited for until its socket
 * is bound, so that what the test sends next finds it listening.
 */
export async function spawnSipp(o: SippRunOptions): Promise<SippChild> {
  const port = o.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'traverse-sipp-'));
  const files = { errors: join(dir, 'errors.log'), messages: join(dir, 'messages.log'), logs: join(dir, 'logs.log') };
  const args = [
    ...(o.remote ? [o.remote] : []),
    '-sf', join(repoRoot(), 'test', 'sip', 'scenarios', o.scenario),
    '-t', o.transport ?? 'u1',
    '-i', o.localIp ?? '127.0.0.1',
    '-p', String(port),
    '-m', String(o.calls ?? 1),
    '-nostdin',
    '-timeout', o.timeout ?? '30s',
    '-timeout_error',
    '-trace_err', '-error_file', files.errors,
    '-trace_msg', '-message_file', files.messages,
    '-trace_logs', '-log_file', files.logs,
    ...(o.service ? ['-s', o.service] : []),
    ...(o.authUser ? ['-au', o.authUser] : []),
    ...(o.password ? ['-ap', o.password] : []),
    ...(o.callId ? ['-cid_str', o.callId] : []),
    ...Object.entries(o.keys ?? {}).flatMap(([k, v]) => ['-key', k, String(v)]),
    ...(o.extraArgs ?? []),
  ];
  const run = runChild('sipp', args, { cwd: dir });
  let exited = false;
  const done = run.exited.then((code) => {
    exited = true;
    const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
    const messages = read(files.messages);
    const logs = read(files.logs);
    const log = `sipp ${args.join(' ')}\nexit ${code}\n${run.stderr()}\n${read(files.errors)}\n${logs}\n${messages.slice(-8000)}`;
    rmSync(dir, { recursive: true, force: true });
    return { code, log, messages, logs };
  });
  if (o.remote === undefined) {
    const transport = o.transport ?? 'u1';
    // a SIPp that exits at once (a bad scenario) is the test's to report, from `done`
    await waitFor(`SIPp bound to ${transport === 't1' ? 'TCP' : 'UDP'} port ${port}`, () => (exited || bound(port, transport) ? true : undefined), 10_000, 20);
  }
  return { port, run, done };
}
