/**
 * SIP server benchmark (not a test): CPU per REGISTER and per proxied call of a traverse node,
 * beside Kamailio (the anchor) measured in the same run under the same SIPp load on loopback.
 *
 * CPU is the user+sys time of the server's processes (the process and every descendant: the
 * node's embedded Redis, Kamailio's workers), read from /proc before and after the load, divided
 * by the operations SIPp completed. Servers:
 *   - Kamailio with bench/anchors/kamailio.cfg (in-memory registrar, stateful record-routing proxy,
 *     no authentication), and with kamailio-auth.cfg (the same, REGISTER challenged with digest
 *     against one fixed password);
 *   - traverse started from the built entry (dist/apps/signaling/src/main.js, what ./traverse start
 *     runs) on free ports with a temporary data folder, registrar.securityLevel none, and full
 *     (digest authentication against the fixed password).
 * Operations: a registration (register.xml: one REGISTER -> 200, a new AOR each; with digest
 * authentication, register-auth.xml: REGISTER -> 401, REGISTER -> 200); a proxied call
 * (uac_rr.xml -> proxy -> uas_rr.xml: INVITE/180/200/ACK/BYE/200, record-routed).
 *
 * Each server first takes an unmeasured warm-up load (Node's JIT needs about 20000 requests to reach
 * its steady state; Kamailio gets the same), then RUNS measured loads, interleaved between servers.
 *
 * Environment: SIP_BENCH_RUNS (3), SIP_BENCH_REGISTERS per run (10000), SIP_BENCH_REGISTER_RATE
 * per second (1000), SIP_BENCH_WARMUP registrations (20000), SIP_BENCH_CALLS per run (3000),
 * SIP_BENCH_CALL_RATE (300), SIP_BENCH_CALL_WARMUP calls (3000),
 * SIP_BENCH_ONLY (register | call), SIP_BENCH_PROFILE=<dir> (traverse nodes run with --cpu-prof
 * into that folder).
 * Kamailio and SIPp are installed from Debian when missing (kamailio, sip-tester).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, httpsGet, repoRoot, waitFor } from '@traverse/testing';

const env = (k: string, d: number) => {
  const v = Number(process.env[k] ?? d);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${k} must be a positive number, got ${process.env[k]}`);
  return v;
};
const RUNS = env('SIP_BENCH_RUNS', 3);
const REGISTERS = env('SIP_BENCH_REGISTERS', 10000);
const REGISTER_RATE = env('SIP_BENCH_REGISTER_RATE', 1000);
const WARMUP = env('SIP_BENCH_WARMUP', 20000);
const CALLS = env('SIP_BENCH_CALLS', 3000);
const CALL_WARMUP = env('SIP_BENCH_CALL_WARMUP', 3000);
const CALL_RATE = env('SIP_BENCH_CALL_RATE', 300);
const ONLY = process.env.SIP_BENCH_ONLY ?? '';
const PROFILE_DIR = process.env.SIP_BENCH_PROFILE ? resolve(process.env.SIP_BENCH_PROFILE) : undefined;
const PASSWORD = 'bench-fixed-password';
const AUTH_USER = 'bench';

const ROOT = repoRoot();
const ANCHORS = join(ROOT, 'bench', 'anchors');
const WORK = mkdtempSync(join(tmpdir(), 'traverse-sip-bench-'));
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

// ------------------------------------------------------------------ tools

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** The command, installed from Debian's package when missing (as root, or with sudo -n). */
function ensureCommand(cmd: string, pkg: string): string | undefined {
  const found = which(cmd);
  if (found) return found;
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  console.log(`installing Debian package ${pkg} (for ${cmd})`);
  const install = () => spawnSync(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), 'install', '-y', '-q', pkg], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (install().status !== 0) {
    spawnSync(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), 'update', '-q'], { stdio: 'ignore' });
    install();
  }
  return which(cmd);
}

// ------------------------------------------------------------------ CPU of a process tree

/** user+sys CPU (ms) of a process and all its descendants (with the children they reaped). */
function treeCpuMs(rootPid: number): number {
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // fields from 3 (state): ppid is 4, utime 14, stime 15, cutime 16, cstime 17
      procs.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      /* gone meanwhile */
    }
  }
  let ticks = 0;
  const stack = [rootPid];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    ticks += procs.get(p)?.ticks ?? 0;
    for (const [pid, e] of procs) if (e.ppid === p) stack.push(pid);
  }
  return (ticks * 1000) / CLK_TCK;
}

