import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ensureRedisServerBinary, startRedisServer, RedisServerError, type RunningRedisServer } from './redis-server';
import type { RedisEndpoint } from './connection';

export interface RedisClusterOptions {
  /** Parent folder; each master gets <dir>/node-<i>. */
  dir: string;
  /** Number of masters (default 3, no replicas). */
  masters?: number;
  persistence?: boolean;
  startTimeoutMs?: number;
}

export interface RunningRedisCluster {
  /** Seed nodes for createRedisClient({ mode: 'cluster', nodes }). */
  readonly nodes: RedisEndpoint[];
  readonly servers: RunningRedisServer[];
  stop(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A loopback TCP port p such that p and its cluster bus port p+10000 are both free. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20000 + Math.floor(Math.random() * 30000);
    if (taken.has(p) || taken.has(p + 10000)) continue;
    if ((await portFree(p)) && (await portFree(p + 10000))) {
      taken.add(p);
      taken.add(p + 10000);
      return p;
    }
  }
  throw new RedisServerError('REDIS_START_FAILED', 'no free port pair for a Redis Cluster node');
}

function cli(port: number, args: string[]): string {
  const r = spawnSync(ensureRedisServerBinary('redis-cli', true), ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new RedisServerError('REDIS_START_FAILED', `redis-cli ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/**
 * Starts a Redis Cluster of `masters` redis-server processes on loopback ports (tests and
 * benchmarks), with the 16384 slots spread over them, and waits for cluster_state:ok.
 */
export async function startRedisCluster(opts: RedisClusterOptions): Promise<RunningRedisCluster> {
  const n = opts.masters ?? 3;
  const taken = new Set<number>();
  const servers: RunningRedisServer[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const port = await clusterPort(taken);
      servers.push(
        await startRedisServer({
          dir: join(opts.dir, `node-${i}`),
          port,
          persistence: opts.persistence ?? false,
          startTimeoutMs: opts.startTimeoutMs ?? 15_000,
          extraArgs: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
            '--appendonly',
            'no',
          ],
        }),
      );
    }
    // Slots: an even split, added with CLUSTER ADDSLOTSRANGE; then every node meets the first.
    const per = Math.floor(16384 / n);
    servers.forEach((s, i) => {
      const from = i * per;
      const to = i === n - 1 ? 16383 : (i + 1) * per - 1;
      cli(s.port, ['CLUSTER', 'ADDSLOTSRANGE', String(from), String(to)]);
      cli(s.port, ['CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1)]);
    });
    for (const s of servers.slice(1)) cli(s.port, ['CLUSTER', 'MEET', '127.0.0.1', String(servers[0].port)]);
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
    for (;;) {
      const ok = servers.every((s) => {
        const info = cli(s.port, ['CLUSTER', 'INFO']);
        return info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${n}`);
      });
      if (ok) break;
      if (Date.now() > deadline) throw new RedisServerError('REDIS_START_TIMEOUT', 'Redis Cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await Promise.all(servers.map((s) => s.stop()));
    throw e;
  }
  return {
    nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    servers,
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
