export * from './schema';
export * from './loader';
export * from './reference';
