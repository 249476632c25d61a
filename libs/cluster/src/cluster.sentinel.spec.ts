import { coreSuite } from './cluster.suite';
import { sentinelRedis } from './spec-support';

coreSuite('cluster lib on redis-server behind Redis Sentinel', sentinelRedis);
