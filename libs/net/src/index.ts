export * from './sockets';
