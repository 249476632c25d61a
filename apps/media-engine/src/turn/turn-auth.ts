/**
 * TURN long-term credentials from the node's authentication provider (the same users and
 * passwords as SIP and the tunnel, so RADIUS, database and plugin providers serve TURN too).
 * The long-term key is MD5(user:realm:password) (RFC 8489 section 9.2.2), which is exactly the
 * MD5 digest HA1: a provider that only has the HA1 serves MD5 keys without the password.
 */
import { PasswordAlgorithm, longTermKey, type TransportAddress } from '@traverse/stun';
import type { AuthenticationProvider } from '@traverse/auth';
import { TurnAuthUnavailableError, type TurnAuthenticator } from './turn-server';

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
