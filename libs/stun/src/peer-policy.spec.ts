import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PeerPolicy, embeddedIPv4, parseCidr, cidrContains, parseIp, formatIp } from './index';

const policy = (o = {}) => {
  const r = PeerPolicy.create(o);
  assert.ok(r.ok);
  return r.value;
};

/** Every spelling of one IPv4 host a client could put in a peer address or a config file. */
function spellings(v4: string): string[] {
  const b = parseIp(v4);
  assert.ok(b.ok);
  const [a, c, d, e] = b.value as unknown as number[];
  const h = (x: number, y: number) => ((x << 8) | y).toString(16);
  const n = ((a << 24) >>> 0) + (c << 16) + (d << 8) + e;
  return [
    v4,
    `::ffff:${v4}`,
    `::FFFF:${h(a, c)}:${h(d, e)}`,
    `0:0:0:0:0:ffff:${h(a, c)}:${h(d, e)}`,
    `::${v4}`,
    `::ffff:0:${v4}`,
    `64:ff9b::${v4}`,
    `64:ff9b::${h(a, c)}:${h(d, e)}`,
    `2002:${h(a, c)}:${h(d, e)}::1`,
    `2001:0:4136:e378:8000:63bf:${h(a ^ 0xff, c ^ 0xff)}:${h(d ^ 0xff, e ^ 0xff)}`,
    String(n),
    `0x${n.toString(16)}`,
    `0${n.toString(8)}`,
    `${a}.${(c << 16) + (d << 8) + e}`,
    `[::ffff:${v4}]`,
  ];
}

describe('peer policy', () => {
  it('denies loopback, unspecified, this-network, link-local, multicast, broadcast, reserved in every spelling', () => {
    const p = policy({ allowPrivate: true, allowDocumentation: true });
    for (const host of [
      '127.0.0.1',
      '127.255.0.9',
      '0.0.0.0',
      '0.1.2.3',
      '169.254.169.254',
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '240.0.0.1',
      '192.0.0.8',
    ])
      for (const s of spellings(host)) {
        const d = p.check(s);
        assert.equal(d.allowed, false, `${s} (${host}) must be denied`);
      }
    for (const s of [
      '::',
      '::1',
      '0:0:0:0:0:0:0:1',
      'fe80::1',
      'FE80::abcd',
      'ff02::1',
      'ff0e::1',
      '100::1',
      '2001:10::1',
      '3fff::1'.replace('3fff', '4000'),
    ])
      assert.equal(p.check(s).allowed, false, s);
  });

  it('denies private ranges by default and allows them when configured, in every spelling', () => {
    const strict = policy();
    const open = policy({ allowPrivate: true });
    for (const host of ['10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.127.255.254']) {
      for (const s of spellings(host)) {
        assert.equal(strict.check(s).allowed, false, `${s} denied by default`);
        assert.equal(open.check(s).allowed, true, `${s} allowed with allowPrivate`);
      }
    }
    for (const s of ['fc00::1', 'fd12:3456::1', 'fec0::1', '64:ff9b:1::a00:1']) {
      assert.equal(strict.check(s).allowed, false, s);
      assert.equal(open.check(s).allowed, true, s);
    }
    assert.equal(strict.check('172.32.0.1').allowed, true);
    assert.equal(strict.check('100.128.0.1').allowed, true);
  });

  it('allows public addresses in every spelling and reports the canonical form', () => {
    const p = policy();
    for (const s of spellings('8.8.8.8')) assert.equal(p.check(s).allowed, true, s);
    assert.equal(p.check('::ffff:8.8.8.8').canonical, '8.8.8.8');
    assert.equal(p.check('2001:4860:4860::8888').allowed, true);
    assert.equal(p.check('192.0.2.1').allowed, false);
    assert.equal(policy({ allowDocumentation: true }).check('192.0.2.1').allowed, true);
  });

  it('an allow-list exception opens one host, in all its spellings, and nothing else', () => {
    const p = policy({ allow: ['127.0.0.1/32'] });
    for (const s of spellings('127.0.0.1')) assert.equal(p.check(s).allowed, true, s);
    for (const s of spellings('127.0.0.2')) assert.equal(p.check(s).allowed, false, s);
    assert.equal(p.check('::1').allowed, false);
  });

  it('a deny-list entry closes a public range in every spelling', () => {
    const p = policy({ deny: ['203.0.114.0/24'] });
    for (const s of spellings('203.0.114.9')) assert.equal(p.check(s).allowed, false, s);
    assert.equal(p.check('203.0.115.9').allowed, true);
  });

  it('refuses bad configuration with a typed error', () => {
    const r = PeerPolicy.create({ allow: ['10.0.0.0/33'] });
    assert.equal(r.ok, false);
    assert.equal(PeerPolicy.create({ deny: ['nope'] }).ok, false);
  });

  it('cidr matching agrees with a bit-by-bit reference', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 32 }),
        (a, b, prefix) => {
          const c = parseCidr(`${formatIp(a)}/${prefix}`);
          assert.ok(c.ok);
          const bit = (x: Uint8Array, i: number) => (x[i >> 3] >> (7 - (i & 7))) & 1;
          let same = true;
          for (let i = 0; i < prefix; i++) if (bit(a, i) !== bit(b, i)) same = false;
          assert.equal(cidrContains(c.value, b), same);
        },
      ),
    );
  });

  it('extracts embedded IPv4 only from the forms that embed one', () => {
    const e = (s: string) => {
      const r = parseIp(s);
      assert.ok(r.ok);
      const v = embeddedIPv4(r.value);
      return v ? formatIp(v) : undefined;
    };
    assert.equal(e('::ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(e('::1.2.3.4'), '1.2.3.4');
    assert.equal(e('64:ff9b::102:304'), '1.2.3.4');
    assert.equal(e('2002:102:304::'), '1.2.3.4');
    assert.equal(e('2001:0:1:2:3:4:fefd:fcfb'), '1.2.3.4');
    assert.equal(e('::1'), undefined);
    assert.equal(e('::'), undefined);
    assert.equal(e('2001:db8::1'), undefined);
  });

  it('never throws on arbitrary input', () => {
    const p = policy();
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 50 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), (x) => {
        if (typeof x === 'string') p.check(x);
        else p.checkBytes(x);
      }),
      { numRuns: 3000 },
    );
  });
});
