export * from './redis-server';
export * from './connection';
