import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '@traverse/testing';
import { createHmac } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { NonceService } from './nonce';
import { NonceCountTracker } from './nonce-count';

const T0 = 1_763_700_000_000;

describe('NonceService', () => {
  const fixed = () => new Uint8Array([1, 2, 3, 4, 5, 6]);
  const svc = new NonceService({ secret: 'k'.repeat(32), lifetimeMs: 60_000, random: fixed });

  it('is deterministic for the same time, salt, realm and secret, and base64url', () => {
    const a = svc.create(T0, 'r');
    assert.equal(a, svc.create(T0, 'r'));
    assert.match(a, /^[A-Za-z0-9_-]{38}$/);
    assert.notEqual(a, svc.create(T0, 'other'));
    assert.notEqual(a, svc.create(T0 + 1, 'r'));
    // the timestamp is readable from the first 6 bytes
    assert.equal(Buffer.from(a, 'base64url').readUIntBE(0, 6), T0);
  });

  it('checks age, realm, address and MAC without state', () => {
    const n = svc.create(T0, 'r', '192.0.2.1');
    assert.deepEqual(svc.check(n, T0 + 60_000, 'r', '192.0.2.1'), { status: 'fresh', issuedAt: T0 });
    assert.deepEqual(svc.check(n, T0 + 60_001, 'r', '192.0.2.1'), { status: 'expired', issuedAt: T0 });
    assert.equal(svc.check(n, T0, 'r', '192.0.2.2').status, 'invalid');
    assert.equal(svc.check(n, T0, 'r').status, 'invalid');
    assert.equal(svc.check(n, T0, 'R', '192.0.2.1').status, 'invalid');
    assert.equal(svc.check(n, T0 - 10_000, 'r', '192.0.2.1').status, 'invalid'); // from the future
    assert.equal(svc.check(n, T0 - 4_000, 'r', '192.0.2.1').status, 'fresh'); // within the 5 s skew
    for (const bad of ['', 'x', n + 'A', n.slice(1), n.replace(/.$/, '+'), '='.repeat(38)]) assert.equal(svc.check(bad, T0, 'r', '192.0.2.1').status, 'invalid');
  });

  it('MACs with HMAC-SHA-256 (what nodes of other versions compute), for short and long keys and non-ASCII realms', () => {
    for (const secret of ['k'.repeat(32), 'long key '.repeat(20)]) {
      const s = new NonceService({ secret, random: fixed });
      for (const [realm, address] of [['r', '192.0.2.1'], ['réalm €', undefined], ['x'.repeat(500), '2001:db8::1']] as const) {
        const raw = Buffer.from(s.create(T0, realm, address), 'base64url');
        const mac = createHmac('sha256', Buffer.from(secret)).update(raw.subarray(0, 12)).update(`\0${realm}\0${address ?? ''}`).digest().subarray(0, 16);
        assert.deepEqual(raw.subarray(12), mac);
        assert.equal(s.check(raw.toString('base64url'), T0, realm, address).status, 'fresh');
      }
    }
  });

  it('accepts nonces of another node sharing the secret', () => {
    const other = new NonceService({ secret: 'k'.repeat(32), lifetimeMs: 60_000 });
    assert.equal(other.check(svc.create(T0, 'r'), T0, 'r').status, 'fresh');
  });

  it('salts every nonce with fresh random bytes (also across refills of the random pool)', () => {
    const random = new NonceService({ secret: 'k'.repeat(32) });
    const made = new Set<string>();
    for (let i = 0; i < 2000; i++) made.add(random.create(T0, 'r'));
    assert.equal(made.size, 2000);
    for (const n of made) assert.equal(random.check(n, T0, 'r').status, 'fresh');
  });
});

