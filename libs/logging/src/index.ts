export * from './logging';
export * from './nest-logger';
