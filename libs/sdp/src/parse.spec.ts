import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSdp, serializeSdp, serializeSdpToBuffer } from './parse';
import { RFC8866_EXAMPLE, crlf } from './testdata';
import { getDirection, getEffectiveConnection, getMediaDescription, getOrigin, getSessionName, getRtpmaps } from './accessors';


function parsed(text: string) {
  const r = parseSdp(text);
  if (!r.ok) assert.fail(`parse failed: ${r.error.code} ${r.error.reason}`);
  return r.value;
}

describe('parseSdp', () => {
  it('parses the RFC 8866 example into session and media sections', () => {
    const sdp = parsed(RFC8866_EXAMPLE);
    assert.equal(sdp.session.length, 9);
    assert.deepEqual(
      sdp.session.map((l) => l.type),
      ['v', 'o', 's', 'i', 'u', 'e', 'p', 'c', 't'],
    );
    assert.equal(sdp.media.length, 3);
    assert.equal(getSessionName(sdp), 'Call to John Smith');
    const o = getOrigin(sdp);
    assert.deepEqual(o, { username: 'jdoe', sessionId: '3724394400', sessionVersion: 3724394405n, netType: 'IN', addrType: 'IP4', address: '198.51.100.1' });
    assert.deepEqual(getMediaDescription(sdp.media[2]), { media: 'video', port: 51372, proto: 'RTP/AVP', formats: ['99'] });
    assert.deepEqual(getEffectiveConnection(sdp, 0), { netType: 'IN', addrType: 'IP4', address: '198.51.100.1' });
    assert.deepEqual(getEffectiveConnection(sdp, 2), { netType: 'IN', addrType: 'IP6', address: '2001:db8::2' });
    assert.deepEqual(getRtpmaps(sdp.media[2]), [{ payloadType: 99, encodingName: 'h263-1998', clockRate: 90000 }]);
    assert.equal(getDirection(sdp, 0), 'sendrecv');
  });

  it('round-trips the RFC 8866 example byte for byte', () => {
    assert.equal(serializeSdp(parsed(RFC8866_EXAMPLE)), RFC8866_EXAMPLE);
    assert.equal(serializeSdpToBuffer(parsed(RFC8866_EXAMPLE)).toString('utf8'), RFC8866_EXAMPLE);
  });

  it('accepts a Buffer and lone LF line ends, writing CRLF', () => {
    const lf = RFC8866_EXAMPLE.replace(/\r\n/g, '\n');
    const r = parseSdp(Buffer.from(lf));
    assert.ok(r.ok);
    assert.equal(serializeSdp(r.value), RFC8866_EXAMPLE);
  });

  it('keeps unknown line types and attributes, t/r/z/k/b lines, in order', () => {
    const text = crlf([
      'v=0',
      'o=- 1 1 IN IP4 192.0.2.1',
      's= ',
      'b=CT:128',
      't=2873397496 2873404696',
      'r=604800 3600 0 90000',
      'z=2882844526 -1h 2898848070 0',
      'k=prompt',
      'a=recvonly',
      'a=x-vendor-thing:42',
      'y=unknown line type',
      'm=audio 0 RTP/AVP 0',
      'b=AS:64',
      'k=clear:secret',
      'a=whatever',
    ]);
    const sdp = parsed(text);
    assert.equal(serializeSdp(sdp), text);
    assert.equal(getDirection(sdp, 0), 'recvonly'); // session-level direction applies
  });

  it('accepts an empty s= (RFC 8839 example) and trailing empty lines', () => {
    const text = 'v=0\r\no=jdoe 2890844526 2890842807 IN IP4 203.0.113.141\r\ns=\r\nt=0 0\r\n';
    const r = parseSdp(text + '\r\n\r\n');
    assert.ok(r.ok);
    assert.equal(serializeSdp(r.value), text);
  });

  it('accepts a last line without line end', () => {
    const r = parseSdp('v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0');
    assert.ok(r.ok);
    assert.equal(serializeSdp(r.value), 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n');
  });

  const bad: [string, string, string][] = [
    ['empty input', '', 'missing-version'],
    ['no v= first', 'o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\ns=-\r\n', 'missing-version'],
    ['version 1', 'v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n', 'bad-version'],
    ['no o=', 'v=0\r\ns=-\r\nt=0 0\r\n', 'missing-origin'],
    ['o= with 5 fields', 'v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n', 'bad-origin'],
    ['o= version not numeric', 'v=0\r\no=- 1 x IN IP4 192.0.2.1\r\ns=-\r\n', 'bad-origin'],
    ['no s=', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\n', 'missing-session-name'],
    ['not type=value', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nhello\r\n', 'malformed-line'],
    ['two-letter type', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nab=1\r\n', 'malformed-line'],
    ['empty line inside', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n\r\ns=-\r\n', 'malformed-line'],
    ['lone CR inside a line', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=a\rb\r\n', 'invalid-character'],
    ['NUL', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=a\0\r\n', 'invalid-character'],
    ['bad m= port', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n', 'bad-media'],
    ['m= too short', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 4000\r\n', 'bad-media'],
    ['bad c=', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4\r\n', 'bad-connection'],
    ['bad c= ttl', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 224.2.1.1/300\r\n', 'bad-connection'],
  ];
  for (const [name, text, code] of bad) {
    it(`rejects ${name} with ${code}`, () => {
      const r = parseSdp(text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, code);
    });
  }

  it('enforces maxBytes and maxLines', () => {
    const big = RFC8866_EXAMPLE + 'a=x\r\n'.repeat(20000);
    const r1 = parseSdp(big);
    assert.ok(!r1.ok && r1.error.code === 'too-large');
    const r2 = parseSdp(Buffer.from(big));
    assert.ok(!r2.ok && r2.error.code === 'too-large');
    const r3 = parseSdp(RFC8866_EXAMPLE, { maxLines: 10 });
    assert.ok(!r3.ok && r3.error.code === 'too-many-lines');
    assert.ok(parseSdp(RFC8866_EXAMPLE, { maxLines: 14 }).ok);
    const r4 = parseSdp(RFC8866_EXAMPLE, { maxBytes: 100 });
    assert.ok(!r4.ok && r4.error.code === 'too-large');
  });

  it('counts multi-byte UTF-8 against maxBytes', () => {
    const text = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=' + 'é'.repeat(40) + '\r\n';
    assert.ok(parseSdp(text, { maxBytes: text.length + 40 }).ok);
    assert.ok(!parseSdp(text, { maxBytes: text.length + 39 }).ok);
    const r = parseSdp(Buffer.from(text, 'utf8'));
    assert.ok(r.ok);
    assert.equal(serializeSdp(r.value), text);
  });
});
