// Helpers for tests that drive real processes on loopback. Not used by the product.
export * from './process';
export * from './net';
export * from './node-env';
export * from './random';
