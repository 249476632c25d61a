import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '@traverse/testing';
import { DnsCache } from './dns-cache';

describe('DNS answer cache', () => {
  it('keeps an answer for its TTL and not a moment longer', () => {
    const c = new DnsCache<string>(10);
    c.set('A example.com', '192.0.2.1', 30_000, 1000);
    assert.equal(c.get('A example.com', 1000), '192.0.2.1');
    assert.equal(c.get('A example.com', 30_999), '192.0.2.1');
    assert.equal(c.get('A example.com', 31_000), undefined);
    assert.equal(c.size, 0, 'the expired entry is dropped');
  });

  it('keeps nothing for a TTL of 0, or with size 0', () => {
    const c = new DnsCache<string>(10);
    c.set('k', 'v', 0, 0);
    assert.equal(c.get('k', 0), undefined);
    const none = new DnsCache<string>(0);
    none.set('k', 'v', 1000, 0);
    assert.equal(none.get('k', 0), undefined);
  });

  it('drops the least recently used entry beyond its size', () => {
    const c = new DnsCache<number>(2);
    c.set('a', 1, 1000, 0);
    c.set('b', 2, 1000, 0);
    assert.equal(c.get('a', 1), 1); // a is now the most recently used
    c.set('c', 3, 1000, 1);
    assert.equal(c.size, 2);
    assert.equal(c.get('b', 2), undefined);
    assert.equal(c.get('a', 2), 1);
    assert.equal(c.get('c', 2), 3);
  });

  it('under churn past its size, with hits, expiries and clears, keeps what a plain least-recently-used list keeps', () => {
    const size = 300;
    const c = new DnsCache<number>(size);
    // the reference: a list in order of use, the least recently used first
    let list: Array<{ key: string; value: number; expiresAt: number }> = [];
    const rand = seededRandom(11);
    let now = 0;
    let evicted = 0;
    let hits = 0;
    for (let i = 0; i < 20_000; i++) {
      now += rand(3);
      const key = `k${rand(i < 10_000 ? 600 : 2_000)}`;
      if (rand(2) === 0) {
        const at = list.findIndex((e) => e.key === key);
        let want: number | undefined;
        if (at >= 0) {
          const [e] = list.splice(at, 1);
          if (e.expiresAt > now) {
            want = e.value;
            list.push(e);
          }
        }
        if (want !== undefined) hits++;
        assert.equal(c.get(key, now), want, `get ${key} at step ${i}`);
      } else {
        const ttl = 1 + rand(2_000);
        c.set(key, i, ttl, now);
        list = list.filter((e) => e.key !== key);
        list.push({ key, value: i, expiresAt: now + ttl });
        while (list.length > size) {
          list.shift();
          evicted++;
        }
      }
      if (i === 15_000) {
        c.clear();
        list = [];
      }
      assert.equal(c.size, list.length, `size at step ${i}`);
    }
    assert.ok(evicted > 1000 && hits > 1000, `evicted ${evicted}, hits ${hits}`);
  });

  it('refuses a bad size', () => {
    assert.throws(() => new DnsCache(-1), RangeError);
    assert.throws(() => new DnsCache(1.5), RangeError);
  });
});
