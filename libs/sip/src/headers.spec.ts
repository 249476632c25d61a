import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  splitList,
  parseVia,
  formatVia,
  makeVia,
  headerKey,
  canonicalHeaderName,
  parseCSeq,
  parseContactList,
  parseTokenList,
  parseMediaType,
  checkVia,
  checkViaList,
  lookupHeaderName,
} from './headers';
import { parseNameAddr, formatNameAddr, checkNameAddr } from './name-addr';
import { SipUri } from './uri';

describe('header names', () => {
  it('expands compact forms and ignores case', () => {
    const pairs: Array<[string, string]> = [
      ['i', 'call-id'],
      ['m', 'contact'],
      ['e', 'content-encoding'],
      ['l', 'content-length'],
      ['c', 'content-type'],
      ['f', 'from'],
      ['t', 'to'],
      ['v', 'via'],
      ['s', 'subject'],
      ['k', 'supported'],
      ['o', 'event'],
      ['u', 'allow-events'],
      ['r', 'refer-to'],
      ['x', 'session-expires'],
      ['y', 'identity'],
      ['b', 'referred-by'],
      ['V', 'via'],
      ['CALL-ID', 'call-id'],
      ['X-Custom', 'x-custom'],
    ];
    for (const [n, k] of pairs) assert.equal(headerKey(n), k, n);
    assert.equal(canonicalHeaderName('call-id'), 'Call-ID');
    assert.equal(canonicalHeaderName('i'), 'Call-ID');
    assert.equal(canonicalHeaderName('www-authenticate'), 'WWW-Authenticate');
    assert.equal(canonicalHeaderName('X-Foo'), 'X-Foo');
  });

  it('lookupHeaderName agrees with headerKey', () => {
    for (const n of [
      'Via',
      'via',
      'VIA',
      'v',
      'Call-ID',
      'call-id',
      'Call-Id',
      'CSeq',
      'cseq',
      'Max-Forwards',
      'MAX-FORWARDS',
      'l',
      'Content-Length',
    ]) {
      assert.equal(lookupHeaderName(n, 0, n.length)?.key, headerKey(n), n);
      assert.equal(lookupHeaderName(n, 0, n.length)?.name, n);
    }
    assert.equal(lookupHeaderName('X-Via', 0, 5), undefined);
    assert.equal(lookupHeaderName('V-a', 0, 3), undefined);
  });
});

describe('splitList', () => {
  it('splits on commas outside quotes and angle brackets', () => {
    assert.deepEqual(splitList('"Doe, John" <sip:a@b;x=1,2>;q=0.5 , <sip:c@d>'), ['"Doe, John" <sip:a@b;x=1,2>;q=0.5', '<sip:c@d>']);
    assert.deepEqual(splitList('INVITE, ACK,BYE ,,'), ['INVITE', 'ACK', 'BYE']);
    assert.deepEqual(splitList('"a \\" , b", c'), ['"a \\" , b"', 'c']);
    assert.deepEqual(splitList(''), []);
  });
});

describe('Via', () => {
  it('reads sent-protocol, sent-by and the named parameters', () => {
    const r = parseVia('SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK776;received=192.0.2.1;rport=5061;maddr=224.2.0.1;ttl=16;x');
    assert.ok(r.ok);
    const v = r.value;
    assert.equal(v.protocol, 'SIP');
    assert.equal(v.version, '2.0');
    assert.equal(v.transport, 'UDP');
    assert.equal(v.host, '[2001:db8::9]');
    assert.equal(v.port, 5060);
    assert.equal(v.branch, 'z9hG4bK776');
    assert.equal(v.received, '192.0.2.1');
    assert.equal(v.rport, 5061);
    assert.equal(v.maddr, '224.2.0.1');
    assert.equal(v.ttl, 16);
    assert.equal(v.params.get('x'), null);
  });

  it('rport without a value is null; transport is upper-cased', () => {
    const r = parseVia('sip/2.0/ws abc.invalid;rport;branch=z9hG4bKx');
    assert.ok(r.ok);
    assert.equal(r.value.rport, null);
    assert.equal(r.value.transport, 'WS');
    assert.equal(r.value.port, undefined);
  });

  it('formats what it parses', () => {
    const v = makeVia({ transport: 'tcp', host: 'p.example.com', port: 5060, branch: 'z9hG4bKabc', rport: true });
    assert.equal(formatVia(v), 'SIP/2.0/TCP p.example.com:5060;branch=z9hG4bKabc;rport');
    const back = parseVia(formatVia(v));
    assert.ok(back.ok);
    assert.deepEqual(back.value, v);
  });

  it('refuses malformed values', () => {
    for (const bad of [
      '',
      'SIP/2.0',
      'SIP/2.0/UDP',
      'SIP/2.0/UDP ',
      'SIP 2.0/UDP h',
      'SIP/2.0/UDP h:99999',
      'SIP/2.0/UDP h;',
      'SIP/2.0/UDP h;;',
      'SIP/2.0/UDP [::1',
      'SIP/2.0/UDP h x',
    ]) {
      assert.equal(parseVia(bad).ok, false, bad);
      assert.notEqual(checkVia(bad), undefined, bad);
    }
    assert.equal(checkViaList('SIP/2.0/UDP a, SIP/2.0/TCP b:5060;branch=x'), undefined);
    assert.notEqual(checkViaList(' , '), undefined);
    assert.notEqual(checkViaList('SIP/2.0/UDP a; , x'), undefined);
  });
});

