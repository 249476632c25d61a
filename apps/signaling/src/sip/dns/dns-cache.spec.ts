import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
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

  it('refuses a bad size', () => {
    assert.throws(() => new DnsCache(-1), RangeError);
    assert.throws(() => new DnsCache(1.5), RangeError);
  });
});
