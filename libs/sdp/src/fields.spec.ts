import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatCandidate,
  formatConnection,
  formatMediaDescription,
  formatRtcp,
  formatRtpmap,
  parseCandidate,
  parseConnection,
  parseFingerprint,
  parseFmtp,
  parseMediaDescription,
  parseRtcp,
  parseRtpmap,
  parseSetup,
} from './fields';
import { addressTypeOf, isIPv4, isIPv6 } from './address';
import { parseSdp } from './parse';
import { getCandidates, getFingerprints, getFmtps, getIceCredentials, getRtcp, getSetup, hasRtcpMux, getDirection, getAttributes } from './accessors';
import { AUDIO_VIDEO_OFFER, RFC8839_EXAMPLE } from './testdata';

describe('connection (c=)', () => {
  it('parses RFC 8866 unicast and multicast forms and writes them back', () => {
    const cases: [string, object][] = [
      ['IN IP4 198.51.100.1', { netType: 'IN', addrType: 'IP4', address: '198.51.100.1' }],
      ['IN IP4 233.252.0.1/127', { netType: 'IN', addrType: 'IP4', address: '233.252.0.1', ttl: 127 }],
      ['IN IP4 233.252.0.1/127/3', { netType: 'IN', addrType: 'IP4', address: '233.252.0.1', ttl: 127, numberOfAddresses: 3 }],
      ['IN IP6 ff00::db8:0:101/3', { netType: 'IN', addrType: 'IP6', address: 'ff00::db8:0:101', numberOfAddresses: 3 }],
      ['IN IP6 2001:db8::2', { netType: 'IN', addrType: 'IP6', address: '2001:db8::2' }],
    ];
    for (const [text, want] of cases) {
      const c = parseConnection(text);
      assert.deepEqual(c, want);
      assert.equal(formatConnection(c), text);
    }
    assert.equal(parseConnection('IN IP6 ff00::1/3/4'), undefined);
    assert.equal(parseConnection('IN IP4 224.2.1.1/x'), undefined);
    assert.equal(parseConnection('IN IP4'), undefined);
  });
});

describe('media description (m=)', () => {
  it('parses port, number of ports, proto and formats', () => {
    assert.deepEqual(parseMediaDescription('video 49170/2 RTP/AVP 31'), { media: 'video', port: 49170, numberOfPorts: 2, proto: 'RTP/AVP', formats: ['31'] });
    assert.equal(formatMediaDescription(parseMediaDescription('video 49170/2 RTP/AVP 31')!), 'video 49170/2 RTP/AVP 31');
    assert.equal(parseMediaDescription('audio 65536 RTP/AVP 0'), undefined);
    assert.equal(parseMediaDescription('audio 1/0 RTP/AVP 0'), undefined);
    assert.equal(parseMediaDescription('audio -1 RTP/AVP 0'), undefined);
  });
});

describe('rtpmap and fmtp', () => {
  it('parses rtpmap with and without encoding parameters', () => {
    assert.deepEqual(parseRtpmap('97 opus/48000/2'), { payloadType: 97, encodingName: 'opus', clockRate: 48000, encodingParameters: '2' });
    assert.deepEqual(parseRtpmap('0 PCMU/8000'), { payloadType: 0, encodingName: 'PCMU', clockRate: 8000 });
    assert.equal(formatRtpmap(parseRtpmap('97 opus/48000/2')!), '97 opus/48000/2');
    assert.equal(parseRtpmap('128 x/8000'), undefined);
    assert.equal(parseRtpmap('0 PCMU'), undefined);
    assert.equal(parseRtpmap('0 PCMU/8000/'), undefined);
  });
  it('parses fmtp parameters into pairs', () => {
    assert.deepEqual(parseFmtp('98 profile-level-id=42e01f;packetization-mode=1'), {
      format: '98',
      parameters: 'profile-level-id=42e01f;packetization-mode=1',
      pairs: [
        ['profile-level-id', '42e01f'],
        ['packetization-mode', '1'],
      ],
    });
    assert.deepEqual(parseFmtp('101 0-16')?.pairs, [['0-16', '']]);
    assert.equal(parseFmtp('101'), undefined);
  });
});

describe('rtcp (RFC 3605) and rtcp-mux (RFC 5761)', () => {
  it('parses the RFC 3605 examples', () => {
    assert.deepEqual(parseRtcp('53020'), { port: 53020 });
    assert.deepEqual(parseRtcp('53020 IN IP4 126.16.64.4'), { port: 53020, netType: 'IN', addrType: 'IP4', address: '126.16.64.4' });
    assert.deepEqual(parseRtcp('53020 IN IP6 2001:2345:6789:ABCD:EF01:2345:6789:ABCD'), {
      port: 53020,
      netType: 'IN',
      addrType: 'IP6',
      address: '2001:2345:6789:ABCD:EF01:2345:6789:ABCD',
    });
    assert.equal(formatRtcp({ port: 53020, netType: 'IN', addrType: 'IP4', address: '126.16.64.4' }), '53020 IN IP4 126.16.64.4');
    assert.equal(parseRtcp('53020 IN IP4'), undefined);
    assert.equal(parseRtcp('abc'), undefined);
  });
  it('reads a=rtcp and a=rtcp-mux from media sections', () => {
    const r = parseSdp(AUDIO_VIDEO_OFFER);
    assert.ok(r.ok);
    assert.deepEqual(getRtcp(r.value.media[0]), { port: 49171 });
    assert.equal(hasRtcpMux(r.value.media[0]), false);
    assert.equal(hasRtcpMux(r.value.media[1]), true);
    assert.equal(getFmtps(r.value.media[0]).length, 2);
  });
});

