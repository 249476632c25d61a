import { Global, Module } from '@nestjs/common';
import { NODE_CONTEXT, type NodeContext } from '@traverse/runtime';
import { loadFixedPassword } from './fixed-password';
import { AUTHENTICATION_PROVIDER, FixedPasswordProvider, type AuthenticationProvider } from './provider';

function createProvider(ctx: NodeContext): AuthenticationProvider {
  const { config } = ctx;
  if (config.auth.mode !== 'fixed') {
    throw new Error(`auth.mode ${config.auth.mode} is not available in this version; set auth.mode to fixed`);
  }
  const fixed = loadFixedPassword(config.auth.fixedPassword, ctx.dataDir);
  const log = ctx.logging.group('auth');
  if (fixed.source === 'generated') log.info({ path: fixed.path }, 'generated the fixed authentication password (auth.fixedPassword was empty)');
  else if (fixed.source === 'file') log.info({ path: fixed.path }, 'fixed authentication password read from the data folder');
  return new FixedPasswordProvider(fixed.password);
}

/** The node's authentication provider, bound to AUTHENTICATION_PROVIDER from auth.mode, for every role. */
@Global()
@Module({
  providers: [{ provide: AUTHENTICATION_PROVIDER, useFactory: createProvider, inject: [NODE_CONTEXT] }],
  exports: [AUTHENTICATION_PROVIDER],
})
export class AuthModule {}
