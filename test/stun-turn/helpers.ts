/**
 * Helpers of the STUN/TURN end-to-end suites: real peers from Debian packages, and a small
 * TURN client built on @traverse/stun for the cases the packaged clients cannot express.
 * Nothing here installs software: a missing binary fails the test naming its Debian package.
 */
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort as tfreePort, httpsGet, runChild, waitFor, type ChildRun } from '@traverse/testing';
import {
  Attr,
  OutAttribute,
  PasswordAlgorithm,
  PasswordAlgorithmValue,
  StunClass,
  StunMessage,
  StreamFramer,
  StunMethod,
  TransportAddress,
  attributeValue,
  decodeMessage,
  encodeMessage,
  longTermKey,
  newTransactionId,
  userhash,
} from '@traverse/stun';

/** Absolute path of a binary, or an Error naming the Debian package to install. */
/**
 * UDP data plane of the TURN servers the suites start themselves, as the node takes it from
 * TRAVERSE_MEDIA_ENGINE__DATA_PLANE (auto, native, node); unset: the server's default.
 */
export const TEST_DATA_PLANE = ((): 'auto' | 'native' | 'node' | undefined => {
  const v = process.env.TRAVERSE_MEDIA_ENGINE__DATA_PLANE;
  if (v === undefined || v === '') return undefined;
  if (v !== 'auto' && v !== 'native' && v !== 'node')
    throw new Error(`TRAVERSE_MEDIA_ENGINE__DATA_PLANE: expected auto, native or node, got ${v}`);
  return v;
})();

export function requireBinary(name: string, debianPackage: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path)
    throw new Error(`${name} not found: install the Debian package "${debianPackage}" (apt-get install ${debianPackage})`);
  return path;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with a timeout and collects its output. */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running helper (e.g. turnutils_peer); returns a stop function. */
export function startProcess(cmd: string, args: string[]): { stop: () => Promise<void>; output: () => string } {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
  p.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
  return {
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve();
        p.once('close', () => resolve());
        p.kill('SIGTERM');
      }),
  };
}

/** A free UDP+TCP port on 127.0.0.1 (probe and release). */
export async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Parses turnutils_uclient's summary: sent, received, lost. */
export function uclientSummary(out: string): { sent: number; received: number; lost: number } | undefined {
  const tot = [...out.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/gm)].pop();
  const lost = /Total lost packets (\d+)/.exec(out);
  if (!tot || !lost) return undefined;
  return { sent: Number(tot[1]), received: Number(tot[2]), lost: Number(lost[1]) };
}

/** A minimal UDP TURN client (long-term credentials) for precise protocol cases. */
export class TestTurnClient {
  private socket?: dgram.Socket;
  private stream?: net.Socket;
  private key?: Buffer;
  private nonce?: string;
  private realm?: string;
  private algorithms?: PasswordAlgorithmValue[];
  /** RFC 8489 client: pick SHA-256 when offered, MESSAGE-INTEGRITY-SHA256, and USERHASH if `anonymous`. */
  modern = false;
  anonymous = false;
  /** Receives raw bytes once a ConnectionBind succeeded on this (TCP) client. */
  onRaw?: (b: Buffer) => void;
  private rawMode = false;
  readonly indications: StunMessage[] = [];
  readonly channelData: Buffer[] = [];
  private waiting = new Map<string, (m: StunMessage) => void>();

  constructor(
    private readonly server: { address: string; port: number },
    private readonly username: string,
    private readonly password: string,
    private readonly transport: 'udp' | 'tcp' = 'udp',
  ) {}

  private onFrame(msg: Buffer): void {
    if (msg[0] >= 0x40) {
      this.channelData.push(msg);
      return;
    }
    const d = decodeMessage(msg);
    if (!d.ok) return;
    if (d.value.cls === StunClass.Indication) this.indications.push(d.value);
    if (d.value.method === StunMethod.ConnectionBind && d.value.cls === StunClass.SuccessResponse) this.rawMode = true;
    const w = this.waiting.get(Buffer.from(d.value.transactionId).toString('hex'));
    if (w) w(d.value);
  }

