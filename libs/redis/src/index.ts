export * from './redis-server';
export * from './connection';
export * from './redis-cluster';
