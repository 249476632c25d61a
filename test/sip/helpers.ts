// Helpers of the SIP end-to-end suites: a node started with ./traverse start on free ports,
// SIPp runs of the scenarios in test/sip/scenarios, and small raw SIP clients.
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { freePort, httpsGet, runChild, waitFor, type ChildRun } from '@traverse/testing';
import { SipStreamParser, type SipMessage, type SipResponse } from '@traverse/sip';
import { spawnSipp } from './sipp';

export interface SipNode {
  dataDir: string;
  oamPort: number;
  sipPort: number;
  tlsPort: number;
  wsPort: number;
  wssPort: number;
  readonly ca: string;
  readonly node: ChildRun;
  base: string;
  stop(): Promise<number | string>;
  /** Stops the node (SIGTERM) and starts it again on the same ports and data directory (its embedded Redis keeps the cluster state). */
  restart(): Promise<void>;
  /** The registrations the O&M API lists (all, or of one AOR). */
  registrations(aor?: string): Promise<RegistrationRow[]>;
  metric(line: RegExp): Promise<number | undefined>;
}

export interface RegistrationRow {
  sipUri: string;
  contact: string;
  expires: number;
  expiresAt: string;
  q: number;
  transport: string;
  publicAddress: string;
  behindNat: boolean;
  path: string[];
  userAgent?: string;
  node: string;
  registered: string;
  lastSeen: string;
}

/** Starts a node as the README says, with SIP on free ports, and waits until it is ready. */
export async function startSipNode(env: Record<string, string> = {}): Promise<SipNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'traverse-e2e-sip-'));
  let ports: number[] = [];
  let nodeEnv: Record<string, string> = {};
  const choosePorts = async () => {
    ports = await freePorts(5);
    const [oam, sip, tls, ws, wss] = ports;
    nodeEnv = {
      TRAVERSE_NODE__DATA_DIR: dataDir,
      TRAVERSE_NODE__NAME: 'e2e-sip',
      TRAVERSE_OAM__PORT: String(oam),
      TRAVERSE_SIP__UDP_PORT: String(sip),
      TRAVERSE_SIP__TCP_PORT: String(sip),
      TRAVERSE_SIP__TLS_PORT: String(tls),
      TRAVERSE_SIP__WS_PORT: String(ws),
      TRAVERSE_SIP__WSS_PORT: String(wss),
      TRAVERSE_LOG__CONSOLE: 'json',
      ...env,
    };
  };
  const base = () => `https://127.0.0.1:${ports[0]}`;
  const certPath = join(dataDir, 'certs', 'oam-cert.pem');
  let ca = '';
  const launch = async (): Promise<ChildRun> => {
    const run = runChild('./traverse', ['start'], { env: nodeEnv });
    await waitFor(
      'the O&M certificate',
      () => {
        if (run.child.exitCode !== null) throw new Error(`node exited: ${run.stderr()}`);
        return existsSync(certPath) ? true : undefined;
      },
      60_000,
    );
    ca = readFileSync(certPath, 'utf8');
    await waitFor(
      'readiness',
      async () => {
        if (run.child.exitCode !== null) throw new Error(`node exited: ${run.stderr()}${run.stdout().slice(-2000)}`);
        const r = await httpsGet(`${base()}/health/ready`, ca);
        return r.status === 200 ? r : undefined;
      },
      60_000,
      200,
    );
    return run;
  };
  // a port chosen free can be taken by another process before the node binds it: then other ports
  let node: ChildRun | undefined;
  for (let attempt = 1; node === undefined; attempt++) {
    await choosePorts();
    try {
      node = await launch();
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE/.test((e as Error).message)) throw e;
    }
  }
  const [oamPort, sipPort, tlsPort, wsPort, wssPort] = ports;
  let live: ChildRun = node;
  const halt = async () => {
    if (live.child.exitCode === null) live.child.kill('SIGTERM');
    return live.exited;
  };
  return {
    dataDir,
    oamPort,
    sipPort,
    tlsPort,
    wsPort,
    wssPort,
    get ca() {
      return ca;
    },
    get node() {
      return live;
    },
    base: base(),
    async stop() {
      const code = await halt();
      rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
    async restart() {
      await halt();
      live = await launch();
    },
    async registrations(aor?: string) {
      const r = await httpsGet(`${base()}/api/registrations${aor ? `?aor=${encodeURIComponent(aor)}` : ''}`, ca);
      if (r.status !== 200) throw new Error(`GET /api/registrations: ${r.status} ${r.body}`);
      return JSON.parse(r.body) as RegistrationRow[];
    },
    async metric(line: RegExp) {
      const m = (await httpsGet(`${base()}/metrics`, ca)).body.split('\n').find((l) => line.test(l));
      return m === undefined ? undefined : Number(m.slice(m.lastIndexOf(' ') + 1));
    },
  };
}

export interface SippRun {
  code: number | string;
  /** SIPp's output and error log, for assertion messages. */
  log: string;
  /** The local port SIPp used. */
  port: number;
}

/** Runs one call of a scenario of test/sip/scenarios against the node with SIPp. */
export async function sipp(
  node: Pick<SipNode, 'sipPort'>,
  scenario: string,
  opts: { user: string; transport?: 'u1' | 't1'; password?: string; keys?: Record<string, string | number> },
): Promise<SippRun> {
  const p = await spawnSipp({
    scenario,
    remote: `127.0.0.1:${node.sipPort}`,
    transport: opts.transport ?? 'u1',
    service: opts.user,
    password: opts.password ?? 'password',
    ...(opts.keys ? { keys: opts.keys } : {}),
  });
  const { code, log } = await p.done;
  return { code, log, port: p.port };
}

/** A SIP client over TLS: send messages, await the next response. */
export class TlsSipClient {
  private readonly parser = new SipStreamParser();
  private readonly queue: SipMessage[] = [];
  private waiters: Array<(m: SipMessage) => void> = [];
  private constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => {
      for (const ev of this.parser.push(d)) {
        if (ev.kind !== 'message') continue;
        const w = this.waiters.shift();
        if (w) w(ev.value);
        else this.queue.push(ev.value);
      }
    });
  }

  static connect(port: number, ca: string): Promise<TlsSipClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => resolve(new TlsSipClient(s)));
      s.once('error', reject);
    });
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  send(text: string): void {
    this.socket.write(Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1'));
  }

  next(timeoutMs = 5000): Promise<SipResponse> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m as SipResponse);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no SIP message within ' + timeoutMs + ' ms')), timeoutMs);
      this.waiters.push((msg) => {
        clearTimeout(t);
        resolve(msg as SipResponse);
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}
