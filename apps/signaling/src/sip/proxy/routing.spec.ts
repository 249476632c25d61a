// Pure routing steps: flow tokens, Record-Route values, loop hashes, Route pre-processing, best response.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequest, createResponse, parseMessage, type SipRequest, type SipResponse } from '@traverse/sip';
import { chooseBest, mergeChallenges } from './best-response';
import { LocalAddresses } from './local-addresses';
import { decodeFlowToken, encodeFlowToken, flowTokenMac, flowTokenVerifies, loopHash, preprocessRoutes, recordRouteValues, removeOwnCredentials } from './routing';
import { literalHop, uriTransport } from './target-resolver';

function req(o: { uri?: string; route?: string[]; headers?: Array<[string, string]> } = {}): SipRequest {
  const r = createRequest({
    method: 'INVITE',
    uri: o.uri ?? 'sip:bob@example.com',
    from: { uri: 'sip:alice@example.com', tag: 'a' },
    to: { uri: 'sip:bob@example.com' },
    via: { transport: 'UDP', host: '198.51.100.7', port: 5062 },
    callId: 'c1',
    ...(o.route ? { route: o.route } : {}),
    ...(o.headers ? { headers: o.headers } : {}),
  });
  const p = parseMessage(r.toBuffer());
  assert.ok(p.ok);
  return p.value as SipRequest;
}

function res(status: number, headers: Array<[string, string]> = []): SipResponse {
  return createResponse(req(), status, { headers });
}

describe('flow tokens', () => {
  it('round-trip IPv4 and IPv6 flows and refuse anything else', () => {
    for (const f of [
      { transport: 'UDP' as const, address: '203.0.113.7', port: 40000, strict: true },
      { transport: 'TCP' as const, address: '2001:db8::7', port: 5060, strict: false },
      { transport: 'WSS' as const, address: '198.51.100.1', port: 443, strict: true },
    ])
      assert.deepEqual(decodeFlowToken(encodeFlowToken(f)), f);
    const secret = Buffer.from('k');
    const f = { transport: 'UDP' as const, address: '203.0.113.7', port: 40000, strict: true };
    const signed = decodeFlowToken(`${encodeFlowToken(f)}~${flowTokenMac(f, secret)}`);
    assert.ok(signed && flowTokenVerifies(signed, secret), 'a signed token verifies');
    assert.equal(flowTokenVerifies(signed, Buffer.from('other')), false);
    assert.equal(flowTokenVerifies({ ...signed, port: 40001 }, secret), false, 'the MAC covers the flow');
    assert.equal(flowTokenVerifies(f, secret), false, 'an unsigned token does not');
    for (const bad of ['', 'udp~1.2.3.4~5060~s~short', 'udp~1.2.3.4~5060', 'sctp~1.2.3.4~5060~s', 'udp~host.example~5060~s', 'udp~1.2.3.4~0~s', 'udp~1.2.3.4~70000~s', 'udp~~5060~s']) assert.equal(decodeFlowToken(bad), undefined, bad);
  });
});

describe('Record-Route values', () => {
  it('is one value when both sides are reached alike, two (callee-facing on top) when the transport differs', () => {
    const up = { host: '192.0.2.1', port: 5060, transport: 'UDP' as const };
    assert.deepEqual(recordRouteValues(up, up, { ftag: 'x' }), ['<sip:192.0.2.1:5060;lr;ftag=x>']);
    const two = recordRouteValues(up, { host: '192.0.2.1', port: 5061, transport: 'TLS' }, { ftag: 'x', down: { transport: 'TLS', address: '203.0.113.5', port: 40000, strict: false } });
    assert.deepEqual(two, ['<sip:192.0.2.1:5060;lr;ftag=x;tvd=tls~203.0.113.5~40000~r>', '<sip:192.0.2.1:5061;transport=tls;lr;ftag=x;tvd=tls~203.0.113.5~40000~r>']);
    const v6 = recordRouteValues(up, { host: '[2001:db8::1]', port: 5060, transport: 'UDP' }, {});
    assert.equal(v6[1], '<sip:[2001:db8::1]:5060;lr>');
  });
});

describe('loop hash', () => {
  it('depends on the Request-URI, tags, Call-ID, CSeq and Route, not on the Vias', () => {
    const a = req();
    const b = req();
    b.addVia('SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKx');
    assert.equal(loopHash(a), loopHash(b));
    assert.notEqual(loopHash(a), loopHash(req({ uri: 'sip:carol@example.com' })));
    assert.notEqual(loopHash(a), loopHash(req({ route: ['<sip:p.example.com;lr>'] })));
    assert.match(loopHash(a), /^[0-9a-f]{8}$/);
  });
});

