// baresip (Debian's baresip-core) as a real user agent for the end-to-end suites: its own config
// folder, an account through the node as outbound proxy, a sine tone as audio source, no audio
// device, and its ctrl_tcp interface (JSON in netstrings) to dial, hang up and watch its events.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { freePort, freePortPair, runChild, waitFor, type ChildRun } from '@traverse/testing';

export interface BaresipEvent {
  type: string;
  class?: string;
  accountaor?: string;
  direction?: string;
  peeruri?: string;
  param?: string;
  id?: string;
}

export interface BaresipOptions {
  user: string;
  domain: string;
  password: string;
  /** The node as outbound proxy, e.g. sip:127.0.0.1:5060;transport=tls. */
  outbound: string;
  transport: 'udp' | 'tcp' | 'tls';
  answer: 'auto' | 'manual';
  /** RFC 5626 outbound: the UA registers a flow (instance and reg-id) and is reached only through it. */
  outboundFlow?: boolean;
}

export class BaresipUa {
  readonly events: BaresipEvent[] = [];
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private responses: Array<(r: { ok: boolean; data: string }) => void> = [];

  private constructor(
    readonly run: ChildRun,
    readonly dir: string,
    private readonly ctrl: net.Socket,
  ) {
    ctrl.on('data', (d: Buffer) => this.onData(d));
  }

  static async start(o: BaresipOptions): Promise<BaresipUa> {
    const dir = mkdtempSync(join(tmpdir(), `traverse-baresip-${o.user}-`));
    // baresip listens for SIP over TLS on sip_listen's port + 1
    const sipPort = await freePortPair();
    const ctrlPort = await freePort();
    const rtp = 20000 + Math.floor(Math.random() * 20000);
    writeFileSync(
      join(dir, 'config'),
      [
        'poll_method epoll',
        `sip_listen 127.0.0.1:${sipPort}`,
        'net_interface 127.0.0.1',
        'call_local_timeout 60',
        'audio_source ausine,440',
        `rtp_ports ${rtp}-${rtp + 99}`,
        'module_path /usr/lib/baresip/modules',
        'module opus.so',
        'module ausine.so',
        'module_tmp uuid.so',
        'module_tmp account.so',
        'module_app menu.so',
        'module_app ctrl_tcp.so',
        `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'accounts'),
      `<sip:${o.user}@${o.domain};transport=${o.transport}>;auth_pass=${o.password};outbound="${o.outbound}";regint=600;answermode=${o.answer}${o.outboundFlow ? ';sipnat=outbound' : ''}\n`,
    );
    const run = runChild('baresip', ['-f', dir], { cwd: dir });
    const ctrl = await waitFor(
      `baresip ${o.user} control port`,
      () =>
        new Promise<net.Socket | undefined>((resolve) => {
          if (run.child.exitCode !== null) throw new Error(`baresip exited: ${run.stdout()}${run.stderr()}`);
          const s = net.connect({ host: '127.0.0.1', port: ctrlPort }, () => resolve(s));
          s.once('error', () => resolve(undefined));
        }),
      15_000,
      100,
    );
    return new BaresipUa(run, dir, ctrl);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const colon = this.buf.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.buf.subarray(0, colon).toString());
      if (!Number.isInteger(len) || this.buf.length < colon + 1 + len + 1) return;
      const body = this.buf.subarray(colon + 1, colon + 1 + len).toString();
      this.buf = this.buf.subarray(colon + 1 + len + 1);
      const msg = JSON.parse(body) as { event?: boolean; response?: boolean; ok?: boolean; data?: string } & BaresipEvent;
      if (msg.event) {
        this.events.push(msg);
        for (const w of this.waiters.splice(0)) w();
      } else if (msg.response) this.responses.shift()?.({ ok: msg.ok === true, data: msg.data ?? '' });
    }
  }

  /** Sends a ctrl_tcp command and waits for its response. */
  command(command: string, params = ''): Promise<{ ok: boolean; data: string }> {
    const body = Buffer.from(JSON.stringify({ command, params, token: command }));
    return new Promise((resolve) => {
      this.responses.push(resolve);
      this.ctrl.write(Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]));
    });
  }

  /** Waits for an event of a type (and matching pred) seen since the UA started. */
  async event(type: string, timeoutMs = 15_000, pred: (e: BaresipEvent) => boolean = () => true): Promise<BaresipEvent> {
    const find = () => this.events.find((e) => e.type === type && pred(e));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = find();
      if (e) return e;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} event within ${timeoutMs} ms; events: ${this.events.map((x) => x.type).join(', ')}\n${this.run.stdout().slice(-3000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    this.ctrl.destroy();
    if (this.run.child.exitCode === null) this.run.child.kill('SIGTERM');
    await this.run.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
