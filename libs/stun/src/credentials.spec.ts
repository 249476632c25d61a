import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  NONCE_COOKIE,
  PasswordAlgorithm,
  checkNonce,
  createNonce,
  longTermKey,
  nonceFeatures,
  opaqueString,
  saslPrep,
  shortTermKey,
  userhash,
} from './index';

describe('credentials', () => {
  it('long-term key is MD5 / SHA-256 of user:realm:password', () => {
    assert.deepEqual(longTermKey('user', 'realm', 'pass'), createHash('md5').update('user:realm:pass').digest());
    assert.deepEqual(
      longTermKey('user', 'realm', 'pass', PasswordAlgorithm.SHA256),
      createHash('sha256').update('user:realm:pass').digest(),
    );
    assert.equal(longTermKey('u', 'r', 'p', PasswordAlgorithm.SHA256).length, 32);
  });

  it('short-term key is the prepared password; USERHASH is SHA-256(user:realm)', () => {
    assert.deepEqual(shortTermKey('VOkJxbRl1RmTxUk/WvJxBt'), Buffer.from('VOkJxbRl1RmTxUk/WvJxBt'));
    assert.deepEqual(userhash('bob', 'example.org'), createHash('sha256').update('bob:example.org').digest());
  });

  it('SASLprep maps soft hyphen to nothing, NFKC-normalises, maps non-ASCII space, refuses controls', () => {
    const r = saslPrep('I\u00ADX');
    assert.ok(r.ok && r.value === 'IX');
    const s = saslPrep('a\u00A0b');
    assert.ok(s.ok && s.value === 'a b');
    const u = saslPrep('\u2168');
    assert.ok(u.ok && u.value === 'IX');
    assert.equal(saslPrep('a\u0007b').ok, false);
    assert.equal(opaqueString('e\u0301'), '\u00e9');
  });

  it('nonces: valid when fresh and bound to the same client, stale when old, invalid when forged or moved', () => {
    const secret = Buffer.from('0123456789abcdef');
    const t0 = 1_700_000_000_000;
    const n = createNonce(secret, t0, '192.0.2.1');
    assert.equal(checkNonce(secret, n, t0 + 10_000, '192.0.2.1', 3600), 'valid');
    assert.equal(checkNonce(secret, n, t0 + 3_601_000, '192.0.2.1', 3600), 'stale');
    assert.equal(checkNonce(secret, n, t0, '192.0.2.2', 3600), 'invalid');
    assert.equal(checkNonce(Buffer.from('other'), n, t0, '192.0.2.1', 3600), 'invalid');
    assert.equal(checkNonce(secret, 'garbage', t0, '192.0.2.1', 3600), 'invalid');
    assert.equal(nonceFeatures(n), undefined);
    // any byte of time or MAC changed (each character of the body but the last, whose low bits are padding)
    for (let i = 0; i < n.length - 1; i++) {
      const c = n[i] === 'A' ? 'B' : 'A';
      assert.equal(checkNonce(secret, n, t0, '192.0.2.1', 3600), 'valid');
      assert.equal(checkNonce(secret, n.slice(0, i) + c + n.slice(i + 1), t0, '192.0.2.1', 3600), 'invalid', `character ${i} changed`);
    }
    // nonces made one after the other each stay valid
    const n2 = createNonce(secret, t0 + 5_000, '192.0.2.9');
    assert.equal(checkNonce(secret, n, t0, '192.0.2.1', 3600), 'valid');
    assert.equal(checkNonce(secret, n2, t0 + 5_000, '192.0.2.9', 3600), 'valid');
  });

  it('nonces announce RFC 8489 security features under the HMAC (no downgrade by stripping)', () => {
    const secret = Buffer.from('s');
    const n = createNonce(secret, 0, '', { passwordAlgorithms: true, usernameAnonymity: false });
    assert.ok(n.startsWith(NONCE_COOKIE));
    assert.deepEqual(nonceFeatures(n), { passwordAlgorithms: true, usernameAnonymity: false });
    assert.equal(checkNonce(secret, n, 1000, '', 60), 'valid');
    assert.equal(checkNonce(secret, n.slice(NONCE_COOKIE.length + 4), 1000, '', 60), 'invalid');
    assert.equal(checkNonce(secret, NONCE_COOKIE + 'AAAA' + n.slice(NONCE_COOKIE.length + 4), 1000, '', 60), 'invalid');
  });

  it('checkNonce never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        checkNonce(Buffer.from('k'), s, Date.now(), '', 60);
        nonceFeatures(s);
      }),
    );
  });
});
