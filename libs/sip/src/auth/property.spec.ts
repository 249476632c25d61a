import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAuthHeader, serializeAuthHeader } from './auth-header';
import { parseDigestChallenge, parseDigestCredentials, serializeDigestCredentials } from './digest';
import { DigestAuthenticator } from './server';
import { computeAuthorization } from './client';

const tokenChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&\'*+-.^_`|~'.split('');
const token = fc.array(fc.constantFrom(...tokenChars), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
const quotedText = fc.string({ maxLength: 20 }).map((s) => s.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '')); // eslint-disable-line no-control-regex
const param = fc.oneof(
  fc.record({ name: token, value: quotedText, quoted: fc.constant(true) }),
  fc.record({ name: token, value: token, quoted: fc.constant(false) }),
);
const header = fc.record({ scheme: token, params: fc.array(param, { minLength: 1, maxLength: 8 }) });

describe('auth header properties', () => {
  it('parse(serialise(h)) === h', () => {
    fc.assert(
      fc.property(header, (h) => {
        const r = parseAuthHeader(serializeAuthHeader(h));
        assert.ok(r.ok, r.ok ? '' : r.error.reason);
        assert.deepEqual(r.value, [{ scheme: h.scheme, params: h.params.map((p) => ({ ...p })) }]);
      }),
      { numRuns: 1000 },
    );
  });

  it('no input throws or hangs', () => {
    const pieces = fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('Digest ', '"', '\\', ',', '=', ' ', '\r\n ', 'realm=', 'nonce="', 'nc=00000001', 'qop=auth')), { maxLength: 40 });
    const input = fc.oneof(fc.string({ maxLength: 300 }), pieces.map((p) => p.join('')), fc.string({ unit: 'binary', maxLength: 200 }));
    const s = new DigestAuthenticator({ realm: 'r', secret: 'x'.repeat(16) });
    fc.assert(
      fc.property(input, (x) => {
        parseAuthHeader(x);
        parseDigestChallenge(x);
        parseDigestCredentials(x);
        const out = s.authenticate([x], { method: 'REGISTER', now: 1e12 }, () => ({ password: 'p' }));
        assert.equal(typeof out.ok, 'boolean');
      }),
      { numRuns: 3000 },
    );
  });

  it('a long hostile value is refused by its length before it is parsed, and a flood of parameters by their count', () => {
    for (const v of ['Digest ' + 'a=b,'.repeat(100_000), 'Digest realm="' + '\\"'.repeat(1_000_000), ','.repeat(1_000_000)]) {
      const r = parseAuthHeader(v);
      assert.ok(!r.ok && r.error.code === 'too-large' && r.error.reason === 'header value longer than 8192', JSON.stringify(r).slice(0, 200));
    }
    const flood = parseAuthHeader('Digest ' + 'a=b,'.repeat(1000), { maxLength: 1_000_000 });
    assert.ok(!flood.ok && flood.error.code === 'too-large' && flood.error.reason === 'more than 64 parameters');
    assert.ok(parseAuthHeader('Digest ' + 'a=b,'.repeat(64), { maxLength: 1_000_000 }).ok);
  });
});

describe('digest properties', () => {
  it('the client and the server agree for any user, password, method and uri', () => {
    const alg = fc.constantFrom('MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess' as const);
    const text = fc.string({ minLength: 1, maxLength: 16 }).map((s) => s.replace(/[\x00-\x1f\x7f"\\]/g, 'x')); // eslint-disable-line no-control-regex
    fc.assert(
      fc.property(alg, text, fc.string({ maxLength: 16 }), token, text, fc.boolean(), fc.string({ maxLength: 40 }), (a, user, password, method, uri, authInt, body) => {
        const s = new DigestAuthenticator({ realm: 'r.example', secret: 's'.repeat(16), algorithms: [a], qop: ['auth', 'auth-int'] });
        const [challenge] = s.challenges({ now: 1e12 });
        const c = computeAuthorization(challenge, { username: user, password, method, uri, body, preferAuthInt: authInt });
        assert.ok(c.ok);
        const header = serializeDigestCredentials(c.value);
        const out = s.authenticate([header], { method, body, now: 1e12 + 1 }, (u) => (u === user ? { password } : undefined));
        assert.ok(out.ok, JSON.stringify(out));
        const wrong = s.authenticate([header.replace(/nc=00000001/, 'nc=00000002')], { method, body, now: 1e12 + 1 }, () => ({ password: password + 'x' }));
        assert.ok(!wrong.ok && wrong.error.code === 'wrong-response');
      }),
      { numRuns: 300 },
    );
  });
});
