// A traverse node started by the cluster suite as a user starts one (`./traverse start`), on
// free loopback ports, joined to the suite's Redis. Kept in one place so a node killed with
// SIGKILL can be started again with the same name, ports and data folder.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpsGet, isolatedPortsEnv, runChild, waitFor, type ChildRun } from '@traverse/testing';

export interface ClusterView {
  node: string;
  isMaster: boolean;
  master?: { name: string; address: string; token: number };
  registrations: number;
  globalCurrentCalls: number;
  servers: { name: string; address: string; status: 'up' | 'down'; master: boolean; roles: string[] }[];
}

export class ClusterMember {
  run: ChildRun | undefined;
  ca = '';
  private constructor(
    readonly name: string,
    readonly env: Record<string, string>,
    readonly dataDir: string,
  ) {}

  static async create(name: string, shared: Record<string, string>): Promise<ClusterMember> {
    const dataDir = mkdtempSync(join(tmpdir(), `traverse-cluster-${name}-`));
    const env = {
      ...(await isolatedPortsEnv()),
      TRAVERSE_NODE__NAME: name,
      TRAVERSE_NODE__DATA_DIR: dataDir,
      TRAVERSE_LOG__CONSOLE: 'json',
      ...shared,
    };
    return new ClusterMember(name, env, dataDir);
  }

  get sipPort(): number {
    return Number(this.env.TRAVERSE_SIP__UDP_PORT);
  }
  get base(): string {
    return `https://127.0.0.1:${this.env.TRAVERSE_OAM__PORT}`;
  }
  get pid(): number {
    return this.run!.child.pid!;
  }
  get running(): boolean {
    return this.run !== undefined && this.run.child.exitCode === null && this.run.child.signalCode === null;
  }

  /** Starts the node and resolves when /health/ready answers 200. */
  async start(): Promise<void> {
    const run = runChild('./traverse', ['start'], { env: this.env });
    this.run = run;
    const certPath = join(this.dataDir, 'certs', 'oam-cert.pem');
    const exitedEarly = () => {
      if (run.child.exitCode !== null) throw new Error(`${this.name} exited: ${run.stderr()}${run.stdout().slice(-3000)}`);
    };
    await waitFor(`${this.name}'s O&M certificate`, () => (exitedEarly(), existsSync(certPath) ? true : undefined), 60_000);
    this.ca = readFileSync(certPath, 'utf8');
    let last = '';
    await waitFor(
      `${this.name} ready`,
      async () => {
        exitedEarly();
        const r = await httpsGet(`${this.base}/health/ready`, this.ca).catch((e: Error) => ({ status: 0, body: e.message }));
        last = `${r.status} ${r.body}`;
        return r.status === 200 ? true : undefined;
      },
      60_000,
      100,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; /health/ready said: ${last}\n${this.log().slice(-3000)}`);
    });
  }

  async get<T>(path: string): Promise<T> {
    const r = await httpsGet(`${this.base}${path}`, this.ca);
    if (r.status !== 200) throw new Error(`${this.name} GET ${path}: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as T;
  }
  cluster(): Promise<ClusterView> {
    return this.get<ClusterView>('/api/cluster');
  }
  async registrations(): Promise<{ sipUri: string; contact: string; node: string; instance?: string; regId?: number }[]> {
    return this.get('/api/registrations');
  }

  /** SIGKILL: no shutdown at all, as when the machine dies. */
  async kill9(): Promise<void> {
    const run = this.run!;
    run.child.kill('SIGKILL');
    await run.exited;
  }

  /** SIGTERM; resolves with the exit code. */
  async stop(): Promise<number | string> {
    const run = this.run;
    if (!run) return 0;
    if (this.running) run.child.kill('SIGTERM');
    return run.exited;
  }

  remove(): void {
    if (this.running) this.run!.child.kill('SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  log(): string {
    return `${this.run?.stderr() ?? ''}${(this.run?.stdout() ?? '').slice(-4000)}`;
  }
}
