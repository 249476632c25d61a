import type { TraverseConfig, Role } from '@traverse/config';
import type { Logging } from '@traverse/logging';
import type { RedisClient, RedisConnectionOptions, RunningRedisServer } from '@traverse/redis';
import type { CertificatePair } from './certificates';

/** What a running node is made of, built before Nest starts and shared with every module. */
export interface NodeContext {
  readonly version: string;
  readonly nodeName: string;
  readonly roles: readonly Role[];
  readonly config: TraverseConfig;
  readonly dataDir: string;
  readonly logging: Logging;
  readonly redis: RedisClient;
  /** How to open more connections to the same Redis (features that need their own, e.g. blocking reads). */
  readonly redisOptions: RedisConnectionOptions;
  /** The private redis-server when redis.mode is embedded. */
  readonly embeddedRedis: RunningRedisServer | undefined;
  readonly startedAt: Date;
  readonly oamCertificate: CertificatePair;
  readonly publicCertificate: CertificatePair;
  /** Random secret shared by the nodes of the cluster (kept in Redis): keys nonce MACs. Never logged. */
  readonly clusterSecret: Buffer;
}

export const NODE_CONTEXT = Symbol.for('traverse.NodeContext');