describe('Route pre-processing (16.4)', () => {
  const local = new LocalAddresses({ udpPort: 5060, tcpPort: 5060, tlsPort: 5061, publicAddress: '', usePublicAddress: false, domains: ['example.com'], interfaceAddresses: ['192.0.2.1'] });
  const isMe = (u: { host: string; port?: number }) => local.isMe(u.host, u.port);

  it('removes its own Route values from the top only', () => {
    const r = req({ route: ['<sip:192.0.2.1;lr>', '<sip:192.0.2.1:5060;transport=tcp;lr>', '<sip:198.51.100.2;lr>', '<sip:192.0.2.1;lr>'] });
    const pre = preprocessRoutes(r, isMe);
    assert.equal(pre?.popped.length, 2);
    assert.deepEqual(r.listValues('route'), ['<sip:198.51.100.2;lr>', '<sip:192.0.2.1;lr>']);
  });

  it('does not take another port of the same host for itself', () => {
    const r = req({ route: ['<sip:192.0.2.1:5080;lr>'] });
    assert.equal(preprocessRoutes(r, isMe)?.popped.length, 0);
  });

  it('restores the Request-URI from the last Route after a strict router', () => {
    const r = req({ uri: 'sip:192.0.2.1;lr;ftag=a', route: ['<sip:198.51.100.2;lr>', '<sip:bob@203.0.113.5:5070>'] });
    const pre = preprocessRoutes(r, isMe);
    assert.equal(pre?.strictFixed, true);
    assert.equal(r.requestUri, 'sip:bob@203.0.113.5:5070');
    assert.deepEqual(r.listValues('route'), ['<sip:198.51.100.2;lr>']);
  });

  it('refuses a Route that does not parse', () => {
    const r = req({ route: ['<sip:192.0.2.1;lr'] });
    assert.equal(preprocessRoutes(r, isMe), undefined);
  });
});

describe('credentials and URIs', () => {
  it('removes only the Proxy-Authorization of its own realm', () => {
    const r = req({ headers: [['Proxy-Authorization', 'Digest username="a", realm="example.com", nonce="n", uri="sip:x", response="r"'], ['Proxy-Authorization', 'Digest username="a", realm="other.org", nonce="n", uri="sip:x", response="r"']] });
    removeOwnCredentials(r, 'example.com');
    assert.deepEqual(
      r.headerValues('proxy-authorization').map((v) => /realm="([^"]+)"/.exec(v)?.[1]),
      ['other.org'],
    );
  });

  it('takes the transport and port of a URI without DNS', () => {
    const u = (s: string) => {
      const p = req({ uri: s }).uri;
      if (p.kind !== 'sip') throw new Error('not a SIP URI');
      return p;
    };
    assert.deepEqual(literalHop(u('sip:bob@203.0.113.5')), { transport: 'UDP', address: '203.0.113.5', port: 5060 });
    assert.deepEqual(literalHop(u('sips:bob@203.0.113.5')), { transport: 'TLS', address: '203.0.113.5', port: 5061 });
    assert.deepEqual(literalHop(u('sip:bob@[2001:db8::5]:5070;transport=tcp')), { transport: 'TCP', address: '2001:db8::5', port: 5070 });
    assert.equal(literalHop(u('sip:bob@example.com')), undefined);
    assert.equal(uriTransport(u('sip:bob@example.com;transport=sctp')), undefined);
  });
});

describe('best response (16.7 step 6)', () => {
  it('prefers a 6xx, then the lowest class, then 401/407 and busy over the rest of the 4xx', () => {
    assert.equal(chooseBest([res(404), res(486), res(408)])?.status, 486);
    assert.equal(chooseBest([res(500), res(404)])?.status, 404);
    assert.equal(chooseBest([res(302), res(404)])?.status, 302);
    assert.equal(chooseBest([res(300), res(603)])?.status, 603);
    assert.equal(chooseBest([res(487), res(480)])?.status, 480);
    assert.equal(chooseBest([res(503), res(500)])?.status, 500);
    assert.equal(chooseBest([res(404), res(407)])?.status, 407);
    assert.equal(chooseBest([]), undefined);
  });

  it('merges the challenges of every 401 and 407', () => {
    const a = res(407, [['Proxy-Authenticate', 'Digest realm="a", nonce="1"']]);
    const b = res(401, [['WWW-Authenticate', 'Digest realm="b", nonce="2"']]);
    mergeChallenges(a, [a, b, res(404)]);
    assert.deepEqual(a.headerValues('www-authenticate'), ['Digest realm="b", nonce="2"']);
    assert.equal(a.headerValues('proxy-authenticate').length, 1);
  });
});