// ------------------------------------------------------------------ servers

interface Server {
  name: string;
  port: number;
  pid: number;
  /** Whether the server proxies INVITE (its OPTIONS answer allows it). */
  proxies?: boolean;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** Sends OPTIONS until the server answers anything (it is then taking requests). Returns the response text. */
async function sipReady(port: number, what: string, child: ChildProcess, log: () => string): Promise<string> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let answer: string | undefined;
  sock.on('message', (m) => (answer ??= m.toString('latin1')));
  const local = sock.address().port;
  let n = 0;
  try {
    return await waitFor(
      `${what} to answer OPTIONS`,
      () => {
        if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}: ${log().slice(-3000)}`);
        if (answer !== undefined) return answer;
        n++;
        const msg =
          `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bKbench${n}\r\nMax-Forwards: 70\r\n` +
          `From: <sip:bench@127.0.0.1>;tag=b${n}\r\nTo: <sip:127.0.0.1:${port}>\r\nCall-ID: ready-${n}@bench\r\nCSeq: ${n} OPTIONS\r\nContent-Length: 0\r\n\r\n`;
        sock.send(msg, port, '127.0.0.1');
        return undefined;
      },
      60_000,
      200,
    );
  } finally {
    sock.close();
  }
}

function kamailioModules(): string {
  const usual = '/usr/lib/x86_64-linux-gnu/kamailio/modules/';
  if (existsSync(join(usual, 'tm.so'))) return usual;
  for (const d of readdirSync('/usr/lib')) {
    const p = join('/usr/lib', d, 'kamailio', 'modules');
    if (existsSync(join(p, 'tm.so'))) return p + '/';
  }
  return usual;
}

/** Kamailio with an anchor configuration, on a free port, its control socket and runtime folder in the work folder. */
async function startKamailio(bin: string, cfgName: string, label: string): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(join(WORK, 'kamailio-'));
  const cfg = readFileSync(join(ANCHORS, cfgName), 'utf8')
    .replace('listen=udp:127.0.0.1:5070', `listen=udp:127.0.0.1:${port}`)
    .replace(/unix:\/tmp\/kamailio_anchor[a-z_]*/, `unix:${join(dir, 'ctl')}`)
    .replace(/mpath="[^"]*"/, `mpath="${kamailioModules()}"`)
    .replaceAll('BENCH_PASSWORD', PASSWORD);
  writeFileSync(join(dir, 'kamailio.cfg'), cfg);
  const child = spawn(bin, ['-f', join(dir, 'kamailio.cfg'), '-DD', '-E', '-m', '4096', '-M', '32', '-Y', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20000)));
  await sipReady(port, label, child, () => log);
  return {
    name: label,
    port,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

/** A traverse node as ./traverse start runs it, on free ports and a temporary data folder. */
async function startTraverse(securityLevel: 'none' | 'full', label: string): Promise<Server> {
  const [sipPort, tlsPort, oamPort] = [await freePort(), await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(WORK, 'traverse-'));
  const main = join(ROOT, 'dist', 'apps', 'signaling', 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first (./traverse build)`);
  const args = ['--enable-source-maps'];
  if (PROFILE_DIR) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    args.push('--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=traverse-${securityLevel}-${Date.now()}.cpuprofile`);
  }
  const child = spawn(process.execPath, [...args, main], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      TRAVERSE_NODE__DATA_DIR: dataDir,
      TRAVERSE_NODE__NAME: `bench-${securityLevel}`,
      TRAVERSE_NODE__ROLES: 'signaling',
      TRAVERSE_NODE__SHUTDOWN_GRACE_MS: '1000',
      TRAVERSE_OAM__PORT: String(oamPort),
      TRAVERSE_SIP__UDP_PORT: String(sipPort),
      TRAVERSE_SIP__TCP_PORT: String(sipPort),
      TRAVERSE_SIP__TLS_PORT: String(tlsPort),
      TRAVERSE_SIP__WS_PORT: '0',
      TRAVERSE_SIP__WSS_PORT: '0',
      TRAVERSE_STUN__ENABLED: 'false',
      TRAVERSE_TURN__ENABLED: 'false',
      TRAVERSE_TUNNEL__HTTPS_PORT: '0',
      TRAVERSE_TUNNEL__TLS_PORT: '0',
      TRAVERSE_TUNNEL__HTTP_PORT: '0',
      TRAVERSE_LOG__CONSOLE: 'json',
      TRAVERSE_REGISTRAR__SECURITY_LEVEL: securityLevel,
      // no per-source flood limit: all the load comes from one address, and Kamailio runs no limiter either
      TRAVERSE_SIP__RATE_LIMIT: '0',
      TRAVERSE_AUTH__FIXED_PASSWORD: PASSWORD,
    },
  });
  let log = '';
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-20000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const certPath = join(dataDir, 'certs', 'oam-cert.pem');
  await waitFor(
    `${label} to be ready`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${label} exited ${child.exitCode}: ${log.slice(-3000)}`);
      if (!existsSync(certPath)) return undefined;
      const r = await httpsGet(`https://127.0.0.1:${oamPort}/health/ready`, readFileSync(certPath, 'utf8'));
      return r.status === 200 ? true : undefined;
    },
    90_000,
    200,
  );
  const options = await sipReady(sipPort, label, child, () => log);
  const allow = /^Allow:\s*(.*)$/im.exec(options)?.[1] ?? '';
  return {
    name: label,
    port: sipPort,
    pid: child.pid!,
    proxies: /\bINVITE\b/i.test(allow),
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ SIPp

interface SippResult {
  successful: number;
  failed: number;
  retransmissions: number;
  code: number | null;
  log: string;
}

let sippBin = 'sipp';

function statsOf(file: string): Omit<SippResult, 'code' | 'log'> {
  if (!existsSync(file)) return { successful: 0, failed: 0, retransmissions: 0 };
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const head = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  const col = (name: string) => Number(last[head.indexOf(name)] ?? 0);
  return { successful: col('SuccessfulCall(C)'), failed: col('FailedCall(C)'), retransmissions: col('Retransmissions(C)') };
}

/** Runs a SIPp client scenario to its end (or a time limit) and returns its counts. */
async function sippRun(target: number, scenario: string, opts: { rate: number; calls: number; extra?: string[] }): Promise<SippResult> {
  const dir = mkdtempSync(join(WORK, 'sipp-'));
  const port = await freePort();
  const stats = join(dir, 'stats.csv');
  const limitS = Math.ceil(opts.calls / opts.rate) + 60;
  const args = [
    `127.0.0.1:${target}`,
    '-sf',
    join(ANCHORS, scenario),
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    '-r',
    String(opts.rate),
    '-m',
    String(opts.calls),
    '-nostdin',
    '-timeout',
    `${limitS}s`,
    '-trace_stat',
    '-stf',
    stats,
    '-trace_err',
    '-error_file',
    join(dir, 'errors.log'),
    '-fd',
    '1',
    ...(opts.extra ?? []),
  ];
  const child = spawn(sippBin, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  await exited(child);
  const r = { ...statsOf(stats), code: child.exitCode, log };
  // A failed call is rare and its cause is in SIPp's error log, gone with the folder: shown here.
  const errors = join(dir, 'errors.log');
  if (r.failed > 0 && existsSync(errors)) {
    const lines = readFileSync(errors, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const dated = (l: string) => /^\d{4}-\d\d-\d\d\s/.test(l); // an event starts with its date; the message it quotes follows it
    const first = lines.findIndex(dated);
    let shown = lines.slice(0, 5);
    if (first >= 0) {
      const next = lines.findIndex((l, i) => i > first && dated(l));
      const whole = lines.slice(first, next < 0 ? first + 30 : Math.min(next, first + 30)); // the first event with its message
      shown = [...whole, ...lines.filter((l, i) => i > first && dated(l)).slice(0, 4)];
    }
    console.error(`SIPp ${scenario} -> port ${target}: ${r.failed} failed; the start of its error log (the first event in full):\n  ${shown.join('\n  ')}`);
  }
  rmSync(dir, { recursive: true, force: true });
  return r;
}

/** A SIPp server scenario (the UAS of the calls) on a free port, until stopped. */
async function sippServer(scenario: string): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(WORK, 'uas-'));
  const child = spawn(sippBin, ['-sf', join(ANCHORS, scenario), '-i', '127.0.0.1', '-p', String(port), '-nostdin'], { cwd: dir, stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  return {
    port,
    async stop() {
      child.kill('SIGKILL');
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ measurements

interface Sample {
  usPerOp: number;
  ops: number;
  failed: number;
  retransmissions: number;
}

async function measure(server: Server, load: () => Promise<SippResult>): Promise<Sample> {
  const cpu0 = treeCpuMs(server.pid);
  const r = await load();
  await new Promise((res) => setTimeout(res, 300)); // answers still in flight
  const cpu1 = treeCpuMs(server.pid);
  if (r.successful === 0) throw new Error(`${server.name}: no operation succeeded (SIPp exit ${r.code}): ${r.log}`);
  return { usPerOp: ((cpu1 - cpu0) * 1000) / r.successful, ops: r.successful, failed: r.failed, retransmissions: r.retransmissions };
}

/** CPU (ms per second) each server uses while idle, over 3 s. */
async function idleCpu(servers: Server[]): Promise<number[]> {
  const before = servers.map((s) => treeCpuMs(s.pid));
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, 3000));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return servers.map((x, i) => (treeCpuMs(x.pid) - before[i]) / s);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function row(label: string, samples: Sample[]): string {
  const us = samples.map((s) => s.usPerOp);
  const failed = samples.reduce((a, s) => a + s.failed, 0);
  const retrans = samples.reduce((a, s) => a + s.retransmissions, 0);
  const ops = samples.reduce((a, s) => a + s.ops, 0);
  return `${label.padEnd(44)} ${median(us).toFixed(1).padStart(8)} us/op   runs ${us.map((x) => x.toFixed(1)).join(' ').padEnd(24)} ok ${String(ops).padStart(6)}  failed ${failed}  retransmissions ${retrans}`;
}

function ratioRow(label: string, ours: Sample[], anchor: Sample[]): string {
  const per = ours.map((s, i) => (anchor[i] ? s.usPerOp / anchor[i].usPerOp : NaN)).filter((x) => Number.isFinite(x));
  return `${label.padEnd(44)} ${median(per).toFixed(2).padStart(8)}x      runs ${per.map((x) => x.toFixed(2)).join(' ')}`;
}

async function registerBench(kamailio: string | undefined): Promise<void> {
  console.log(
    `\nREGISTER: ${REGISTERS} registrations per run at ${REGISTER_RATE}/s, ${RUNS} runs after ${WARMUP} to warm up; CPU of the server's processes per successful registration` +
      `\n(with digest authentication a registration is REGISTER -> 401, REGISTER -> 200)`,
  );
  const servers: Array<{ key: string; label: string; server: Server; scenario: string; extra?: string[] }> = [];
  const authArgs = ['-s', AUTH_USER, '-au', AUTH_USER, '-ap', PASSWORD];
  try {
    if (kamailio) {
      servers.push({ key: 'kam', label: 'Kamailio (kamailio.cfg, no auth)', server: await startKamailio(kamailio, 'kamailio.cfg', 'Kamailio'), scenario: 'register.xml' });
      servers.push({
        key: 'kamAuth',
        label: 'Kamailio + digest auth (kamailio-auth.cfg)',
        server: await startKamailio(kamailio, 'kamailio-auth.cfg', 'Kamailio with digest auth'),
        scenario: 'register-auth.xml',
        extra: authArgs,
      });
    }
    servers.push({ key: 'ours', label: 'traverse, securityLevel none', server: await startTraverse('none', 'traverse (no auth)'), scenario: 'register.xml' });
    servers.push({ key: 'oursAuth', label: 'traverse, digest auth', server: await startTraverse('full', 'traverse (digest auth)'), scenario: 'register-auth.xml', extra: authArgs });
    // what each server burns doing nothing (timers, Redis, Kamailio's helper processes): part of every figure below
    const idle = await idleCpu(servers.map((s) => s.server));
    console.log(`idle CPU, ms per second: ${servers.map((s, i) => `${s.server.name} ${idle[i].toFixed(1)}`).join(', ')}`);
    // warm up (JIT, allocations), not measured
    for (const s of servers) await sippRun(s.server.port, s.scenario, { rate: REGISTER_RATE, calls: WARMUP, extra: s.extra });
    const samples = new Map<string, Sample[]>(servers.map((s) => [s.key, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const s of servers) {
        samples.get(s.key)!.push(await measure(s.server, () => sippRun(s.server.port, s.scenario, { rate: REGISTER_RATE, calls: REGISTERS, extra: s.extra })));
      }
    }
    for (const s of servers) console.log(row(s.label, samples.get(s.key)!));
    if (kamailio) {
      console.log(ratioRow('ratio traverse/Kamailio, no auth', samples.get('ours')!, samples.get('kam')!));
      console.log(ratioRow('ratio traverse/Kamailio, digest auth', samples.get('oursAuth')!, samples.get('kamAuth')!));
      console.log(ratioRow('ratio traverse digest auth/Kamailio no auth', samples.get('oursAuth')!, samples.get('kam')!));
    } else console.log('Kamailio anchor: kamailio not available (Debian package "kamailio"); no ratio');
  } finally {
    for (const s of servers) await s.server.stop();
  }
}

async function callBench(kamailio: string | undefined): Promise<void> {
  console.log(`\nproxied call: ${CALLS} calls per run at ${CALL_RATE}/s, ${RUNS} runs after ${CALL_WARMUP} to warm up; INVITE/180/200/ACK/BYE/200 record-routed; CPU of the proxy's processes per successful call`);
  const servers: Array<{ key: string; label: string; server: Server }> = [];
  try {
    const ours = await startTraverse('none', 'traverse (proxy)');
    if (!ours.proxies) {
      await ours.stop();
      console.log('proxied call: proxy not available in this build');
      return;
    }
    if (kamailio) servers.push({ key: 'kam', label: 'Kamailio (kamailio.cfg)', server: await startKamailio(kamailio, 'kamailio.cfg', 'Kamailio') });
    servers.push({ key: 'ours', label: 'traverse, securityLevel none', server: ours });
    const samples = new Map<string, Sample[]>(servers.map((s) => [s.key, []]));
    for (const s of servers) {
      const uas = await sippServer('uas_rr.xml');
      try {
        const reg = await sippRun(s.server.port, 'register_uas.xml', { rate: 10, calls: 1, extra: ['-key', 'uas_port', String(uas.port)] });
        if (reg.successful !== 1) throw new Error(`${s.label}: the UAS did not register: ${reg.log}`);
        await sippRun(s.server.port, 'uac_rr.xml', { rate: CALL_RATE, calls: CALL_WARMUP, extra: ['-s', 'uas'] }); // warm-up
        for (let run = 0; run < RUNS; run++) {
          samples.get(s.key)!.push(await measure(s.server, () => sippRun(s.server.port, 'uac_rr.xml', { rate: CALL_RATE, calls: CALLS, extra: ['-s', 'uas'] })));
        }
      } finally {
        await uas.stop();
      }
    }
    for (const s of servers) console.log(row(s.label, samples.get(s.key)!));
    if (kamailio) console.log(ratioRow('ratio traverse/Kamailio, proxied call', samples.get('ours')!, samples.get('kam')!));
    else console.log('Kamailio anchor: kamailio not available (Debian package "kamailio"); no ratio');
  } finally {
    for (const s of servers) await s.server.stop();
  }
}

async function main(): Promise<void> {
  const sipp = ensureCommand('sipp', 'sip-tester');
  if (!sipp) {
    console.log('SIPp not available (Debian package "sip-tester"): nothing measured');
    return;
  }
  sippBin = sipp;
  const kamailio = ensureCommand('kamailio', 'kamailio');
  console.log(`machine: ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores; SIPp and the servers share them; CPU from /proc at ${CLK_TCK} ticks/s`);
  try {
    if (ONLY !== 'call') await registerBench(kamailio);
    if (ONLY !== 'register') await callBench(kamailio);
    if (PROFILE_DIR) console.log(`\nCPU profiles of the traverse nodes: ${PROFILE_DIR}`);
  } finally {
    rmSync(WORK, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
