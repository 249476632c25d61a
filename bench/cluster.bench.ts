// Cluster state benchmark (not a test): run after a build with
//   node --max-old-space-size=6144 dist/bench/cluster.bench.js [--registrations 1000000] [--shards 16] [--redis-cluster]
// Measures, against a private redis-server (or a 3-master Redis Cluster) on loopback:
//   1. events/s one node appends (pipelined XADDs), with CPU per event of the node and of Redis;
//   2. time for a registration appended on node A to be folded on node C, another process (p50/p99), idle and under load;
//   3. at N registrations: Redis memory per registration (stream only; snapshots + trimmed tail),
//      snapshot time, and the rebuild time of a starting node (snapshot + tail) vs. a full replay.
import { execFileSync, fork } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterNode, RegistrationAdded, type ContactBindingData } from '@traverse/cluster';
import { createRedisClient, startRedisCluster, startRedisServer, type RedisClient } from '@traverse/redis';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const N = Number(arg('registrations', '1000000'));
const SHARDS = Number(arg('shards', '16'));
const CLUSTER = process.argv.includes('--redis-cluster');

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, 1/100 s
}
const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

function binding(i: number, node: string): ContactBindingData {
  return {
    aor: `sip:+4721${String(i).padStart(6, '0')}@voip.example.net`,
    contact: `sip:+4721${String(i).padStart(6, '0')}@198.51.${(i >> 8) & 255}.${i & 255}:${5060 + (i % 1000)};transport=udp`,
    expiresAt: Date.now() + 3_600_000,
    q: 1,
    instance: `urn:uuid:6f0a${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`,
    regId: 1,
    node,
    flow: `udp:198.51.${(i >> 8) & 255}.${i & 255}:${5060 + (i % 1000)}`,
    callId: `${i.toString(36)}-reg@198.51.100.1`,
    cseq: 1,
    received: `198.51.${(i >> 8) & 255}.${i & 255}:${5060 + (i % 1000)}`,
    userAgent: 'Bench/1.0',
  };
}

async function usedMemory(c: RedisClient, pids: number[]): Promise<number> {
  if (!CLUSTER) {
    const info = String(await c.call('INFO', 'memory'));
    return Number(/used_memory:(\d+)/.exec(info)![1]);
  }
  // Sum over the masters.
  const cl = c as unknown as { nodes(role: string): RedisClient[] };
  let sum = 0;
  for (const n of cl.nodes('master')) sum += Number(/used_memory:(\d+)/.exec(String(await n.call('INFO', 'memory')))![1]);
  void pids;
  return sum;
}

const hrNow = () => performance.timeOrigin + performance.now();

/** Receiver mode: a member in its own process that records when stamped registrations reach it. */
async function receiverMain(): Promise<void> {
  const target = JSON.parse(arg('receiver', '{}')) as { url?: string; nodes?: { host: string; port: number }[]; prefix: string };
  const n = new ClusterNode({
    nodeName: arg('name', 'r'),
    address: 'receiver.bench',
    redis: target.nodes ? { mode: 'cluster', nodes: target.nodes } : { mode: 'standalone', url: target.url! },
    prefix: target.prefix,
    shards: SHARDS,
    electable: false,
    snapshotCheckMs: 0,
    expirySweepMs: 0,
    logger: { warn: () => undefined, error: (m: string) => console.error(m) },
  });
  let lat: number[] = [];
  n.onEvent((e) => {
    const ua = (e.data as { userAgent?: string }).userAgent;
    if (ua?.startsWith('ts:')) lat.push(hrNow() - Number(ua.slice(3)));
  });
  await n.start();
  process.on('message', (m: string) => {
    if (m === 'report') {
      process.send?.({
        samples: lat.length,
        p50ms: +pct(lat, 50).toFixed(2),
        p99ms: +pct(lat, 99).toFixed(2),
        maxMs: +pct(lat, 100).toFixed(2),
      });
      lat = [];
    } else if (m === 'stop') void n.stop().then(() => process.exit(0));
  });
  process.send?.('ready');
}

