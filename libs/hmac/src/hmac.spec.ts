import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { HmacKey, hmac, macEquals, preparedKey } from './hmac';

describe('hmac', () => {
  it('matches RFC 4231 test case 2 (HMAC-SHA-256, key "Jefe")', () => {
    assert.equal(
      hmac('sha256', Buffer.from('Jefe'), 'what do ya want ', Buffer.from('for nothing?')).toString('hex'),
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('equals createHmac for any key (short, block-sized, long) and parts', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 150 }),
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }),
        fc.constantFrom('sha1', 'sha256'),
        (key, parts, alg) => {
          const k = Buffer.from(key);
          const ps = parts.map((p) => Buffer.from(p));
          const want = ps.reduce((h, p) => h.update(p), createHmac(alg, k)).digest();
          assert.deepEqual(hmac(alg, k, ...ps), want);
        },
      ),
    );
    const k = randomBytes(64);
    assert.deepEqual(hmac('sha1', k, 'é€'), createHmac('sha1', k).update('é€', 'utf8').digest());
  });

  it('matches RFC 2202 (HMAC-SHA-1) test cases 1, 2 and 6', () => {
    assert.equal(hmac('sha1', Buffer.alloc(20, 0x0b), 'Hi There').toString('hex'), 'b617318655057264e28bc0b6fb378c8ef146be00');
    assert.equal(
      hmac('sha1', Buffer.from('Jefe'), 'what do ya want for nothing?').toString('hex'),
      'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79',
    );
    assert.equal(
      hmac('sha1', Buffer.alloc(80, 0xaa), 'Test Using Larger Than Block-Size Key - Hash Key First').toString('hex'),
      'aa4ae5e15272d00e95705637ce8a3b55ed402112',
    );
  });

  it('equals createHmac for every message length around the block and padding boundaries, split anywhere', () => {
    const key = randomBytes(16);
    const data = randomBytes(260);
    for (const alg of ['sha1', 'sha256'] as const) {
      const k = new HmacKey(alg, key);
      for (let len = 0; len <= 260; len++) {
        const msg = data.subarray(0, len);
        const want = createHmac(alg, key).update(msg).digest();
        const cut = (len * 7) % (len + 1);
        assert.deepEqual(k.digest(msg), want, `${alg} length ${len}`);
        assert.deepEqual(k.digest(msg.subarray(0, cut), msg.subarray(cut)), want, `${alg} length ${len} cut at ${cut}`);
        const text = Array.from(msg, (b) => String.fromCharCode(32 + (b % 95))).join('');
        assert.deepEqual(k.digest(text), createHmac(alg, key).update(text).digest(), `${alg} text of length ${len}`);
      }
    }
  });

  it('equals createHmac for string parts, ASCII or not, mixed with bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.array(fc.oneof(fc.string({ maxLength: 90 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.uint8Array({ maxLength: 100 })), {
          maxLength: 5,
        }),
        fc.constantFrom('sha1', 'sha256'),
        (key, parts, alg) => {
          const k = Buffer.from(key);
          const want = parts.reduce((h, p) => (typeof p === 'string' ? h.update(p, 'utf8') : h.update(p)), createHmac(alg, k)).digest();
          assert.deepEqual(hmac(alg, k, ...parts), want);
        },
      ),
    );
  });

  it('keys used in turn do not disturb each other', () => {
    const a = new HmacKey('sha1', Buffer.from('key a'));
    const b = new HmacKey('sha256', Buffer.from('key b'));
    const msg = randomBytes(150);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(a.digest(msg), createHmac('sha1', 'key a').update(msg).digest());
      assert.deepEqual(b.digest(msg, 'tail'), createHmac('sha256', 'key b').update(msg).update('tail').digest());
    }
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

  it('macEquals compares a MAC with the bytes received at an offset, any differing byte refusing it', () => {
    const mac = hmac('sha256', Buffer.from('k'), 'message');
    const received = Buffer.concat([Buffer.from('head'), mac.subarray(0, 16), Buffer.from('tail')]);
    assert.equal(macEquals(mac, received, 4, 16), true);
    assert.equal(macEquals(mac, received, 3, 16), false, 'another offset');
    for (let i = 0; i < 16; i++) {
      const forged = Buffer.from(received);
      forged[4 + i] ^= 0x01;
      assert.equal(macEquals(mac, forged, 4, 16), false, `byte ${i} differs`);
    }
  });
});
