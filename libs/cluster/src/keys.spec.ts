import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareStreamIds, fnv1a, KeySpace, minStreamId, shardOf } from './keys';
import { leaseArithmetic, parseLeaseValue } from './master-election';

/** Redis Cluster hash slot of a key (CRC16/XMODEM of the hash tag, or the whole key). */
function slot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const b of Buffer.from(key)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe('key sharding', () => {
  it('is stable (changing it would reshuffle stored events)', () => {
    assert.equal(fnv1a(''), 0x811c9dc5);
    assert.equal(fnv1a('a'), 0xe40c292c);
    assert.equal(shardOf('sip:alice@example.net', 16), fnv1a('sip:alice@example.net') % 16);
    assert.equal(shardOf('anything', 1), 0);
  });

  it('spreads AORs evenly over the shards', () => {
    const n = 16;
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < 160_000; i++) counts[shardOf(`sip:user${i}@example.net`, n)]++;
    for (const c of counts) assert.ok(c > 9000 && c < 11000, `shard count ${c}`);
  });

  it('always lands in range', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 1024 }), (s, n) => {
        const x = shardOf(s, n);
        return Number.isInteger(x) && x >= 0 && x < n;
      }),
    );
  });

  it('puts what one script touches in one slot, and spreads the shards over slots', () => {
    const k = new KeySpace('traverse', 16);
    for (let s = 0; s < 16; s++) {
      const st = slot(k.stream(s));
      for (const other of [
        k.fence(s),
        k.snapshot(s),
        k.previousSnapshot(s),
        k.snapshotMeta(s),
        k.claim(s, 'exp\0sip:{odd}@x\0key\0' + '1-0'),
      ])
        assert.equal(slot(other), st);
    }
    assert.equal(slot(k.lease), slot(k.leaseToken));
    assert.equal(slot(k.members), slot(k.member('node-1')));
    assert.equal(new Set(Array.from({ length: 16 }, (_, s) => slot(k.stream(s)))).size, 16);
    assert.throws(() => new KeySpace('bad prefix', 4), RangeError);
    assert.throws(() => new KeySpace('ok', 0), RangeError);
  });
});

describe('stream ids', () => {
  it('compare numerically, not as strings', () => {
    assert.equal(compareStreamIds('9-0', '10-0'), -1);
    assert.equal(compareStreamIds('10-2', '10-10'), -1);
    assert.equal(compareStreamIds('10-10', '10-10'), 0);
    assert.equal(compareStreamIds('11-0', '10-99'), 1);
    assert.equal(compareStreamIds('5', '5-0'), 0);
    assert.equal(minStreamId(['10-1', '9-5', '10-0']), '9-5');
    assert.equal(minStreamId([]), undefined);
  });
  it('order like the pair (ms, seq)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), fc.nat(), (a, b, c, d) => {
        const expected = a !== c ? Math.sign(a - c) : Math.sign(b - d);
        return compareStreamIds(`${a}-${b}`, `${c}-${d}`) === expected;
      }),
    );
  });
});

describe('lease arithmetic', () => {
  it('acts as master only until the lease may have ended on Redis, minus drift', () => {
    const m = leaseArithmetic(3000, 300);
    assert.equal(m.validUntil(1000), 3700);
    assert.equal(m.renewAt(1000), 2000);
  });
  it('contenders try right when the lease runs out, and at least every third of it', () => {
    const m = leaseArithmetic(3000);
    assert.equal(m.retryAt(0, 400), 405);
    assert.equal(m.retryAt(0, 2900), 1000);
    assert.equal(m.retryAt(0, -2), 5);
  });
  it('renews well before it would step down, so a healthy master never flaps', () => {
    fc.assert(
      fc.property(fc.integer({ min: 300, max: 60_000 }), fc.nat(1e12), (lease, t) => {
        const m = leaseArithmetic(lease);
        return m.renewAt(t) < m.validUntil(t) && m.validUntil(t) <= t + lease;
      }),
    );
  });
  it('parses the lease value', () => {
    assert.deepEqual(parseLeaseValue('node-1\n42\n10.0.0.1:5060'), { name: 'node-1', token: 42, address: '10.0.0.1:5060' });
    assert.equal(parseLeaseValue('garbage'), undefined);
  });
});