function receiver(name: string, target: { url?: string; nodes?: unknown; prefix: string }) {
  const child = fork(process.argv[1], ['--shards', String(SHARDS), '--name', name, '--receiver', JSON.stringify(target)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let onMsg: ((m: unknown) => void) | undefined;
  child.on('message', (m) => onMsg?.(m));
  const next = () => new Promise<unknown>((resolve) => (onMsg = resolve));
  const ready = next();
  return {
    ready,
    report: async () => {
      const r = next();
      child.send('report');
      return (await r) as Record<string, number>;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send('stop');
      }),
  };
}

/** Child mode: start one node on an existing Redis, report how long it took to serve, exit. */
async function child(): Promise<void> {
  const target = JSON.parse(arg('child', '{}')) as { url?: string; nodes?: { host: string; port: number }[]; prefix: string };
  const n = new ClusterNode({
    nodeName: `starter-${process.pid}`,
    address: 'starter.bench',
    redis: target.nodes ? { mode: 'cluster', nodes: target.nodes } : { mode: 'standalone', url: target.url! },
    prefix: target.prefix,
    shards: SHARDS,
    electable: false,
    snapshotCheckMs: 0,
    expirySweepMs: 0,
    logger: { warn: () => undefined, error: (m: string) => console.error(m) },
  });
  const t = performance.now();
  await n.start();
  const seconds = (performance.now() - t) / 1000;
  const registrations = n.location.size;
  global.gc?.();
  const heap = process.memoryUsage().heapUsed;
  console.log(
    JSON.stringify({
      seconds: +seconds.toFixed(2),
      registrations,
      heapMB: Math.round(heap / 1e6),
      heapBytesPerRegistration: Math.round(heap / Math.max(1, registrations)),
    }),
  );
  await n.stop();
}

/** Starts a node in a fresh process (a node starting or restarting) and returns its report. */
function startInChild(target: { url?: string; nodes?: unknown; prefix: string }): Record<string, number> {
  const outp = execFileSync(
    process.execPath,
    ['--expose-gc', '--max-old-space-size=8192', process.argv[1], '--shards', String(SHARDS), '--child', JSON.stringify(target)],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  return JSON.parse(outp.trim().split('\n').pop()!) as Record<string, number>;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'traverse-cluster-bench-'));
  let stop: () => Promise<void>;
  let connect: () => RedisClient;
  let redisPids: number[];
  let target: { url?: string; nodes?: unknown };
  if (CLUSTER) {
    const rc = await startRedisCluster({ dir });
    target = { nodes: rc.nodes };
    stop = rc.stop;
    connect = () => createRedisClient({ mode: 'cluster', nodes: rc.nodes });
    redisPids = rc.servers.map((s) => s.pid);
  } else {
    const rs = await startRedisServer({ dir, persistence: false });
    target = { url: rs.url };
    stop = rs.stop;
    connect = () => createRedisClient({ mode: 'standalone', url: rs.url });
    redisPids = [rs.pid];
  }
  const redisCpu = () => redisPids.reduce((n, p) => n + cpuTicks(p), 0);
  const opts = (name: string, prefix: string) => ({
    nodeName: name,
    address: `${name}.bench`,
    redis: connect,
    prefix,
    shards: SHARDS,
    snapshotCheckMs: 0,
    expirySweepMs: 0,
    logger: { warn: () => undefined, error: (m: string) => console.error(m) },
  });
  const out: Record<string, unknown> = {
    redis: CLUSTER ? '3-master Redis Cluster' : 'standalone redis-server (unix socket)',
    shards: SHARDS,
  };
  try {
    // ------------------------------------------------ 1 + 2: append rate on node A; propagation A -> C (B, C: own processes)
    {
      const a = new ClusterNode(opts('a', 'lat'));
      await a.start();
      const [b, c] = [receiver('b', { ...target, prefix: 'lat' }), receiver('c', { ...target, prefix: 'lat' })];
      await Promise.all([b.ready, c.ready]);
      // Idle: one registration every 2 ms, stamped with its send time.
      for (let i = 0; i < 2000; i++) {
        void a.publish(new RegistrationAdded({ ...binding(i, 'a'), userAgent: `ts:${hrNow()}` }));
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, 300));
      out.propagationIdle = await c.report();
      await b.report();
      // Sustained load below saturation: 5,000 registrations/s for 5 s (50 every 10 ms), each stamped.
      {
        const t0 = performance.now();
        for (let w = 0; w < 500; w++) {
          void a.publishAll(
            Array.from(
              { length: 50 },
              (_, k) => new RegistrationAdded({ ...binding(10_000 + w * 50 + k, 'a'), userAgent: `ts:${hrNow()}` }),
            ),
          );
          const next = t0 + (w + 1) * 10;
          await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
        }
        await new Promise((r) => setTimeout(r, 500));
        out.propagationAt5kPerSecond = await c.report();
        await b.report();
      }
      // Load: node A appends as fast as it can, in windows of 2000 pipelined XADDs.
      const total = 200_000;
      const cpu0 = process.cpuUsage();
      const r0 = redisCpu();
      const t0 = performance.now();
      for (let i = 0; i < total; i += 2000) {
        const stamp = `ts:${hrNow()}`;
        await a.publishAll(
          Array.from({ length: 2000 }, (_, k) => new RegistrationAdded({ ...binding(100_000 + i + k, 'a'), userAgent: stamp })),
        );
      }
      const secs = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const rticks = redisCpu() - r0;
      const infos = await a.store.info();
      await Promise.all(infos.map((i) => a.waitFor({ shard: i.shard, id: i.lastId })));
      await new Promise((r) => setTimeout(r, 1000));
      out.appendRate = {
        events: total,
        perSecond: Math.round(total / secs),
        // Node A appends and also folds every event it reads back, as every member does.
        nodeCpuUsPerEvent: +((cpu.user + cpu.system) / total).toFixed(1),
        redisCpuUsPerEvent: +((rticks * 10_000) / total).toFixed(1),
      };
      out.propagationSaturated = {
        ...(await c.report()),
        note: 'A appends flat out; B and C (own processes) fold behind on the same 2 cores: backlog, not transit time',
      };
      await Promise.all([b.stop(), c.stop(), a.stop()]);
    }

    // ------------------------------------------------ 3: N registrations: memory, snapshot, rebuild
    {
      const admin = connect();
      if ((admin as { status?: string }).status === 'wait') await (admin as unknown as { connect(): Promise<void> }).connect();
      const mem0 = await usedMemory(admin, redisPids);
      const w = new ClusterNode(opts('writer', 'big'));
      await w.start();
      const t0 = performance.now();
      for (let i = 0; i < N; i += 5000) {
        await w.publishAll(Array.from({ length: Math.min(5000, N - i) }, (_, k) => new RegistrationAdded(binding(i + k, 'writer'))));
      }
      const infos = await w.store.info();
      await Promise.all(infos.map((i) => w.waitFor({ shard: i.shard, id: i.lastId })));
      const fillSecs = (performance.now() - t0) / 1000;
      const memStream = await usedMemory(admin, redisPids);
      out.fill = {
        registrations: N,
        seconds: +fillSecs.toFixed(1),
        perSecond: Math.round(N / fillSecs),
        writerHeapMB: Math.round(process.memoryUsage().heapUsed / 1e6),
      };

      // A node starting with no snapshot yet: full replay of the stream.
      out.fullReplay = startInChild({ ...target, prefix: 'big' });

      // Snapshot, a tail of 1% refreshes, a second snapshot (which trims below the first), a tail again.
      const loopDelay = monitorEventLoopDelay({ resolution: 5 });
      loopDelay.enable();
      const t = performance.now();
      const s1 = await w.snapshotNow();
      const snapSecs = (performance.now() - t) / 1000;
      loopDelay.disable();
      for (let i = 0; i < N / 100; i += 5000)
        await w.publishAll(Array.from({ length: Math.min(5000, N / 100 - i) }, (_, k) => new RegistrationAdded(binding(i + k, 'writer'))));
      const s2 = await w.snapshotNow();
      const tail = Math.min(10_000, N / 100);
      await w.publishAll(Array.from({ length: tail }, (_, k) => new RegistrationAdded(binding(k * 7, 'writer'))));
      const memSteady = await usedMemory(admin, redisPids);
      out.snapshot = {
        seconds: +snapSecs.toFixed(2),
        longestEventLoopStallMs: Math.round(loopDelay.max / 1e6),
        compressedMB: +(s1.bytes / 1e6).toFixed(1),
        trimmedBySecond: s2.trimmed,
      };
      out.redisMemory = {
        baselineMB: +(mem0 / 1e6).toFixed(1),
        streamOnlyBytesPerRegistration: Math.round((memStream - mem0) / N),
        twoSnapshotsPlusTrimmedTailBytesPerRegistration: Math.round((memSteady - mem0) / N),
      };
      await w.stop();

      // A node starting now, in a fresh process: snapshot + tail.
      out.rebuildFromSnapshot = { ...startInChild({ ...target, prefix: 'big' }), tailEvents: tail };
      await admin.quit();
    }
  } finally {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(out, null, 2));
}

(process.argv.includes('--child') ? child() : process.argv.includes('--receiver') ? receiverMain() : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
