import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';

export type RedisMode = 'embedded' | 'standalone' | 'sentinel' | 'cluster';

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface RedisConnectionOptions {
  mode: RedisMode;
  /** standalone/embedded: redis://host:port/db, rediss://..., or unix:///path/to/socket */
  url?: string;
  /** sentinel: the sentinels and the monitored master's name */
  sentinels?: RedisEndpoint[];
  sentinelName?: string;
  /** cluster: seed nodes */
  nodes?: RedisEndpoint[];
  username?: string;
  password?: string;
  /** Name shown in CLIENT LIST, e.g. traverse:<node> */
  connectionName?: string;
}

export type RedisClient = Redis | Cluster;

const common: RedisOptions = {
  enableAutoPipelining: true,
  maxRetriesPerRequest: 20,
  // Reconnect forever with a capped backoff: a node keeps serving from memory meanwhile.
  retryStrategy: (times) => Math.min(50 * times, 2000),
};

/** Parses a redis URL into ioredis options, accepting unix:// and unix: forms. */
export function redisOptionsFromUrl(url: string): RedisOptions {
  if (url.startsWith('unix:')) {
    const path = url.replace(/^unix:(\/\/)?/, '');
    return { path };
  }
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`redis url must start with redis://, rediss:// or unix://, got ${u.protocol}`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    db: Number.isInteger(db) ? db : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** Creates an ioredis client for the configured topology. The caller connects and quits it. */
export function createRedisClient(o: RedisConnectionOptions, extra: RedisOptions = {}): RedisClient {
  const auth = { ...(o.username ? { username: o.username } : {}), ...(o.password ? { password: o.password } : {}) };
  const name = o.connectionName ? { connectionName: o.connectionName } : {};
  switch (o.mode) {
    case 'embedded':
    case 'standalone':
      if (!o.url) throw new Error('redis.url is required for standalone mode');
      return new Redis({ ...common, ...redisOptionsFromUrl(o.url), ...auth, ...name, ...extra, lazyConnect: true });
    case 'sentinel':
      if (!o.sentinels?.length || !o.sentinelName) throw new Error('redis.sentinels and redis.sentinelName are required for sentinel mode');
      return new Redis({ ...common, sentinels: o.sentinels, name: o.sentinelName, ...auth, ...name, ...extra, lazyConnect: true });
    case 'cluster': {
      if (!o.nodes?.length) throw new Error('redis.nodes is required for cluster mode');
      const copts: ClusterOptions = {
        enableAutoPipelining: true,
        lazyConnect: true,
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
        redisOptions: { ...auth, ...name, ...extra, maxRetriesPerRequest: 20 },
      };
      return new Cluster(o.nodes, copts);
    }
  }
}
