import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PasswordAlgorithm, longTermKey } from '@traverse/stun';
import type { AuthLookup, AuthRequest, AuthenticationProvider } from '@traverse/auth';
import { TurnAuthUnavailableError, turnAuthenticator } from './turn-auth';

const client = { family: 4 as const, address: '192.0.2.7', port: 5000 };
const provider = (answer: AuthLookup, seen: AuthRequest[] = []): AuthenticationProvider => ({
  name: 'test',
  lookup: (r) => {
    seen.push(r);
    return answer;
  },
});

describe('turnAuthenticator (TURN keys from the authentication provider)', () => {
  it('derives the long-term key from a password, MD5 and SHA-256, and tells the provider who asks', async () => {
    const seen: AuthRequest[] = [];
    const auth = turnAuthenticator(provider({ kind: 'password', password: 'pw' }, seen));
    assert.deepEqual(await auth('alice', 'example.com', PasswordAlgorithm.MD5, client), longTermKey('alice', 'example.com', 'pw'));
    assert.deepEqual(await auth('alice', 'example.com', PasswordAlgorithm.SHA256, client), longTermKey('alice', 'example.com', 'pw', PasswordAlgorithm.SHA256));
    assert.deepEqual(seen[0], { user: 'alice', realm: 'example.com', protocol: 'turn', source: { address: '192.0.2.7', port: 5000 } });
  });

  it('uses a stored HA1 as the MD5 key (it is MD5(user:realm:password)), not for SHA-256', async () => {
    const ha1 = createHash('md5').update('alice:example.com:pw').digest('hex');
    const auth = turnAuthenticator(provider({ kind: 'ha1', algorithm: 'MD5', ha1 }));
    assert.deepEqual(await auth('alice', 'example.com', PasswordAlgorithm.MD5, client), longTermKey('alice', 'example.com', 'pw'));
    assert.equal(await auth('alice', 'example.com', PasswordAlgorithm.SHA256, client), undefined);
  });

  it('answers undefined for an unknown user and throws TurnAuthUnavailableError when the provider cannot answer', async () => {
    assert.equal(await turnAuthenticator(provider({ kind: 'unknown-user' }))('x', 'r', 1, client), undefined);
    await assert.rejects(async () => turnAuthenticator(provider({ kind: 'unavailable', reason: 'RADIUS timeout' }))('x', 'r', 1, client), TurnAuthUnavailableError);
  });
});
