/**
 * TURN long-term credentials from the node's authentication provider (the same users and
 * passwords as SIP and the tunnel, so RADIUS, database and plugin providers serve TURN too).
 * The long-term key is MD5(user:realm:password) (RFC 8489 section 9.2.2), which is exactly the
 * MD5 digest HA1: a provider that only has the HA1 serves MD5 keys without the password.
 */
import { PasswordAlgorithm, longTermKey, type TransportAddress } from '@traverse/stun';
import type { AuthenticationProvider } from '@traverse/auth';

/**
 * Returns the long-term key of a user, or undefined if unknown: MD5(username:realm:password) for
 * algorithm 1 (the default, RFC 5389), SHA-256(username:realm:password) for algorithm 2 (RFC 8489
 * PASSWORD-ALGORITHM SHA-256, only asked when the server offers it). `longTermKey` in @traverse/stun computes both.
 */
export type TurnAuthenticator = (
  username: string,
  realm: string,
  algorithm: number,
  client: TransportAddress,
) => Promise<Buffer | undefined> | Buffer | undefined;

/** Thrown by a TurnAuthenticator when the user database cannot answer now: the request gets 500, never 401. */
export class TurnAuthUnavailableError extends Error {
  readonly code = 'AUTH_UNAVAILABLE';
}

export function turnAuthenticator(provider: AuthenticationProvider): TurnAuthenticator {
  return async (username: string, realm: string, algorithm: number, client: TransportAddress) => {
    const r = await provider.lookup({ user: username, realm, protocol: 'turn', source: { address: client.address, port: client.port } });
    switch (r.kind) {
      case 'password':
        return longTermKey(username, realm, r.password, algorithm);
      case 'ha1':
        // HA1 is MD5(user:realm:password) of the provider's realm: usable for MD5 keys of that realm only
        return algorithm === PasswordAlgorithm.MD5 && /^[0-9a-f]{32}$/i.test(r.ha1) ? Buffer.from(r.ha1, 'hex') : undefined;
      case 'unknown-user':
        return undefined;
      case 'unavailable':
        throw new TurnAuthUnavailableError(r.reason);
    }
  };
}
