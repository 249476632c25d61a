import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeChangeIpDatagram, encodeChangeIpDatagram } from './change-ip-relay';

const secret = Buffer.from('token');
const to = { family: 4 as const, address: '198.51.100.4', port: 4242 };

describe('change-IP relay datagram', () => {
  it('round trips IPv4 and IPv6 targets with the right secret', () => {
    const now = 1_700_000_000_000;
    for (const target of [to, { family: 6 as const, address: '2001:db8::7', port: 1 }]) {
      const d = encodeChangeIpDatagram(secret, 1, target, Buffer.from('response bytes here, at least twenty'), now)!;
      const r = decodeChangeIpDatagram(secret, d, now + 1000, new Map());
      assert.ok(r);
      assert.equal(r.port, 1);
      assert.deepEqual(r.to, target);
      assert.equal(r.response.toString(), 'response bytes here, at least twenty');
    }
  });

  it('refuses a wrong secret, a stale time, a replay and any flipped byte', () => {
    const now = 1_700_000_000_000;
    const d = encodeChangeIpDatagram(secret, 0, to, Buffer.alloc(40, 1), now)!;
    assert.equal(decodeChangeIpDatagram(Buffer.from('other'), d, now, new Map()), undefined);
    assert.equal(decodeChangeIpDatagram(secret, d, now + 31_000, new Map()), undefined);
    const seen = new Map<string, number>();
    assert.ok(decodeChangeIpDatagram(secret, d, now, seen));
    assert.equal(decodeChangeIpDatagram(secret, d, now, seen), undefined);
    for (let i = 0; i < d.length; i++) {
      const x = Buffer.from(d);
      x[i] ^= 0x01;
      assert.equal(decodeChangeIpDatagram(secret, x, now, new Map()), undefined, `byte ${i}`);
    }
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (a) => {
        decodeChangeIpDatagram(secret, Buffer.from(a), Date.now(), new Map());
      }),
    );
  });
});
