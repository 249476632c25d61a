import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequest, parseMessage, type SipRequest } from '@traverse/sip';
import { TrustedHosts, behindNat, canonicalIp, splitHostPort, stampVia } from './addresses';
import { SourceRateLimiter } from './rate-limiter';

function req(via: string): SipRequest {
  const r = createRequest({ method: 'OPTIONS', uri: 'sip:x@example.com', from: { uri: 'sip:a@example.com' }, to: { uri: 'sip:x@example.com' }, via: { transport: 'UDP', host: 'h', branch: 'z9hG4bKx' } });
  r.removeTopVia();
  r.addVia(via);
  const p = parseMessage(r.toBuffer());
  assert.ok(p.ok);
  return p.value as SipRequest;
}

describe('addresses', () => {
  it('canonicalises IPs', () => {
    assert.equal(canonicalIp('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(canonicalIp('[2001:DB8::1]'), '2001:db8::1');
    assert.equal(canonicalIp('fe80::1%eth0'), 'fe80::1');
  });

  it('splits host and port of trusted-host entries', () => {
    assert.deepEqual(splitHostPort('192.0.2.1:5070'), { host: '192.0.2.1', port: 5070 });
    assert.deepEqual(splitHostPort('[::1]:5060'), { host: '::1', port: 5060 });
    assert.deepEqual(splitHostPort('::1'), { host: '::1' });
    assert.deepEqual(splitHostPort('pbx.example.com'), { host: 'pbx.example.com' });
  });

  it('trusts hosts with or without a port, and resolves names', async () => {
    const t = await TrustedHosts.resolve(['192.0.2.1', '192.0.2.2:5070', 'localhost', 'no-such-host.invalid'], () => undefined);
    assert.equal(t.has('192.0.2.1', 1234), true);
    assert.equal(t.has('192.0.2.2', 5070), true);
    assert.equal(t.has('192.0.2.2', 5060), false);
    assert.equal(t.hasIp('192.0.2.2'), true);
    assert.equal(t.has('127.0.0.1', 5060), true);
    assert.equal(t.has('::ffff:192.0.2.1', 1), true);
    assert.equal(t.hasIp('198.51.100.1'), false);
  });

  it('stamps received when the sent-by host differs, and rport when asked (RFC 3581)', () => {
    const a = req('SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa');
    assert.equal(stampVia(a, '203.0.113.7', 40000), true);
    assert.equal(a.topVia?.received, '203.0.113.7');
    assert.equal(a.topVia?.rport, undefined);
    const b = req('SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKb');
    stampVia(b, '203.0.113.7', 40000);
    assert.equal(b.header('via'), 'SIP/2.0/UDP 10.0.0.5:5060;rport=40000;branch=z9hG4bKb;received=203.0.113.7');
    const c = req('SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bKc');
    assert.equal(stampVia(c, '203.0.113.7', 5060), false);
    const d = req('SIP/2.0/UDP 203.0.113.7;rport;branch=z9hG4bKd');
    stampVia(d, '203.0.113.7', 5060);
    assert.equal(d.topVia?.received, '203.0.113.7', 'received is added with rport even when equal');
  });

  it('tells a client behind NAT by its source', () => {
    assert.equal(behindNat(req('SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa'), '203.0.113.7', 5060), true);
    assert.equal(behindNat(req('SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bKa'), '203.0.113.7', 40000), true);
    assert.equal(behindNat(req('SIP/2.0/UDP 203.0.113.7;branch=z9hG4bKa'), '203.0.113.7', 5060), false);
    assert.equal(behindNat(req('SIP/2.0/TCP 203.0.113.7:5060;branch=z9hG4bKa'), '203.0.113.7', 40000), false);
    assert.equal(behindNat(req('SIP/2.0/UDP ua.example.com;branch=z9hG4bKa'), '203.0.113.7', 5060), false);
  });
});

describe('SourceRateLimiter', () => {
  it('allows a burst, refills at the rate, exempts trusted sources and forgets idle ones', () => {
    let now = 0;
    const l = new SourceRateLimiter({ rate: 10, burst: 3, exempt: (ip) => ip === '192.0.2.9', now: () => now });
    assert.deepEqual(
      [1, 2, 3, 4].map(() => l.allow('192.0.2.1')),
      [true, true, true, false],
    );
    assert.equal(l.allow('192.0.2.2'), true, 'per source');
    now += 100; // one token
    assert.equal(l.allow('192.0.2.1'), true);
    assert.equal(l.allow('192.0.2.1'), false);
    for (let i = 0; i < 100; i++) assert.equal(l.allow('192.0.2.9'), true);
    assert.equal(l.tracked, 2);
    now += 1000;
    assert.equal(l.sweep(), 0);
  });
});
