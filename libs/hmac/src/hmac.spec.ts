import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { HmacKey, hmac, preparedKey } from './hmac';

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

  it('a prepared key (HmacKey) gives the same MACs, digest after digest', () => {
    const key = new HmacKey('sha256', Buffer.from('a cluster secret of some length'));
    for (const text of ['', 'realm', '\x00example.com\x00192.0.2.1']) {
      const want = createHmac('sha256', Buffer.from('a cluster secret of some length')).update(Buffer.from([1, 2, 3])).update(text).digest();
      assert.deepEqual(key.digest(Buffer.from([1, 2, 3]), text), want);
    }
  });

  it('preparedKey keeps one HmacKey per key object and algorithm, giving the MACs of createHmac', () => {
    const key = randomBytes(16);
    const a = preparedKey('sha1', key);
    assert.equal(preparedKey('sha1', key), a);
    assert.notEqual(preparedKey('sha256', key), a);
    assert.notEqual(preparedKey('sha1', Buffer.from(key)), a, 'an equal key in another object is another entry');
    assert.deepEqual(a.digest('x'), createHmac('sha1', key).update('x').digest());
    assert.deepEqual(preparedKey('sha256', key).digest('x'), createHmac('sha256', key).update('x').digest());
  });
});
