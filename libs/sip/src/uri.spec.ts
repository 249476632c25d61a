import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Uri, SipUri, TelUri, parseUri, formatUri, uriEquals, hostKind, checkUri } from './uri';

function u(s: string): Uri {
  const r = parseUri(s);
  if (!r.ok) assert.fail(`${s}: ${r.error.reason}`);
  return r.value;
}

function sip(s: string): SipUri {
  const x = u(s);
  assert.equal(x.kind, 'sip');
  return x;
}

describe('parseUri: sip and sips', () => {
  it('reads every component', () => {
    const x = sip('sips:alice:secret@atlanta.com:5061;transport=tcp;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
    assert.equal(x.scheme, 'sips');
    assert.equal(x.user, 'alice');
    assert.equal(x.password, 'secret');
    assert.equal(x.host, 'atlanta.com');
    assert.equal(x.port, 5061);
    assert.deepEqual(
      [...x.params],
      [
        ['transport', 'tcp'],
        ['lr', null],
        ['maddr', '239.255.255.1'],
      ],
    );
    assert.deepEqual(
      [...x.headers],
      [
        ['subject', 'project x'],
        ['priority', 'urgent'],
      ],
    );
  });

  it('hosts: IPv4, IPv6 reference, domain', () => {
    assert.equal(hostKind(sip('sip:192.0.2.4').host), 'ipv4');
    const v6 = sip('sip:[2001:db8::10]:5070');
    assert.equal(v6.host, '[2001:db8::10]');
    assert.equal(v6.port, 5070);
    assert.equal(hostKind(v6.host), 'ipv6');
    assert.equal(hostKind(sip('sip:bob@biloxi.com').host), 'domain');
    assert.equal(hostKind(sip('sip:1.2.3.4.5').host), 'domain');
  });

  it('scheme is case-insensitive', () => {
    assert.equal(sip('SIP:alice@atlanta.com').scheme, 'sip');
    assert.equal(sip('SiPs:alice@atlanta.com').scheme, 'sips');
  });

  it('unescapes user, password, parameters and headers, and escapes again when formatting', () => {
    const x = sip('sip:%61lice%20b@atlanta.com;n%61me=v%61lue%3B');
    assert.equal(x.user, 'alice b');
    assert.equal(x.params.get('name'), 'value;');
    assert.equal(formatUri(x), 'sip:alice%20b@atlanta.com;name=value%3B');
    assert.ok(uriEquals(u(formatUri(x)), x));
  });

  it('refuses malformed URIs with BAD_URI', () => {
    for (const bad of [
      '',
      'sip:',
      'sip:@host',
      'sip:user@',
      'sip:host:99999',
      'sip:host:',
      'sip:us er@host',
      'sip:host;=x',
      'sip:host?x',
      'sip:[::1',
      'sip:[]',
      'sip:%zzuser@host',
      '<sip:host>',
      'sip:host>',
      ':opaque',
      '1sip:host',
      'tel:',
      'tel:abc-xyz',
      'http:',
    ]) {
      const r = parseUri(bad);
      assert.equal(r.ok, false, bad);
      assert.equal(!r.ok && r.error.code, 'BAD_URI');
      assert.equal(checkUri(bad), 0, bad);
    }
  });

  it('keeps other schemes opaque', () => {
    const x = u('urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
    assert.equal(x.kind, 'other');
    assert.equal(x.scheme, 'urn');
    assert.equal(formatUri(x), 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
  });
});

describe('tel URIs (RFC 3966)', () => {
  it('global and local numbers with parameters', () => {
    const g = u('tel:+1-201-555-0123;ext=1234') as TelUri;
    assert.equal(g.kind, 'tel');
    assert.equal(g.number, '+1-201-555-0123');
    assert.equal(g.params.get('ext'), '1234');
    const l = u('tel:7042;phone-context=example.com') as TelUri;
    assert.equal(l.number, '7042');
    assert.equal(l.params.get('phone-context'), 'example.com');
    assert.equal(formatUri(l), 'tel:7042;phone-context=example.com');
  });

  it('compare without visual separators, parameters as a set', () => {
    assert.ok(uriEquals(u('tel:+1-201-555-0123'), u('tel:+1(201)5550123')));
    assert.ok(uriEquals(u('tel:863-1234;phone-context=+1-914-555'), u('TEL:8631234;PHONE-CONTEXT=+1-914-555')));
    assert.ok(!uriEquals(u('tel:+12015550123'), u('tel:+12015550124')));
    assert.ok(!uriEquals(u('tel:7042;phone-context=example.com'), u('tel:7042')));
    assert.ok(!uriEquals(u('tel:+12015550123'), u('sip:+12015550123@example.com;user=phone')));
  });
});

describe('uriEquals: RFC 3261 19.1.4', () => {
  const same: Array<[string, string]> = [
    ['sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'],
    ['sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on'],
    [
      'sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com',
      'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com',
    ],
    ['sip:alice@atlanta.com?subject=project%20x&priority=urgent', 'sip:alice@atlanta.com?priority=urgent&subject=project%20x'],
  ];
  const different: Array<[string, string]> = [
    ['SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting'],
    ['sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4'],
    ['sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off'],
    ['sip:alice@atlanta.com', 'sips:alice@atlanta.com'],
    ['sip:alice:pw@atlanta.com', 'sip:alice@atlanta.com'],
    ['sip:alice@atlanta.com;maddr=192.0.2.1', 'sip:alice@atlanta.com'],
  ];
  for (const [a, b] of same)
    it(`${a} == ${b}`, () => {
      assert.ok(uriEquals(u(a), u(b)));
      assert.ok(uriEquals(u(b), u(a)));
    });
  for (const [a, b] of different)
    it(`${a} != ${b}`, () => {
      assert.ok(!uriEquals(u(a), u(b)));
      assert.ok(!uriEquals(u(b), u(a)));
    });
});
