// Helpers shared by the cluster lib's integration tests (not exported from the lib).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRedisClient,
  ensureRedisServerBinary,
  startRedisCluster,
  startRedisServer,
  type RedisClient,
  type RedisConnectionOptions,
} from '@traverse/redis';
import { ClusterNode, type ClusterNodeOptions } from './cluster-node';

export interface RedisFixture {
  kind: 'standalone' | 'sentinel' | 'cluster';
  options: RedisConnectionOptions;
  connect: () => RedisClient;
  stop(): Promise<void>;
}

export async function standaloneRedis(): Promise<RedisFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'traverse-cluster-test-'));
  const server = await startRedisServer({ dir, persistence: false });
  return {
    kind: 'standalone',
    options: { mode: 'standalone', url: server.url },
    connect: () => createRedisClient({ mode: 'standalone', url: server.url }),
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function clusterRedis(): Promise<RedisFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'traverse-rcluster-test-'));
  const cluster = await startRedisCluster({ dir });
  return {
    kind: 'cluster',
    options: { mode: 'cluster', nodes: cluster.nodes },
    connect: () => createRedisClient({ mode: 'cluster', nodes: cluster.nodes }),
    stop: async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A redis-server master watched by one redis-sentinel; clients find the master through the sentinel. */
export async function sentinelRedis(): Promise<RedisFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'traverse-sentinel-test-'));
  const master = await startRedisServer({ dir: join(dir, 'master'), port: await freePort(), persistence: false });
  const sport = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${sport}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor traverse 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds traverse 5000',
      '',
    ].join('\n'),
  );
  const sentinel = spawn(ensureRedisServerBinary(), [conf, '--sentinel'], { stdio: 'ignore' });
  const options: RedisConnectionOptions = { mode: 'sentinel', sentinels: [{ host: '127.0.0.1', port: sport }], sentinelName: 'traverse' };
  const probe = createRedisClient(options);
  probe.on('error', () => undefined);
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await probe.ping();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  probe.disconnect();
  return {
    kind: 'sentinel',
    options,
    connect: () => createRedisClient(options),
    stop: async () => {
      sentinel.kill('SIGTERM');
      await master.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let prefixes = 0;
/** A key prefix unique to one test, so that tests sharing a server do not see each other. */
export function uniquePrefix(): string {
  return `t${process.pid}x${++prefixes}`;
}

export const quiet = { warn: () => undefined, error: (m: string) => console.error(m) };

export function makeNode(redis: RedisFixture, prefix: string, name: string, extra: Partial<ClusterNodeOptions> = {}): ClusterNode {
  return new ClusterNode({
    nodeName: name,
    address: `${name}.example.net`,
    redis: redis.connect,
    prefix,
    shards: 8,
    leaseMs: 1000,
    heartbeatMs: 200,
    snapshotCheckMs: 0,
    expirySweepMs: 0,
    gapCheckMs: 0,
    logger: quiet,
    ...extra,
  });
}

export async function waitUntil(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every shard's state of every model: equal on two nodes means the read models converged. */
export function stateOf(n: ClusterNode): unknown[] {
  return Array.from({ length: n.keys.shards }, (_, s) => n.projector.snapshotShard(s));
}
