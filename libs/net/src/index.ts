export * from './sockets';
export * from './certificate-watcher';