describe('name-addr', () => {
  it('quoted display name with escapes, URI params vs header params', () => {
    const r = parseNameAddr('"A \\"B\\" C" <sip:a@b;lr>;tag=x;Expires=5');
    assert.ok(r.ok);
    assert.equal(r.value.displayName, 'A "B" C');
    assert.equal((r.value.uri as SipUri).params.get('lr'), null);
    assert.equal(r.value.params.get('tag'), 'x');
    assert.equal(r.value.params.get('expires'), '5');
    assert.equal(formatNameAddr(r.value), '"A \\"B\\" C" <sip:a@b;lr>;tag=x;expires=5');
  });

  it('token display names, no display name, addr-spec', () => {
    const a = parseNameAddr('Bob  Smith <sip:bob@b>');
    assert.ok(a.ok);
    assert.equal(a.value.displayName, 'Bob Smith');
    const b = parseNameAddr('<sip:bob@b>');
    assert.ok(b.ok);
    assert.equal(b.value.displayName, undefined);
    const c = parseNameAddr('sip:bob@b;tag=1');
    assert.ok(c.ok);
    assert.equal(c.value.params.get('tag'), '1');
    assert.equal((c.value.uri as SipUri).params.size, 0);
    const lazy = parseNameAddr('Bob <sip:bob@b:5070>;tag=1', true);
    assert.ok(lazy.ok);
    assert.equal((lazy.value.uri as SipUri).port, 5070);
  });

  it('refuses malformed values, and checkNameAddr agrees', () => {
    for (const bad of [
      '',
      '"unterminated <sip:a@b>',
      'Bell, Alexander <sip:a@b>',
      '< sip:a@b >',
      '<sip:a@b',
      'sip:a@b?x=1',
      '<sip:a@b>;',
      '"x" sip:a@b',
      'no uri here',
    ]) {
      assert.equal(parseNameAddr(bad).ok, false, bad);
      assert.notEqual(checkNameAddr(bad), undefined, bad);
    }
  });
});

describe('CSeq, Contact, token lists, Content-Type', () => {
  it('CSeq', () => {
    assert.deepEqual(parseCSeq('4711 INVITE'), { ok: true, value: { seq: 4711, method: 'INVITE' } });
    assert.deepEqual(parseCSeq('  0009\t INVITE '), { ok: true, value: { seq: 9, method: 'INVITE' } });
    for (const bad of ['', 'INVITE', '1', '1INVITE', '-1 INVITE', '4294967296 INVITE', '1 IN VITE'])
      assert.equal(parseCSeq(bad).ok, false, bad);
  });

  it('Contact list: star, expires, q, +sip.instance, reg-id', () => {
    const star = parseContactList(['*']);
    assert.deepEqual(star, { ok: true, value: { star: true, contacts: [] } });
    assert.equal(parseContactList(['*, <sip:a@b>']).ok, false);
    const r = parseContactList([
      '<sip:a@192.0.2.1;ob>;expires=3600;q=0.7;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1, "X" <sip:b@c>',
      'sip:d@e;expires=0',
    ]);
    assert.ok(r.ok && !r.value.star);
    const [a, b, d] = r.value.contacts;
    assert.equal(a.expires, 3600);
    assert.equal(a.q, 0.7);
    assert.equal(a.instance, '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>');
    assert.equal(a.regId, 1);
    assert.equal(b.displayName, 'X');
    assert.equal(d.expires, 0);
    for (const bad of ['<sip:a@b>;q=1.5', '<sip:a@b>;q=x', '<sip:a@b>;expires=-1', '<sip:a@b>;reg-id=x', '<sip:a@b>;expires=99999999999']) {
      assert.equal(parseContactList([bad]).ok, false, bad);
    }
  });

  it('token lists and media types', () => {
    assert.deepEqual(parseTokenList(['path, outbound', 'gruu']), ['path', 'outbound', 'gruu']);
    const m = parseMediaType('Application/SDP ; charset=utf-8');
    assert.ok(m.ok);
    assert.equal(m.value.type, 'application');
    assert.equal(m.value.subtype, 'sdp');
    assert.equal(m.value.params.get('charset'), 'utf-8');
    assert.equal(parseMediaType('nonsense').ok, false);
  });
});
