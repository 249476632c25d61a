import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSdp, serializeSdp } from './parse';
import { bumpOriginVersion, relayMedia, stripIce } from './rewrite';
import { getCandidates, getDirection, getEffectiveConnection, getFingerprints, getIceCredentials, getMediaDescription, getRtcp, getRtpmaps, getSetup } from './accessors';
import { AUDIO_VIDEO_OFFER } from './testdata';

const valueChar = fc.constantFrom(...'abcXYZ0129 :/.-=_+;@#*'.split(''), 'é', '✓');
const value = fc.array(valueChar, { maxLength: 30 }).map((a) => a.join(''));
const ip4 = fc.tuple(fc.integer({ min: 1, max: 255 }), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const port = fc.nat(65535);
const attrLine = fc.oneof(
  fc.tuple(fc.constantFrom('rtpmap', 'fmtp', 'x-foo', 'candidate', 'ice-ufrag', 'rtcp', 'fingerprint', 'setup'), value).map(([n, v]) => `a=${n}:${v}`),
  fc.constantFrom('a=sendrecv', 'a=sendonly', 'a=recvonly', 'a=inactive', 'a=rtcp-mux', 'a=end-of-candidates'),
  fc.tuple(fc.constantFrom('b', 'i', 'k', 'y', 'Z'), value).map(([t, v]) => `${t}=${v}`),
);
const connection = ip4.map((a) => `c=IN IP4 ${a}`);
const mediaSection = fc
  .tuple(fc.constantFrom('audio', 'video', 'application'), port, fc.array(fc.nat(127), { minLength: 1, maxLength: 4 }), fc.option(connection, { nil: undefined }), fc.array(attrLine, { maxLength: 6 }))
  .map(([media, p, fmts, c, attrs]) => [`m=${media} ${p} RTP/AVP ${fmts.join(' ')}`, ...(c ? [c] : []), ...attrs]);
const wellFormed = fc
  .tuple(value, fc.bigInt({ min: 0n, max: 2n ** 64n }), ip4, fc.option(connection, { nil: undefined }), fc.array(attrLine, { maxLength: 5 }), fc.array(mediaSection, { maxLength: 4 }))
  .map(([name, version, addr, c, attrs, media]) =>
    [`v=0`, `o=- 42 ${version} IN IP4 ${addr}`, `s=${name}`, ...(c ? [c] : []), 't=0 0', ...attrs, ...media.flat()].map((l) => `${l}\r\n`).join(''),
  );

describe('SDP properties', () => {
  it('serialise(parse(x)) === x for well-formed CRLF input', () => {
    fc.assert(
      fc.property(wellFormed, (text) => {
        const r = parseSdp(text);
        assert.ok(r.ok, r.ok ? '' : r.error.reason);
        assert.equal(serializeSdp(r.value), text);
        const lf = parseSdp(text.replace(/\r\n/g, '\n'));
        assert.ok(lf.ok);
        assert.equal(serializeSdp(lf.value), text);
      }),
      { numRuns: 500 },
    );
  });

  it('rewrites keep the result parseable and point every stream at the relay', () => {
    fc.assert(
      fc.property(wellFormed, ip4, port, (text, relay, p) => {
        const r = parseSdp(text);
        assert.ok(r.ok);
        const out = bumpOriginVersion(stripIce(relayMedia(r.value, r.value.media.map((_, i) => ({ address: relay, port: (p + 2 * i) % 65536 })))));
        const again = parseSdp(serializeSdp(out));
        assert.ok(again.ok, again.ok ? '' : again.error.reason);
        out.media.forEach((m, i) => {
          const c = getEffectiveConnection(out, i);
          assert.equal(c?.address, relay);
          const before = getMediaDescription(r.value.media[i])!.port;
          assert.equal(getMediaDescription(m)?.port, before === 0 ? 0 : (p + 2 * i) % 65536);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('no input throws or hangs (parser and accessors)', () => {
    const lines = fc.array(fc.oneof(fc.string({ maxLength: 40 }), attrLine, connection, fc.constantFrom('v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 'm=audio 1 RTP/AVP 0')), { maxLength: 30 });
    const input = fc.oneof(
      fc.string({ maxLength: 400 }),
      fc.uint8Array({ maxLength: 400 }),
      fc.tuple(lines, fc.constantFrom('\r\n', '\n', '\r')).map(([l, sep]) => l.join(sep)),
      lines.map((l) => ['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', ...l].join('\r\n')),
    );
    fc.assert(
      fc.property(input, (x) => {
        const r = parseSdp(x, { maxLines: 64 });
        if (!r.ok) {
          assert.equal(typeof r.error.code, 'string');
          return;
        }
        serializeSdp(r.value);
        r.value.media.forEach((m, i) => {
          getRtpmaps(m);
          getCandidates(m);
          getRtcp(m);
          getDirection(r.value, i);
          getSetup(r.value, i);
          getFingerprints(r.value, i);
          getIceCredentials(r.value, i);
        });
        relayMedia(r.value, r.value.media.map(() => ({ address: '2001:db8::1', port: 1000 })));
      }),
      { numRuns: 2000 },
    );
  });

  it('a large hostile body is refused by its size, and a flood of lines by their count', () => {
    const r = parseSdp('a=' + 'x'.repeat(10_000_000));
    assert.ok(!r.ok && r.error.code === 'too-large');
    const many = parseSdp(AUDIO_VIDEO_OFFER + 'a=x\r\n'.repeat(10_000));
    assert.ok(!many.ok && many.error.code === 'too-many-lines');
  });
});
