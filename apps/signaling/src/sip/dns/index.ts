// Locating SIP servers of other domains by DNS (RFC 3263): the interface the proxy codes against,
// the node:dns implementation, its typed errors, and the Nest provider built from the dns section.
import type { Provider } from '@nestjs/common';
import { NODE_CONTEXT, type NodeContext } from '@traverse/runtime';
import type { TraverseConfig } from '@traverse/config';
import { DnsSipTargetResolver, type DnsSipTargetResolverOptions } from './dns-resolver';

export type { SipTarget, SipTransportName } from './sip-targets';
export type { SipTargetResolver, DnsSipTargetResolverOptions, DnsLookupEvent } from './dns-resolver';
export { DnsSipTargetResolver } from './dns-resolver';
export { SipDnsError, type SipDnsErrorCode, type DnsQueryFailure } from './errors';
export { defaultPort, srvName, orderNaptr, orderSrv, planResolution, planVia } from './sip-targets';

/** Injection token of the node's SipTargetResolver. */
export const SIP_TARGET_RESOLVER = Symbol.for('traverse.SipTargetResolver');

/** Resolver options from the configuration's dns section. */
export function resolverOptionsFromConfig(dns: TraverseConfig['dns'], extra: Partial<DnsSipTargetResolverOptions> = {}): DnsSipTargetResolverOptions {
  return {
    servers: dns.servers,
    timeoutMs: dns.timeoutMs,
    tries: dns.tries,
    cacheSize: dns.cacheSize,
    serviceTtlSeconds: dns.serviceTtlSeconds,
    negativeTtlSeconds: dns.negativeTtlSeconds,
    ipv6: dns.ipv6,
    ...extra,
  };
}

/** Binds SIP_TARGET_RESOLVER to a DnsSipTargetResolver configured by the dns section (closed with the module). */
export const sipTargetResolverProvider: Provider = {
  provide: SIP_TARGET_RESOLVER,
  useFactory: (ctx: NodeContext) => new DnsSipTargetResolver(resolverOptionsFromConfig(ctx.config.dns)),
  inject: [NODE_CONTEXT],
};
