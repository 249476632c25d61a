export * from './certificates';
export * from './node-context';
export * from './status-sources';
export * from './readiness';
export * from './metrics';
export * from './metrics-util';
export * from './runtime.module';
export * from './bootstrap';
