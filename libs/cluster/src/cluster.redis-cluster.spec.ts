import { coreSuite } from './cluster.suite';
import { clusterRedis } from './spec-support';

coreSuite('cluster lib on a 3-master Redis Cluster', clusterRedis);
