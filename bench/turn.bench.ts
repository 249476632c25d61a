/**
 * TURN / STUN benchmark (not a test): codec throughput; then, for traverse's TURN server (the media
 * engine's TurnServer, configured as the node runs it, on its native UDP data plane where that is
 * available and on node:dgram) and, as the anchor, coturn's turnserver under
 * the same load on loopback in the same run: allocations per second (and server CPU per allocation),
 * and server CPU per relayed packet (ChannelData both ways through several allocations, paced).
 * Run: node dist/bench/turn.bench.js [packets] [allocations]. Env TURN_BENCH_PROF=DIR: CPU profiles of our server's
 * relay and allocation phases (DIR/relay.cpuprofile, DIR/alloc.cpuprofile).
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import {
  Attr,
  StunClass,
  StunMessage,
  StunMethod,
  TransportProtocol,
  attributeValue,
  channelDataHeader,
  decodeChannelData,
  decodeMessage,
  encodeMessage,
  longTermKey,
  newTransactionId,
  shortTermKey,
  verifyFingerprint,
  verifyIntegrity,
} from '@traverse/stun';
import { TURN_RELAY_SOCKET_BUFFER, TURN_SOCKET_BUFFER, TurnDataPlane, TurnServer } from '../apps/media-engine/src/turn/turn-server';
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const SAMPLE = Buffer.from(
  '000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf',
  'hex',
);

function opsPerSecond(name: string, fn: () => void, ms = 700): number {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const end = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
  }
  const ops = Math.round(n / (ms / 1000));
  console.log(`${name.padEnd(48)} ${ops.toLocaleString('en-US').padStart(14)} ops/s`);
  return ops;
}

function codecBench(): void {
  const key = shortTermKey('VOkJxbRl1RmTxUk/WvJxBt');
  const tid = newTransactionId();
  const cd = Buffer.concat([channelDataHeader(0x4000, 160), Buffer.alloc(160)]);
  opsPerSecond('decode RFC 5769 sample request', () => decodeMessage(SAMPLE));
  opsPerSecond('decode + FINGERPRINT + MESSAGE-INTEGRITY', () => {
    const r = decodeMessage(SAMPLE);
    if (r.ok) {
      verifyFingerprint(r.value);
      verifyIntegrity(r.value, key);
    }
  });
  opsPerSecond('encode Binding success (XOR-MAPPED, FINGERPRINT)', () =>
    encodeMessage(
      { method: StunMethod.Binding, cls: StunClass.SuccessResponse, transactionId: tid },
      [{ type: Attr.XorMappedAddress, value: { family: 4, address: '192.0.2.1', port: 32853 } }],
      {
        fingerprint: true,
      },
    ),
  );
  opsPerSecond('encode Data indication (160 B)', () =>
    encodeMessage({ method: StunMethod.Data, cls: StunClass.Indication, transactionId: tid }, [
      { type: Attr.XorPeerAddress, value: { family: 4, address: '192.0.2.1', port: 32853 } },
      { type: Attr.Data, value: cd.subarray(4) },
    ]),
  );
  opsPerSecond('decode ChannelData', () => decodeChannelData(cd));
}

// ------------------------------------------------------------------ load

interface Target {
  port: number;
  cpuMs: () => Promise<number>;
  stop: () => Promise<void>;
  /** Starts (name) or stops and writes (undefined) a CPU profile of the server, where supported. */
  profile?: (name: string | undefined) => Promise<void>;
}

interface Auth {
  key: Buffer;
  realm: string;
  nonce: string;
  user: string;
}

async function udpSocket(buffers = false): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  if (buffers) {
    s.setRecvBufferSize(8 * 1024 * 1024);
    s.setSendBufferSize(8 * 1024 * 1024);
  }
  return s;
}

/** Requests sent again because no answer came within 500 ms (a lost datagram or a stalled server). */
let resends = 0;

/**
 * The load generator's own cost must stay below the servers' (it shares the machine's cores and a
 * single thread of it caps the rate it can measure): one request outstanding per socket, answered
 * through one 'message' listener per socket, resends from one timer for all of them.
 */
interface Pending {
  tid: Buffer;
  buf: Buffer;
  port: number;
  tries: number;
  sentAt: number;
  resolve: (m: StunMessage) => void;
  reject: (e: Error) => void;
}
const pending = new Map<dgram.Socket, Pending>();
const listening = new WeakSet<dgram.Socket>();
let resendTimer: NodeJS.Timeout | undefined;

