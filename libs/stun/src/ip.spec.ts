import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SocketAddress, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { canonicalIp, formatIPv6, parseIPv4, parseIPv4Loose, parseIPv6, parseIp } from './index';

describe('IP parsing and formatting', () => {
  it('formats IPv6 exactly as Node prints rinfo.address (libuv inet_ntop)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }),
        (words) => {
          const b = new Uint8Array(16);
          words.forEach((w, i) => {
            b[2 * i] = w >> 8;
            b[2 * i + 1] = w & 0xff;
          });
          const full = words.map((w) => w.toString(16)).join(':');
          const node = new SocketAddress({ address: full, family: 'ipv6' }).address;
          assert.equal(formatIPv6(b), node);
          assert.deepEqual(parseIPv6(node), b);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('parses what it formats, and rejects what Node rejects', () => {
    for (const bad of [
      '',
      ':',
      ':::',
      '1:::2',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      'g::1',
      '::1:',
      '1.2.3.4',
      '::1.2.3',
      '::256.1.1.1',
      '1:2:3:4:5:6:7:8::',
      'fe80::1%eth0',
    ]) {
      assert.equal(parseIPv6(bad), undefined, bad);
      assert.equal(isIPv6(bad) && !bad.includes('%'), false, `node accepts ${bad}`);
    }
    for (const good of ['::', '::1', '1::', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', 'FE80::A'])
      assert.ok(parseIPv6(good), good);
  });

  it('strict IPv4 refuses short and octal forms; loose IPv4 canonicalises every inet_aton spelling', () => {
    assert.deepEqual(parseIPv4('127.0.0.1'), Uint8Array.from([127, 0, 0, 1]));
    for (const s of ['127.1', '0177.0.0.1', '127.0.0.01', '1.2.3', '256.0.0.1', '1.2.3.4.5', '']) assert.equal(parseIPv4(s), undefined, s);
    for (const s of ['127.0.0.1', '127.1', '127.0.1', '0x7f.0.0.1', '0x7f000001', '2130706433', '017700000001', '0177.0.0.1', '0x7F.1'])
      assert.equal(canonicalIp(s), '127.0.0.1', s);
    for (const s of ['0x100.0.0.1', '4294967296', '1.2.3.256', '08.1.1.1', '1..2', 'a.b.c.d', '1.2.3.4.'])
      assert.equal(parseIPv4Loose(s), undefined, s);
    assert.equal(canonicalIp('[::FFFF:7F00:1]'), '::ffff:127.0.0.1');
    assert.equal(parseIp('not an ip').ok, false);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        parseIp(s);
        canonicalIp(s);
      }),
      { numRuns: 3000 },
    );
  });
});
