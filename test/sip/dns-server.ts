// A real DNS server for the resolver suites: Debian's dnsmasq as a child process on 127.0.0.1 and a
// free port, answering only from the records given on its command line (no upstream, no /etc/hosts),
// and logging every query it receives so a test can count them.
import { existsSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { freePort, runChild, waitFor, type ChildRun } from '@traverse/testing';

export interface DnsmasqRecords {
  /** --naptr-record=name,order,preference,flags,service,regexp,replacement */
  naptr?: Array<[name: string, order: number, preference: number, service: string, replacement: string]>;
  /** --srv-host=name,target,port,priority,weight (no target: the service is not available, target ".") */
  srv?: Array<[name: string, target?: string, port?: number, priority?: number, weight?: number]>;
  /** --host-record=name,addresses...[,ttl]: one IPv4 and/or one IPv6 address per entry (repeat the name for more) */
  hosts?: Array<[name: string, ...addresses: string[]]>;
}

export class Dnsmasq {
  private constructor(
    readonly port: number,
    private readonly run: ChildRun,
  ) {}

  /** host:port for a resolver's server list. */
  get server(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Starts dnsmasq serving `records` for the domain `zone` (names under it that are not listed are
   * NXDOMAIN). Records carry the TTL `ttl` unless a host entry names its own.
   */
  static async start(zone: string, records: DnsmasqRecords, ttl = 300): Promise<Dnsmasq> {
    const bin = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => existsSync(p));
    if (bin === undefined) throw new Error('dnsmasq is not installed (Debian package dnsmasq-base; ./traverse test installs it)');
    const port = await freePort();
    const args = [
      '-k',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--pid-file=',
      '--cache-size=0',
      '--log-queries',
      '--log-facility=-',
      `--local-ttl=${ttl}`,
      `--local=/${zone}/`,
      ...(records.naptr ?? []).map(([name, order, pref, service, replacement]) => `--naptr-record=${name},${order},${pref},s,${service},,${replacement}`),
      ...(records.srv ?? []).map((r) => `--srv-host=${r.filter((x) => x !== undefined).join(',')}`),
      ...(records.hosts ?? []).map((h) => `--host-record=${h.join(',')}`),
    ];
    const run = runChild(bin, args);
    const d = new Dnsmasq(port, run);
    // ready when it answers (REFUSED for a name outside its zone is an answer too)
    const probe = new Resolver({ timeout: 200, tries: 1 });
    probe.setServers([d.server]);
    await waitFor(
      'dnsmasq to answer',
      async () => {
        if (run.child.exitCode !== null) throw new Error(`dnsmasq exited ${run.child.exitCode}: ${run.stderr()}`);
        try {
          await probe.resolve4(`probe.${zone}`);
          return true;
        } catch (e) {
          const code = (e as { code?: string }).code;
          return code === 'ENOTFOUND' || code === 'ENODATA' || code === 'EREFUSED' ? true : undefined;
        }
      },
      10_000,
      50,
    );
    return d;
  }

  /** How many queries of this type and name dnsmasq has received so far. */
  queries(type: string, name: string): number {
    const needle = `query[${type}] ${name} from`;
    return this.run.stderr().split('\n').filter((l) => l.includes(needle)).length;
  }

  /** Every query received so far, as "TYPE name". */
  allQueries(): string[] {
    const out: string[] = [];
    for (const l of this.run.stderr().split('\n')) {
      const m = /query\[([A-Z]+)\] (\S+) from/.exec(l);
      if (m) out.push(`${m[1]} ${m[2]}`);
    }
    return out;
  }

  /** Output so far, for assertion messages. */
  log(): string {
    return this.run.stderr().slice(-4000);
  }

  async stop(): Promise<void> {
    if (this.run.child.exitCode === null) this.run.child.kill('SIGTERM');
    await this.run.exited;
  }
}