  async open(): Promise<void> {
    if (this.transport === 'tcp') {
      const framer = new StreamFramer();
      const s = net.connect({ host: this.server.address, port: this.server.port });
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('error', reject);
      });
      s.on('data', (chunk: Buffer) => {
        // after a ConnectionBind success the connection carries raw bytes (RFC 6062)
        if (this.onRaw && this.rawMode) return this.onRaw(chunk);
        const frames = framer.push(chunk);
        for (const f of frames) this.onFrame(f);
        if (this.onRaw && this.rawMode) {
          const consumed = frames.reduce((n, f) => n + f.length, 0);
          if (consumed < chunk.length) this.onRaw(chunk.subarray(consumed));
        }
      });
      s.on('error', () => undefined);
      this.stream = s;
      return;
    }
    const s = dgram.createSocket(this.server.address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((r) => s.bind(0, this.server.address.includes(':') ? '::1' : '127.0.0.1', () => r()));
    s.on('message', (msg) => this.onFrame(msg));
    this.socket = s;
  }

  /**
   * Allocate, on a fresh local port if the first one answers 437: a UDP allocation that an earlier
   * client left to expire keeps its 5-tuple, and the OS may hand that port out again.
   */
  async allocate(attrs: OutAttribute[]): Promise<StunMessage> {
    const r = await this.request(StunMethod.Allocate, attrs);
    if (this.transport !== 'udp' || attributeValue(r, Attr.ErrorCode)?.code !== 437) return r;
    await this.close();
    await this.open();
    return this.request(StunMethod.Allocate, attrs);
  }

  close(): Promise<void> {
    if (this.stream) {
      const t = this.stream;
      this.stream = undefined;
      return new Promise((r) => {
        t.once('close', () => r());
        t.end();
        t.destroy();
      });
    }
    const s = this.socket;
    this.socket = undefined;
    return s ? new Promise((r) => s.close(() => r())) : Promise.resolve();
  }

  sendRaw(b: Buffer): void {
    if (this.stream) this.stream.write(b);
    else this.socket!.send(b, this.server.port, this.server.address);
  }

  /** The key in use (to verify responses). */
  get currentKey(): Buffer | undefined {
    return this.key;
  }

  /** Sends a request (authenticated once a nonce is known) and waits for its response. */
  async request(method: number, attrs: OutAttribute[], retryAuth = true): Promise<StunMessage> {
    const transactionId = newTransactionId();
    const sha = this.modern && this.algorithms?.some((a) => a.algorithm === PasswordAlgorithm.SHA256);
    const auth: OutAttribute[] = this.nonce
      ? [
          this.anonymous
            ? { type: Attr.Userhash, value: userhash(this.username, this.realm!) }
            : { type: Attr.Username, value: this.username },
          { type: Attr.Realm, value: this.realm! },
          { type: Attr.Nonce, value: this.nonce },
          ...(sha
            ? ([
                { type: Attr.PasswordAlgorithms, value: this.algorithms! },
                { type: Attr.PasswordAlgorithm, value: { algorithm: PasswordAlgorithm.SHA256, params: Buffer.alloc(0) } },
              ] as OutAttribute[])
            : []),
        ]
      : [];
    const msg = encodeMessage({ method, cls: StunClass.Request, transactionId }, [...attrs, ...auth], {
      integrityKey: this.modern ? undefined : this.key,
      integritySha256Key: this.modern ? this.key : undefined,
      fingerprint: true,
    });
    const p = new Promise<StunMessage>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no response to method ${method}`)), 3000);
      this.waiting.set(transactionId.toString('hex'), (m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
    this.sendRaw(msg);
    const res = await p;
    const err = attributeValue(res, Attr.ErrorCode);
    if (retryAuth && err && (err.code === 401 || err.code === 438)) {
      this.realm = attributeValue(res, Attr.Realm);
      this.nonce = attributeValue(res, Attr.Nonce);
      this.algorithms = attributeValue(res, Attr.PasswordAlgorithms);
      const sha = this.modern && this.algorithms?.some((a) => a.algorithm === PasswordAlgorithm.SHA256);
      this.key = longTermKey(this.username, this.realm ?? '', this.password, sha ? PasswordAlgorithm.SHA256 : PasswordAlgorithm.MD5);
      return this.request(method, attrs, false);
    }
    return res;
  }

  sendIndication(method: number, attrs: OutAttribute[]): void {
    this.sendRaw(encodeMessage({ method, cls: StunClass.Indication, transactionId: newTransactionId() }, attrs, { fingerprint: true }));
  }
}

export const errorCodeOf = (m: StunMessage): number => attributeValue(m, Attr.ErrorCode)?.code ?? 0;

export const peer = (address: string, port: number): TransportAddress => ({ family: address.includes(':') ? 6 : 4, address, port });

export { StunMethod };

// ---------------------------------------------------------------- a node started as a user does

export interface TraverseNode {
  dataDir: string;
  base: string;
  ca: string;
  node: ChildRun;
  get(path: string): Promise<{ status: number; body: string }>;
  /** The value of the first metrics line matching, or undefined. */
  metric(line: RegExp): Promise<number | undefined>;
  /** Structured log records the node wrote so far (JSON console). */
  logs(): Array<Record<string, unknown>>;
  stop(): Promise<number | string>;
}

/** Starts `./traverse start` with the given environment (O&M and SIP on free ports) and waits until ready. */
export async function startTraverseNode(env: Record<string, string>): Promise<TraverseNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'traverse-e2e-turn-'));
  const oam = await tfreePort();
  const sip = await tfreePort();
  const node = runChild('./traverse', ['start'], {
    env: {
      TRAVERSE_NODE__DATA_DIR: dataDir,
      TRAVERSE_OAM__PORT: String(oam),
      TRAVERSE_SIP__UDP_PORT: String(sip),
      TRAVERSE_SIP__TCP_PORT: String(sip),
      TRAVERSE_SIP__TLS_PORT: String(await tfreePort()),
      TRAVERSE_SIP__WS_PORT: '0',
      TRAVERSE_SIP__WSS_PORT: '0',
      TRAVERSE_LOG__CONSOLE: 'json',
      TRAVERSE_LOG__LEVEL: 'fine',
      ...env,
    },
  });
  const alive = () => {
    if (node.child.exitCode !== null) throw new Error(`node exited ${node.child.exitCode}: ${node.stderr()}${node.stdout().slice(-3000)}`);
  };
  const certPath = join(dataDir, 'certs', 'oam-cert.pem');
  await waitFor('the O&M certificate', () => (alive(), existsSync(certPath) ? true : undefined), 90_000);
  const ca = readFileSync(certPath, 'utf8');
  const base = `https://127.0.0.1:${oam}`;
  await waitFor(
    'readiness',
    async () => {
      alive();
      const r = await httpsGet(`${base}/health/ready`, ca);
      return r.status === 200 ? r : undefined;
    },
    90_000,
    200,
  );
  return {
    dataDir,
    base,
    ca,
    node,
    get: (path) => httpsGet(`${base}${path}`, ca),
    async metric(line) {
      const m = (await httpsGet(`${base}/metrics`, ca)).body.split('\n').find((l) => line.test(l));
      return m === undefined ? undefined : Number(m.slice(m.lastIndexOf(' ') + 1));
    },
    logs: () =>
      node
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    async stop() {
      if (node.child.exitCode === null) node.child.kill('SIGTERM');
      const code = await node.exited;
      rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

/** n distinct free ports on 127.0.0.1 (UDP and TCP). */
export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await tfreePort());
  return [...out];
}