describe('ICE (RFC 8839)', () => {
  it('parses the RFC 8839 host and srflx candidates', () => {
    assert.deepEqual(parseCandidate('1 1 UDP 2130706431 203.0.113.141 8998 typ host'), {
      foundation: '1',
      component: 1,
      transport: 'UDP',
      priority: 2130706431,
      address: '203.0.113.141',
      port: 8998,
      type: 'host',
      extensions: [],
    });
    const srflx = 'a=candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 203.0.113.141 rport 8998'.slice(12);
    assert.deepEqual(parseCandidate(srflx), {
      foundation: '2',
      component: 1,
      transport: 'UDP',
      priority: 1694498815,
      address: '192.0.2.3',
      port: 45664,
      type: 'srflx',
      relatedAddress: '203.0.113.141',
      relatedPort: 8998,
      extensions: [],
    });
    assert.equal(formatCandidate(parseCandidate(srflx)!), srflx);
  });
  it('keeps extension attributes and rejects malformed candidates', () => {
    const text = '842163049 1 udp 1677729535 198.51.100.9 46154 typ srflx raddr 10.0.0.1 rport 46154 generation 0 network-cost 999';
    const c = parseCandidate(text);
    assert.deepEqual(c?.extensions, [
      ['generation', '0'],
      ['network-cost', '999'],
    ]);
    assert.equal(formatCandidate(c), text);
    assert.equal(parseCandidate('1 1 UDP 2130706431 203.0.113.141 8998 host'), undefined); // no 'typ'
    assert.equal(parseCandidate('1 0 UDP 1 203.0.113.141 8998 typ host'), undefined); // component 0
    assert.equal(parseCandidate('1 1 UDP 4294967296 203.0.113.141 8998 typ host'), undefined); // priority > 2^32-1
    assert.equal(parseCandidate('1 1 UDP 1 203.0.113.141 8998 typ host generation'), undefined); // dangling name
    assert.equal(parseCandidate('f@o 1 UDP 1 203.0.113.141 8998 typ host'), undefined); // foundation chars
  });
  it('reads session-level ICE credentials and media candidates', () => {
    const r = parseSdp(RFC8839_EXAMPLE);
    assert.ok(r.ok);
    assert.deepEqual(getIceCredentials(r.value, 0), { ufrag: '8hhY', pwd: 'asd88fgpdd777uzjYhagZg' });
    assert.deepEqual(
      getCandidates(r.value.media[0]).map((c) => c.type),
      ['host', 'srflx'],
    );
    assert.equal(getIceCredentials(r.value, 5), undefined);
  });
});

describe('fingerprint (RFC 8122) and setup (RFC 4145)', () => {
  it('parses the RFC 8122 fingerprint example', () => {
    assert.deepEqual(parseFingerprint('SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB'), {
      hashFunction: 'SHA-1',
      fingerprint: '4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB',
    });
    assert.equal(parseFingerprint('SHA-1 4A:AD:B'), undefined);
    assert.equal(parseFingerprint('SHA-1'), undefined);
  });
  it('parses the four setup values only', () => {
    for (const v of ['active', 'passive', 'actpass', 'holdconn']) assert.equal(parseSetup(v), v);
    assert.equal(parseSetup('both'), undefined);
  });
  it('applies session-level fingerprint and media-level setup', () => {
    const r = parseSdp(AUDIO_VIDEO_OFFER);
    assert.ok(r.ok);
    assert.equal(getFingerprints(r.value, 1)[0]?.hashFunction, 'sha-256');
    assert.equal(getSetup(r.value, 0), 'actpass');
    assert.equal(getDirection(r.value, 1), 'sendrecv');
    assert.deepEqual(getAttributes(r.value.media[1].lines, 'rtcp-mux'), [{ name: 'rtcp-mux' }]);
  });
});

describe('address types', () => {
  it('recognises IPv4 and IPv6 literals', () => {
    for (const a of ['0.0.0.0', '192.0.2.1', '255.255.255.255']) assert.ok(isIPv4(a), a);
    for (const a of ['256.1.1.1', '1.2.3', '01.2.3.4x', '']) assert.ok(!isIPv4(a), a);
    for (const a of ['::', '::1', '2001:db8::2', 'fe80::1:2:3:4:5:6', '1:2:3:4:5:6:7:8', '::ffff:192.0.2.1', '2001:db8::']) assert.ok(isIPv6(a), a);
    for (const a of ['1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', ':', '1:2:3:4:5:6:7', '::ffff:300.1.1.1', '192.0.2.1']) assert.ok(!isIPv6(a), a);
    assert.equal(addressTypeOf('2001:db8::1'), 'IP6');
    assert.equal(addressTypeOf('192.0.2.1'), 'IP4');
    assert.equal(addressTypeOf('relay.example.net'), 'IP4');
  });
});
