import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { hmac } from './hmac';

describe('hmac', () => {
  it('matches RFC 4231 test case 2 (HMAC-SHA-256, key "Jefe")', () => {
    assert.equal(
      hmac('sha256', Buffer.from('Jefe'), 'what do ya want ', Buffer.from('for nothing?')).toString('hex'),
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('equals createHmac for any key (short, block-sized, long) and parts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 150 }), fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }), fc.constantFrom('sha1', 'sha256'), (key, parts, alg) => {
        const k = Buffer.from(key);
        const ps = parts.map((p) => Buffer.from(p));
        const want = ps.reduce((h, p) => h.update(p), createHmac(alg, k)).digest();
        assert.deepEqual(hmac(alg, k, ...ps), want);
      }),
    );
    const k = randomBytes(64);
    assert.deepEqual(hmac('sha1', k, 'é€'), createHmac('sha1', k).update('é€', 'utf8').digest());
  });
});