function resendLate(): void {
  const now = performance.now();
  for (const [sock, p] of pending) {
    if (now - p.sentAt < 500) continue;
    if (++p.tries > 5) {
      pending.delete(sock);
      p.reject(new Error(`no answer from the TURN server on port ${p.port} to a request sent ${p.tries - 1} times over ${(p.tries - 1) / 2} s`));
      continue;
    }
    resends++;
    p.sentAt = now;
    sock.send(p.buf, p.port, '127.0.0.1');
  }
  if (pending.size === 0) {
    clearInterval(resendTimer);
    resendTimer = undefined;
  }
}

function request(sock: dgram.Socket, port: number, method: number, attrs: Parameters<typeof encodeMessage>[1], auth?: Auth): Promise<StunMessage> {
  const tid = newTransactionId();
  const all = auth
    ? [...attrs, { type: Attr.Username, value: auth.user }, { type: Attr.Realm, value: auth.realm }, { type: Attr.Nonce, value: auth.nonce }]
    : attrs;
  const buf = encodeMessage({ method, cls: StunClass.Request, transactionId: tid }, all, { integrityKey: auth?.key });
  if (!listening.has(sock)) {
    listening.add(sock);
    sock.on('message', (msg: Buffer) => {
      const p = pending.get(sock);
      if (p === undefined) return;
      const d = decodeMessage(msg);
      if (d.ok && p.tid.equals(d.value.transactionId)) {
        pending.delete(sock);
        p.resolve(d.value);
      }
    });
  }
  return new Promise((resolve, reject) => {
    pending.set(sock, { tid, buf, port, tries: 1, sentAt: performance.now(), resolve, reject });
    resendTimer ??= setInterval(resendLate, 100);
    sock.send(buf, port, '127.0.0.1');
  });
}

/** Long-term keys by realm: a client computes its key once. */
const keys = new Map<string, Buffer>();

