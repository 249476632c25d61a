import { coreSuite } from './cluster.suite';
import { standaloneRedis } from './spec-support';

coreSuite('cluster lib on standalone redis-server', standaloneRedis);
