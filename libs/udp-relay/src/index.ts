export * from './udp-relay';