/** Allocate with long-term credentials: the 401 round, then the authenticated request. */
async function allocate(sock: dgram.Socket, port: number): Promise<{ auth: Auth; relayed: { address: string; port: number } }> {
  const first = await request(sock, port, StunMethod.Allocate, [{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
  const realm = attributeValue(first, Attr.Realm)!;
  const nonce = attributeValue(first, Attr.Nonce)!;
  let key = keys.get(realm);
  if (key === undefined) keys.set(realm, (key = longTermKey('bench', realm, 'pw')));
  const auth = { key, realm, nonce, user: 'bench' };
  const r = await request(sock, port, StunMethod.Allocate, [{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }], auth);
  const relayed = attributeValue(r, Attr.XorRelayedAddress);
  if (r.cls !== StunClass.SuccessResponse || !relayed) throw new Error(`allocate failed: ${attributeValue(r, Attr.ErrorCode)?.code}`);
  return { auth, relayed };
}

/** What an allocation load measured: the server's CPU, and the load generator's own beside it. */
interface AllocationFigures {
  perSecond: number;
  cpuUsPerAllocation: number;
  clientCpuUsPerAllocation: number;
  ok: number;
}

/** Allocations per second: `count` fresh clients (one socket each), `concurrency` at a time. */
async function allocationLoad(
  target: Target,
  count: number,
  concurrency: number,
  /** Sockets stay open here until the caller closes them: a closed client's port could come back for a new client while its allocation lives (437). */
  keep: dgram.Socket[],
): Promise<AllocationFigures> {
  const sockets = await Promise.all(Array.from({ length: count }, () => udpSocket()));
  await target.profile?.('alloc');
  const cpu0 = await target.cpuMs();
  const client0 = process.cpuUsage();
  const resends0 = resends;
  const t0 = process.hrtime.bigint();
  let next = 0;
  let ok = 0;
  const failures = new Map<string, number>();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const s = sockets[next++];
        try {
          await allocate(s, target.port);
          ok++;
        } catch (e) {
          const why = (e as Error).message;
          failures.set(why, (failures.get(why) ?? 0) + 1);
        }
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const client = process.cpuUsage(client0);
  const cpu1 = await target.cpuMs();
  await target.profile?.(undefined);
  keep.push(...sockets);
  if (resends > resends0) console.log(`  (${resends - resends0} requests resent after 500 ms without an answer)`);
  if (failures.size > 0) console.log(`  (allocations that failed: ${[...failures].map(([k, v]) => `${v} ${k}`).join(', ')})`);
  return {
    perSecond: ok / seconds,
    cpuUsPerAllocation: ((cpu1 - cpu0) * 1000) / Math.max(ok, 1),
    clientCpuUsPerAllocation: (client.user + client.system) / Math.max(ok, 1),
    ok,
  };
}

/**
 * Relay load: `clients` allocations, each with a channel bound to its own peer; ChannelData from
 * each client to its peer and datagrams from each peer back to the client's relayed address
 * (delivered as ChannelData), 160-byte payloads, `packets` in all at about `pps`.
 */
async function relayLoad(
  target: Target,
  packets: number,
  clients: number,
  pps: number,
  /** The clients and peers stay open here until the caller closes them (after the server stopped). */
  keep: dgram.Socket[],
): Promise<{ cpuUsPerPacket: number; delivered: number; sent: number }> {
  const pairs: { client: dgram.Socket; peer: dgram.Socket; relayed: { address: string; port: number } }[] = [];
  let delivered = 0;
  for (let i = 0; i < clients; i++) {
    const client = await udpSocket(true);
    const peer = await udpSocket(true);
    const { auth, relayed } = await allocate(client, target.port);
    const cb = await request(
      client,
      target.port,
      StunMethod.ChannelBind,
      [
        { type: Attr.ChannelNumber, value: 0x4001 },
        { type: Attr.XorPeerAddress, value: { family: 4, address: '127.0.0.1', port: peer.address().port } },
      ],
      auth,
    );
    if (cb.cls !== StunClass.SuccessResponse) throw new Error(`channel bind failed: ${attributeValue(cb, Attr.ErrorCode)?.code}`);
    client.on('message', (m) => {
      if (m[0] === 0x40) delivered++;
    });
    peer.on('message', () => delivered++);
    pairs.push({ client, peer, relayed });
  }
  const toPeer = Buffer.concat([channelDataHeader(0x4001, 160), Buffer.alloc(160, 0x80)]);
  const toClient = Buffer.alloc(160, 0x81);
  await new Promise((r) => setTimeout(r, 200));
  await target.profile?.('relay');
  const cpu0 = await target.cpuMs();
  let sent = 0;
  const tickMs = 5;
  const perTick = Math.max(2, Math.round((pps * tickMs) / 1000));
  await new Promise<void>((resolve) => {
    let k = 0;
    const tick = () => {
      for (let i = 0; i < perTick && sent < packets; i++, sent++, k++) {
        const p = pairs[(k >> 1) % pairs.length];
        if (k & 1) p.peer.send(toClient, p.relayed.port, p.relayed.address);
        else p.client.send(toPeer, target.port, '127.0.0.1');
      }
      if (sent < packets) setTimeout(tick, tickMs);
      else setTimeout(resolve, 500);
    };
    tick();
  });
  const cpu1 = await target.cpuMs();
  await target.profile?.(undefined);
  // the allocations live on: their clients' ports must not come back to the allocation phase's sockets (437)
  for (const p of pairs) keep.push(p.client, p.peer);
  return { cpuUsPerPacket: ((cpu1 - cpu0) * 1000) / Math.max(delivered, 1), delivered, sent };
}

function traverseTarget(plane: TurnDataPlane): Promise<Target> {
  const prof = process.env.TURN_BENCH_PROF;
  const child = fork(__filename, ['--server', `--data-plane=${plane}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  process.on('exit', () => child.kill());
  let stopping = false;
  // a server that dies mid-run leaves the load generator waiting for answers: say so, and why
  child.on('exit', (code, signal) => {
    if (!stopping) console.error(`traverse (${plane}) server exited during the run: ${signal ?? `exit code ${code}`}`);
  });
  const ask = <T>(m: unknown): Promise<T> =>
    new Promise((r) => {
      child.once('message', (x: T) => r(x));
      child.send(m as string);
    });
  return new Promise((resolve) => {
    child.once('message', (m: { port: number }) => {
      resolve({
        port: m.port,
        cpuMs: async () => (await ask<{ cpuMs: number }>('cpu')).cpuMs,
        stop: () =>
          new Promise((r) => {
            stopping = true;
            child.once('exit', () => r());
            child.send('stop');
          }),
        ...(prof ? { profile: async (name: string | undefined) => void (await ask({ profile: name ?? null, dir: prof })) } : {}),
      });
    });
  });
}

async function coturnTarget(): Promise<Target | undefined> {
  const bin = spawnSync('sh', ['-c', 'command -v turnserver'], { encoding: 'utf8' }).stdout.trim();
  if (!bin) return undefined;
  const port = 39000 + Math.floor(Math.random() * 500);
  const p = spawn(
    bin,
    [
      '-n',
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--listening-ip=127.0.0.1',
      `--listening-port=${port}`,
      '--relay-ip=127.0.0.1',
      '--min-port=25000',
      '--max-port=29999',
      '--lt-cred-mech',
      '--user=bench:pw',
      '--realm=bench',
      '--allow-loopback-peers',
      '--log-file=stdout',
      '--relay-threads=1',
    ],
    { stdio: 'ignore' },
  );
  process.on('exit', () => p.kill());
  await new Promise((r) => setTimeout(r, 800));
  if (p.exitCode !== null) return undefined;
  const tck = 100; // USER_HZ
  return {
    port,
    cpuMs: async () => {
      const f = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return ((Number(f[11]) + Number(f[12])) * 1000) / tck;
    },
    stop: () =>
      new Promise((r) => {
        p.once('exit', () => r());
        p.kill();
      }),
  };
}

/**
 * The floor of any relay written on node:dgram: a plain forwarder (no TURN: the client side strips
 * 4 bytes, the peer side forwards as is), IP-literal lookup, under the same paced load. What TURN
 * adds is the difference to this; what Node itself costs per packet is the difference to coturn.
 */
async function floorLoad(packets: number, pps: number): Promise<{ cpuUsPerPacket: number; delivered: number; sent: number }> {
  const child = fork(__filename, ['--forwarder'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  process.on('exit', () => child.kill());
  const ask = <T>(m: unknown): Promise<T> =>
    new Promise((r) => {
      child.once('message', (x: T) => r(x));
      child.send(m as string);
    });
  const ports = await new Promise<{ a: number; b: number }>((r) => child.once('message', r));
  const client = await udpSocket(true);
  const peer = await udpSocket(true);
  await ask({ client: client.address().port, peer: peer.address().port });
  let delivered = 0;
  client.on('message', () => delivered++);
  peer.on('message', () => delivered++);
  const toPeer = Buffer.concat([channelDataHeader(0x4001, 160), Buffer.alloc(160, 0x80)]);
  const toClient = Buffer.alloc(160, 0x81);
  const cpu0 = (await ask<{ cpuMs: number }>('cpu')).cpuMs;
  let sent = 0;
  const perTick = Math.max(2, Math.round((pps * 5) / 1000));
  await new Promise<void>((resolve) => {
    const tick = () => {
      for (let i = 0; i < perTick && sent < packets; i++, sent++) {
        if (sent & 1) peer.send(toClient, ports.b, '127.0.0.1');
        else client.send(toPeer, ports.a, '127.0.0.1');
      }
      if (sent < packets) setTimeout(tick, 5);
      else setTimeout(resolve, 500);
    };
    tick();
  });
  const cpu1 = (await ask<{ cpuMs: number }>('cpu')).cpuMs;
  client.close();
  peer.close();
  child.kill();
  return { cpuUsPerPacket: ((cpu1 - cpu0) * 1000) / Math.max(delivered, 1), delivered, sent };
}

async function forward(): Promise<void> {
  const lookup = (address: string, _f: unknown, cb: (e: null, a: string, f: number) => void) => cb(null, address, 4);
  const a = dgram.createSocket({ type: 'udp4', lookup: lookup });
  const b = dgram.createSocket({ type: 'udp4', lookup: lookup });
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', () => r()));
  let client = 0;
  let peer = 0;
  a.on('message', (m) => b.send(m.subarray(4), peer, '127.0.0.1'));
  b.on('message', (m) => a.send(m, client, '127.0.0.1'));
  process.on('message', (m: string | { client: number; peer: number }) => {
    if (typeof m === 'object') {
      client = m.client;
      peer = m.peer;
      process.send!({ ok: true });
      return;
    }
    const u = process.cpuUsage();
    process.send!({ cpuMs: (u.user + u.system) / 1000 });
  });
  process.send!({ a: a.address().port, b: b.address().port });
}

async function serve(): Promise<void> {
  // as the media engine runs it (apps/media-engine/src/media-engine.service.ts), on loopback
  const s = new TurnServer({
    listeners: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
    relayAddresses: { ipv4: '127.0.0.1' },
    relayPorts: { min: 20000, max: 24999 },
    realm: 'bench',
    authenticate: (u, r) => longTermKey(u, r, 'pw'),
    peerPolicy: { allow: ['127.0.0.1/32'] },
    limits: { maxPerUser: 100_000, maxTotal: 100_000 },
    socketBufferBytes: TURN_SOCKET_BUFFER,
    relaySocketBufferBytes: TURN_RELAY_SOCKET_BUFFER,
    dataPlane: (process.argv.find((a) => a.startsWith('--data-plane='))?.slice('--data-plane='.length) ?? 'node') as TurnDataPlane,
  });
  await s.start();
  if (s.dataPlane.unavailable) console.log(`  (native UDP data plane not available: ${s.dataPlane.unavailable}; this row runs on node:dgram)`);
  const session = new Session();
  session.connect();
  let profiling: string | undefined;
  const post = (method: string) => new Promise<unknown>((r) => session.post(method, (_e, res) => r(res)));
  process.on('message', (m: string | { profile: string | null; dir: string }) => {
    if (m === 'stop') {
      void s.stop().then(() => process.exit(0));
      return;
    }
    if (typeof m === 'object') {
      void (async () => {
        if (m.profile) {
          profiling = m.profile;
          await post('Profiler.enable');
          await new Promise((r) => session.post('Profiler.setSamplingInterval', { interval: 100 }, r));
          await post('Profiler.start');
        } else if (profiling) {
          const r = (await post('Profiler.stop')) as { profile: unknown };
          writeFileSync(`${m.dir}/${s.dataPlane.plane}-${profiling}.cpuprofile`, JSON.stringify(r.profile));
          profiling = undefined;
        }
        process.send!({ ok: true });
      })();
      return;
    }
    const u = process.cpuUsage();
    process.send!({ cpuMs: (u.user + u.system) / 1000 });
  });
  process.send!({ port: s.listeners[0].port });
}

interface Figures {
  alloc: AllocationFigures;
  relay: { cpuUsPerPacket: number; delivered: number; sent: number };
}

async function measure(target: Target, packets: number, allocations: number): Promise<Figures> {
  const sockets: dgram.Socket[] = [];
  const relay = await relayLoad(target, packets, 10, 20_000, sockets);
  // a running server has its control path compiled: warm it up (not measured), as the relay phase warmed the relay path
  await allocationLoad(target, 500, 20, sockets);
  const alloc = await allocationLoad(target, allocations, 20, sockets);
  await target.stop();
  for (const s of sockets) s.close();
  return { alloc, relay };
}

async function main(): Promise<void> {
  if (process.argv.includes('--server')) return serve();
  if (process.argv.includes('--forwarder')) return forward();
  const packets = Number(process.argv[2] ?? 200_000);
  const allocations = Number(process.argv[3] ?? 4000);
  console.log('codec');
  codecBench();
  console.log(`\nrelay: ${packets} packets of 160 B through 10 allocations (ChannelData both ways) at ~20k/s; allocations: ${allocations} clients, 20 at a time, after 500 not measured`);
  // The load generator's own code warms up first, against a server of its own: otherwise the first
  // target measured pays for it (a colder load generator answers slower, and the rate drops).
  const warm = await traverseTarget('auto');
  const warmSockets: dgram.Socket[] = [];
  await allocationLoad(warm, 3000, 20, warmSockets);
  await warm.stop();
  for (const s of warmSockets) s.close();
  // the media engine's default plane (native where it is available), then node:dgram
  const ours = await measure(await traverseTarget('auto'), packets, allocations);
  const nodePlane = await measure(await traverseTarget('node'), packets, allocations);
  const c = await coturnTarget();
  const anchor = c ? await measure(c, packets, allocations) : undefined;
  const row = (name: string, f: Figures) =>
    console.log(
      `${name.padEnd(20)} ${f.relay.cpuUsPerPacket.toFixed(2).padStart(7)} us CPU/relayed packet (${f.relay.delivered}/${f.relay.sent} delivered)   ` +
        `${Math.round(f.alloc.perSecond).toString().padStart(6)} allocations/s, ${f.alloc.cpuUsPerAllocation.toFixed(0).padStart(5)} us CPU/allocation (${f.alloc.ok}/${allocations}; ` +
        `load generator ${f.alloc.clientCpuUsPerAllocation.toFixed(0)} us/allocation)`,
    );
  const floor = await floorLoad(packets, 20_000);
  row('traverse (native)', ours);
  row('traverse (node)', nodePlane);
  console.log(`${'node:dgram floor'.padEnd(20)} ${floor.cpuUsPerPacket.toFixed(2).padStart(7)} us CPU/forwarded packet (${floor.delivered}/${floor.sent} delivered): a bare forwarder, no TURN`);
  if (!anchor) {
    console.log('coturn anchor: turnserver not available (Debian package "coturn")');
    return;
  }
  row('coturn turnserver', anchor);
  console.log(
    `ratio traverse/coturn: CPU per relayed packet ${(ours.relay.cpuUsPerPacket / anchor.relay.cpuUsPerPacket).toFixed(2)} (lower is better), ` +
      `allocations/s ${(ours.alloc.perSecond / anchor.alloc.perSecond).toFixed(2)} (higher is better), CPU per allocation ${(ours.alloc.cpuUsPerAllocation / anchor.alloc.cpuUsPerAllocation).toFixed(2)}`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
