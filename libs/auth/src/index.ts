export * from './provider';
export * from './fixed-password';
export * from './auth.module';
