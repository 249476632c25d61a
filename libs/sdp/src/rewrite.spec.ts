import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSdp, serializeSdp } from './parse';
import {
  addCandidate,
  addRelayCandidates,
  bumpOriginVersion,
  candidatePriority,
  CANDIDATE_TYPE_PREFERENCE,
  relayCandidate,
  relayMedia,
  setDirection,
  setMediaTarget,
  setOriginAddress,
  stripIce,
} from './rewrite';
import { getCandidates, getDirection, getEffectiveConnection, getIceCredentials, getMediaDescription, getOrigin, getRtcp } from './accessors';
import { AUDIO_VIDEO_OFFER, RFC8839_EXAMPLE, RFC8866_EXAMPLE, crlf } from './testdata';
import type { SessionDescription } from './types';

function sdpOf(text: string): SessionDescription {
  const r = parseSdp(text);
  if (!r.ok) assert.fail(r.error.reason);
  return r.value;
}

describe('relayMedia', () => {
  it('rewrites a session-level c= when every stream goes to one relay address', () => {
    const sdp = sdpOf(AUDIO_VIDEO_OFFER);
    const out = relayMedia(sdp, [
      { address: '198.51.100.20', port: 40000 },
      { address: '198.51.100.20', port: 40002 },
    ]);
    const text = serializeSdp(out);
    assert.ok(text.includes('\r\nc=IN IP4 198.51.100.20\r\n'));
    assert.ok(!text.includes('c=IN IP4 10.0.0.5'));
    assert.ok(text.includes('\r\nm=audio 40000 RTP/AVP 0 8 97 101\r\n'));
    assert.ok(text.includes('\r\nm=video 40002 RTP/AVP 96 98\r\n'));
    assert.equal(out.media.every((m) => m.lines.every((l) => l.type !== 'c')), true); // no media-level c= added
    assert.deepEqual(getRtcp(out.media[0]), { port: 40001 }); // a=rtcp follows the new port
    // untouched lines keep their text
    assert.equal(out.media[0].lines.length, sdp.media[0].lines.length);
    assert.equal(serializeSdp(sdp), AUDIO_VIDEO_OFFER); // input not mutated
  });

  it('adds a media-level c= when streams go to different addresses', () => {
    const sdp = sdpOf(AUDIO_VIDEO_OFFER);
    const out = relayMedia(sdp, [{ address: '198.51.100.20', port: 40000 }, undefined]);
    assert.deepEqual(getEffectiveConnection(out, 0), { netType: 'IN', addrType: 'IP4', address: '198.51.100.20' });
    assert.deepEqual(getEffectiveConnection(out, 1), { netType: 'IN', addrType: 'IP4', address: '10.0.0.5' }); // session c= still serves video
    assert.equal(out.media[0].lines[1].type, 'c'); // right after m= (order m, i, c, b, k, a)
    assert.equal(getMediaDescription(out.media[1])?.port, 51372);
  });

  it('puts the media-level c= after i= and switches the address type to IP6', () => {
    const text = crlf(['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0', 'm=audio 4000 RTP/AVP 0', 'i=voice', 'b=AS:64', 'a=rtcp:4001 IN IP4 192.0.2.1', 'm=audio 5000 RTP/AVP 0']);
    const out = relayMedia(sdpOf(text), [{ address: '2001:db8::7', port: 30000, rtcpPort: 30011 }]);
    assert.deepEqual(
      out.media[0].lines.map((l) => `${l.type}=${l.value}`),
      ['m=audio 30000 RTP/AVP 0', 'i=voice', 'c=IN IP6 2001:db8::7', 'b=AS:64', 'a=rtcp:30011 IN IP6 2001:db8::7'],
    );
  });

  it('rewrites media-level c= lines of the RFC 8866 example (IPv6 video), and the unused session c=', () => {
    const sdp = sdpOf(RFC8866_EXAMPLE);
    const t = { address: '203.0.113.9', port: 20000 };
    const out = relayMedia(sdp, [t, { ...t, port: 20002 }, { ...t, port: 20004 }]);
    const text = serializeSdp(out);
    assert.ok(!text.includes('2001:db8::2'));
    assert.ok(!text.includes('c=IN IP4 198.51.100.1'));
    assert.deepEqual(getEffectiveConnection(out, 2), { netType: 'IN', addrType: 'IP4', address: '203.0.113.9' });
    assert.equal(getEffectiveConnection(out, 0)?.address, '203.0.113.9');
  });

  it('keeps a rejected stream at port 0 and collapses multicast c= lines', () => {
    const text = crlf(['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 't=0 0', 'm=audio 0 RTP/AVP 0', 'c=IN IP4 233.252.0.1/127', 'c=IN IP4 233.252.0.2/127', 'm=video 4000/2 RTP/AVP 31', 'c=IN IP4 192.0.2.1']);
    const out = relayMedia(sdpOf(text), [
      { address: '203.0.113.9', port: 20000 },
      { address: '203.0.113.9', port: 20002 },
    ]);
    assert.deepEqual(
      out.media.map((m) => m.lines.map((l) => `${l.type}=${l.value}`)),
      [
        ['m=audio 0 RTP/AVP 0', 'c=IN IP4 203.0.113.9'],
        ['m=video 20002/2 RTP/AVP 31', 'c=IN IP4 203.0.113.9'],
      ],
    );
  });

  it('adds a=rtcp when the relay RTCP port is not port + 1, and uses port with rtcp-mux', () => {
    const sdp = sdpOf(AUDIO_VIDEO_OFFER);
    const out = relayMedia(sdp, [undefined, { address: '198.51.100.20', port: 40002, rtcpPort: 40010 }]);
    assert.deepEqual(getRtcp(out.media[1]), { port: 40010 });
    const muxed = relayMedia(sdp, [undefined, { address: '198.51.100.20', port: 40002 }]);
    assert.equal(getRtcp(muxed.media[1]), undefined);
    const text = crlf(['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0', 'm=audio 4000 RTP/AVP 0', 'a=rtcp-mux', 'a=rtcp:4000']);
    assert.deepEqual(getRtcp(setMediaTarget(sdpOf(text), 0, { address: '203.0.113.1', port: 9000 }).media[0]), { port: 9000 });
  });

  it('keeps a stream held with c=0.0.0.0 (RFC 3264 section 8.4) on hold', () => {
    const text = crlf(['v=0', 'o=- 1 2 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 0.0.0.0', 't=0 0', 'm=audio 4000 RTP/AVP 0', 'a=rtcp:4001 IN IP4 0.0.0.0', 'm=video 0 RTP/AVP 31', 'c=IN IP6 ::']);
    const out = relayMedia(sdpOf(text), [
      { address: '203.0.113.9', port: 20000 },
      { address: '203.0.113.9', port: 20002 },
    ]);
    assert.equal(
      serializeSdp(out),
      crlf(['v=0', 'o=- 1 2 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 0.0.0.0', 't=0 0', 'm=audio 20000 RTP/AVP 0', 'a=rtcp:20001 IN IP4 0.0.0.0', 'm=video 0 RTP/AVP 31', 'c=IN IP6 ::']),
    );
  });

  it('ignores an out-of-range index', () => {
    const sdp = sdpOf(AUDIO_VIDEO_OFFER);
    assert.equal(setMediaTarget(sdp, 7, { address: '203.0.113.1', port: 1 }), sdp);
  });
});

describe('ICE rewrites', () => {
  it('strips candidates and ICE attributes at every level, keeping the rest', () => {
    const out = stripIce(sdpOf(RFC8839_EXAMPLE));
    const text = serializeSdp(out);
    assert.equal(
      text,
      crlf(['v=0', 'o=jdoe 2890844526 2890842807 IN IP4 203.0.113.141', 's=', 'c=IN IP4 192.0.2.3', 't=0 0', 'm=audio 45664 RTP/AVP 0', 'b=RS:0', 'b=RR:0', 'a=rtpmap:0 PCMU/8000']),
    );
    assert.equal(getIceCredentials(out, 0), undefined);
    const av = stripIce(sdpOf(AUDIO_VIDEO_OFFER));
    assert.ok(!serializeSdp(av).includes('candidate'));
    assert.ok(serializeSdp(av).includes('a=fingerprint:sha-256'));
  });

  it('computes RFC 8445 priorities (matches the RFC 8839 example values)', () => {
    assert.equal(candidatePriority(CANDIDATE_TYPE_PREFERENCE.host, 65535, 1), 2130706431);
    assert.equal(candidatePriority(CANDIDATE_TYPE_PREFERENCE.srflx, 65535, 1), 1694498815);
    assert.equal(candidatePriority(CANDIDATE_TYPE_PREFERENCE.relay, 65535, 1), 16777215);
    assert.equal(candidatePriority(CANDIDATE_TYPE_PREFERENCE.relay, 65535, 2), 16777214);
    assert.equal(candidatePriority(CANDIDATE_TYPE_PREFERENCE.relay, 0, 1), 255);
  });

  it('adds relay candidates after the existing ones, before end-of-candidates, for RTP and RTCP', () => {
    const sdp = sdpOf(AUDIO_VIDEO_OFFER);
    const spec = { address: '198.51.100.20', port: 40000, relatedAddress: '203.0.113.7', relatedPort: 61000 };
    const out = addRelayCandidates(sdp, 0, spec);
    const cands = getCandidates(out.media[0]);
    assert.equal(cands.length, 5);
    assert.deepEqual(cands[3], {
      foundation: 'r9ba21d41',
      component: 1,
      transport: 'UDP',
      priority: 16777215,
      address: '198.51.100.20',
      port: 40000,
      type: 'relay',
      relatedAddress: '203.0.113.7',
      relatedPort: 61000,
      extensions: [],
    });
    assert.equal(cands[4]?.component, 2);
    assert.equal(cands[4]?.port, 40001);
    assert.equal(cands[4]?.relatedPort, 61001);
    const lines = out.media[0].lines;
    assert.equal(lines[lines.length - 2].value, 'candidate:r9ba21d41 1 UDP 16777215 198.51.100.20 40000 typ relay raddr 203.0.113.7 rport 61000');
    // video has rtcp-mux: one candidate, before a=end-of-candidates
    const v = addRelayCandidates(sdp, 1, { ...spec, port: 40002 }).media[1].lines;
    assert.equal(v[v.length - 1].value, 'end-of-candidates');
    assert.ok(v[v.length - 2].value.includes('typ relay'));
    assert.equal(getCandidates({ lines: v }).length, 2);
  });

  it('adds a candidate at the end of a section without candidates', () => {
    const sdp = stripIce(sdpOf(RFC8839_EXAMPLE));
    const c = relayCandidate({ address: '2001:db8::9', port: 3478, relatedAddress: '192.0.2.3', relatedPort: 45664, component: 1, foundation: 'x1', localPreference: 100 });
    const out = addCandidate(sdp, 0, c);
    const last = out.media[0].lines.at(-1)!;
    assert.equal(last.value, 'candidate:x1 1 UDP 25855 2001:db8::9 3478 typ relay raddr 192.0.2.3 rport 45664');
  });
});

describe('origin and direction', () => {
  it('bumps the session version beyond 2^53 exactly', () => {
    const sdp = sdpOf(RFC8866_EXAMPLE);
    assert.equal(getOrigin(bumpOriginVersion(sdp))?.sessionVersion, 3724394406n);
    const big = sdpOf(crlf(['v=0', 'o=- 1 18446744073709551615 IN IP4 192.0.2.1', 's=-']));
    assert.equal(serializeSdp(bumpOriginVersion(big)).split('\r\n')[1], 'o=- 1 18446744073709551616 IN IP4 192.0.2.1');
  });
  it('sets the origin address with its type', () => {
    const out = setOriginAddress(sdpOf(RFC8866_EXAMPLE), '2001:db8::1');
    assert.equal(serializeSdp(out).split('\r\n')[1], 'o=jdoe 3724394400 3724394405 IN IP6 2001:db8::1');
  });
  it('replaces or adds a media-level direction', () => {
    const sdp = sdpOf(AUDIO_VIDEO_OFFER);
    const held = setDirection(sdp, 0, 'sendonly');
    assert.equal(getDirection(held, 0), 'sendonly');
    assert.equal(held.media[0].lines.filter((l) => l.value === 'sendonly').length, 1);
    assert.equal(held.media[0].lines.length, sdp.media[0].lines.length);
    const rfc = setDirection(sdpOf(RFC8866_EXAMPLE), 1, 'inactive');
    assert.equal(getDirection(rfc, 1), 'inactive');
    assert.equal(getDirection(rfc, 0), 'sendrecv');
  });
});