describe('NonceCountTracker', () => {
  it('accepts increasing counts and rejects repeated, lower and zero ones', () => {
    const t = new NonceCountTracker({ lifetimeMs: 1000 });
    assert.equal(t.check('n', T0, 0, T0), 'replay');
    assert.equal(t.check('n', T0, 1, T0), 'ok');
    assert.equal(t.check('n', T0, 1, T0), 'replay');
    assert.equal(t.check('n', T0, 3, T0), 'ok');
    assert.equal(t.check('n', T0, 2, T0), 'replay');
    assert.equal(t.check('m', T0, 1, T0), 'ok'); // counts are per nonce
    assert.equal(t.size, 2);
  });

  it('forgets expired nonces and never accepts an older untracked one again', () => {
    const t = new NonceCountTracker({ lifetimeMs: 1000 });
    assert.equal(t.check('a', T0, 1, T0), 'ok');
    assert.equal(t.check('b', T0 + 500, 1, T0 + 500), 'ok');
    assert.equal(t.check('c', T0 + 1500, 1, T0 + 1500), 'ok'); // sweeps 'a' (expired at T0+1000)
    assert.equal(t.size, 2);
    assert.equal(t.check('a', T0, 2, T0 + 900), 'stale'); // even if the clock went back
  });

  it('stays within its size cap, refusing evicted nonces as stale instead of allowing replay', () => {
    const t = new NonceCountTracker({ lifetimeMs: 60_000, maxEntries: 3 });
    for (let i = 0; i < 3; i++) assert.equal(t.check(`n${i}`, T0 + i, 1, T0 + 10), 'ok');
    assert.equal(t.check('n3', T0 + 3, 1, T0 + 10), 'ok'); // evicts n0
    assert.equal(t.size, 3);
    assert.equal(t.check('n0', T0, 1, T0 + 10), 'stale'); // replay of the evicted nonce is impossible
    assert.equal(t.check('n1', T0 + 1, 1, T0 + 10), 'replay'); // still tracked
    assert.equal(t.check('n1', T0 + 1, 2, T0 + 10), 'ok');
    for (let i = 4; i < 10_000; i++) t.check(`n${i}`, T0 + i, 1, T0 + 20);
    assert.equal(t.size, 3);
  });

  it('under churn past its cap and through expiry, answers as a plain insertion-ordered list would', () => {
    // the reference: the table as a list in insertion order, searched and trimmed from its start
    const lifetimeMs = 5_000;
    const max = 1500;
    const t = new NonceCountTracker({ lifetimeMs, maxEntries: max });
    const list: Array<{ nonce: string; nc: number; issuedAt: number }> = [];
    let watermark = -Infinity;
    const dropped = { expired: 0, evicted: 0 };
    const drop = (why: keyof typeof dropped) => {
      dropped[why]++;
      const e = list.shift()!;
      watermark = Math.max(watermark, e.issuedAt);
    };
    const reference = (nonce: string, issuedAt: number, nc: number, now: number): string => {
      for (let budget = 16; budget > 0 && list.length > 0 && list[0].issuedAt + lifetimeMs < now; budget--) drop('expired');
      const e = list.find((x) => x.nonce === nonce);
      if (e !== undefined) {
        if (nc <= e.nc) return 'replay';
        e.nc = nc;
        return 'ok';
      }
      if (nc < 1) return 'replay';
      if (issuedAt <= watermark) return 'stale';
      if (list.length >= max) {
        drop('evicted');
        if (issuedAt <= watermark) return 'stale';
      }
      list.push({ nonce, nc, issuedAt });
      return 'ok';
    };
    const rand = seededRandom(7);
    const issued: Array<{ nonce: string; issuedAt: number; nc: number }> = [];
    let now = T0;
    const seen = { ok: 0, replay: 0, stale: 0 };
    for (let i = 0; i < 12_000; i++) {
      // a new nonce every third check or so: first 0.5 ms apart (the cap trims the table), then 3 ms (expiry does)
      now += i < 6000 ? rand(2) : 2 + rand(3);
      let pick: { nonce: string; issuedAt: number; nc: number };
      if (issued.length === 0 || rand(3) === 0) issued.push((pick = { nonce: `nonce-${i}`, issuedAt: now, nc: 0 }));
      else pick = issued[issued.length - 1 - rand(Math.min(issued.length, 4000))];
      // mostly the next count, sometimes one used before
      const nc = rand(4) === 0 ? rand(pick.nc + 1) : ++pick.nc;
      const want = reference(pick.nonce, pick.issuedAt, nc, now);
      assert.equal(t.check(pick.nonce, pick.issuedAt, nc, now), want, `check ${i}: ${pick.nonce} nc ${nc}`);
      seen[want as keyof typeof seen]++;
      assert.equal(t.size, list.length, `size after check ${i}`);
    }
    // every outcome occurred, and the table was trimmed both by its cap and by expiry
    assert.ok(seen.ok > 1000 && seen.replay > 1000 && seen.stale > 100, JSON.stringify(seen));
    assert.ok(dropped.evicted > 500 && dropped.expired > 1000, JSON.stringify(dropped));
  });

  it('keeps its nonces as strings of their own, not holding the text of the requests they were cut from', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const t = new NonceCountTracker({ lifetimeMs: 60_000 });
    const requests = 200;
    const filler = 'x'.repeat(500_000); // each request's text: half a megabyte
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < requests; i++) {
      const text = `REGISTER sip:example.com SIP/2.0\r\nAuthorization: Digest nonce="nonce-${String(i).padStart(20, '0')}"\r\nX-Filler: ${filler}${i}\r\n`;
      const at = text.indexOf('nonce="') + 7;
      assert.equal(t.check(text.slice(at, text.indexOf('"', at)), T0, 1, T0), 'ok');
    }
    gc();
    const held = process.memoryUsage().heapUsed - before;
    assert.equal(t.size, requests);
    assert.ok(held < 10_000_000, `the table holds ${(held / 1e6).toFixed(1)} MB for ${requests} nonces`);
  });
});
