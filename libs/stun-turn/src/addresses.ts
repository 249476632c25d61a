/**
 * Addresses the STUN and TURN services bind and advertise, and how the two roles share a host:
 * one process running both roles on one address cannot bind the TURN port twice, nor offer a
 * secondary STUN server on the primary's own IP.
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Role, TraverseConfig } from '@traverse/config';
import { PasswordAlgorithm } from '@traverse/stun';

export const isWildcard = (a: string): boolean => a === '' || a === '0.0.0.0' || a === '::';

/** Could sockets bound to these two addresses collide on the same port? */
export function overlaps(a: string, b: string): boolean {
  return isWildcard(a) || isWildcard(b) || a === b;
}

/** The first address of this host of that family that is not loopback (undefined: none). */
export function firstInterfaceAddress(family: 4 | 6): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (!i.internal && (i.family === 'IPv4' ? 4 : 6) === family && !i.address.startsWith('fe80')) return i.address;
  return undefined;
}

/** Whether this host has a usable IPv6 stack (at least ::1). */
export function hasIPv6(): boolean {
  return Object.values(networkInterfaces()).some((l) => (l ?? []).some((i) => i.family === 'IPv6'));
}

/**
 * The address to announce for a service bound to `bound`: the configured public address, else
 * the bound address, else this host's first non-loopback IPv4, else 127.0.0.1.
 */
export function advertisedAddress(publicAddress: string, bound: string): string {
  if (publicAddress && isIP(publicAddress)) return publicAddress;
  if (!isWildcard(bound)) return bound;
  return firstInterfaceAddress(4) ?? '127.0.0.1';
}

export interface TurnSharing {
  /** The engine's UDP/TCP listener also serves as the signaling node's TURN front. */
  plain: boolean;
  /** Same for TLS. */
  tls: boolean;
}

/**
 * Both roles in one process with the front and the engine on the same address and port (the
 * defaults: 3560 and 5349 on all addresses): one listener, the media engine's, serves both. It
 * authenticates and allocates itself, and redirects only where the front's policy (region) names
 * another media engine.
 */
export function turnSharing(config: TraverseConfig, roles: readonly Role[]): TurnSharing {
  const both = roles.includes('signaling') && roles.includes('media-engine') && config.turn.enabled;
  const same = overlaps(config.turn.address, config.mediaEngine.address);
  return {
    plain: both && same && config.turn.port === config.turn.mediaEnginePort,
    tls: both && same && config.turn.tlsPort !== 0 && config.turn.tlsPort === config.turn.mediaEngineTlsPort,
  };
}

/**
 * Whether the media engine runs the secondary STUN server (IP B). In one process with the
 * signaling role, it needs an address of its own (mediaEngine.address other than stun.address):
 * change-IP cannot be answered from IP A itself.
 */
export function secondaryStunPlan(config: TraverseConfig, roles: readonly Role[]): { run: boolean; why?: string } {
  if (!config.stun.enabled) return { run: false, why: 'stun.enabled is false' };
  if (roles.includes('signaling') && overlaps(config.stun.address, config.mediaEngine.address))
    return {
      run: false,
      why: 'the media engine shares the STUN server address of the signaling role; set stun.address and mediaEngine.address to two addresses of this host to answer RFC 3489/5780 change-IP',
    };
  return { run: true };
}

/** Realm of TURN long-term credentials: the same as SIP digest's, so one account serves both. */
export function turnRealm(config: TraverseConfig): string {
  return config.auth.realm || config.registrar.domains[0] || config.node.publicAddress || 'traverse';
}

/**
 * RFC 8489 password algorithms offered to TURN clients (turn.passwordAlgorithms), in preference
 * order. None: RFC 5389 behaviour, MD5 keys only. SHA-256 keys need the user's password, so a
 * provider that holds only MD5 HA1 values cannot serve clients that choose it.
 */
export function turnPasswordAlgorithms(config: TraverseConfig): number[] {
  return config.turn.passwordAlgorithms.map((a) => (a === 'SHA-256' ? PasswordAlgorithm.SHA256 : PasswordAlgorithm.MD5));
}

/** The STUN/TURN software name. */
export const SOFTWARE = 'traverse';
