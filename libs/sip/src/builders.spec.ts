import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createRequest,
  createResponse,
  createNon2xxAck,
  generateBranch,
  generateTag,
  generateCallId,
  fnv1a,
  reasonPhrase,
  statelessTag,
  unsupportedExtensions,
} from './builders';
import { parseMessage } from './parser';
import { SipRequest, SipResponse } from './message';
import { SipUri } from './uri';

const REQ = [
  'INVITE sip:bob@biloxi.com SIP/2.0',
  'Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1;received=192.0.2.3',
  'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK2',
  'Max-Forwards: 69',
  'Record-Route: <sip:p1.example.com;lr>',
  'To: Bob <sip:bob@biloxi.com>',
  'From: Alice <sip:alice@atlanta.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.com',
  'CSeq: 314159 INVITE',
  'Timestamp: 54',
  'Proxy-Require: foo, sec-agree',
  'Contact: <sip:alice@pc33.atlanta.com>',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

function req(): SipRequest {
  const r = parseMessage(REQ);
  if (!r.ok) assert.fail(r.error.reason);
  return r.value as SipRequest;
}

function reparse(m: SipRequest | SipResponse): SipRequest | SipResponse {
  const r = parseMessage(m.toBuffer());
  if (!r.ok) assert.fail(`${r.error.code} ${r.error.reason}`);
  return r.value;
}

describe('createResponse (RFC 3261 8.2.6)', () => {
  it('copies Vias, From, To, Call-ID, CSeq and adds a To tag', () => {
    const res = reparse(createResponse(req(), 486)) as SipResponse;
    assert.equal(res.status, 486);
    assert.equal(res.reason, 'Busy Here');
    assert.deepEqual(
      res.vias.map((v) => v.branch),
      ['z9hG4bK1', 'z9hG4bK2'],
    );
    assert.equal(res.vias[0].received, '192.0.2.3');
    assert.equal(res.fromTag, '1928301774');
    assert.match(res.toTag ?? '', /^[0-9A-Za-z.-]{10}$/);
    assert.equal(res.callId, 'a84b4c76e66710@pc33.atlanta.com');
    assert.deepEqual(res.cseq, { seq: 314159, method: 'INVITE' });
    assert.equal(res.contentLength, 0);
    assert.equal(res.header('record-route'), undefined);
    assert.equal(res.header('timestamp'), undefined);
  });

  it('100 Trying: no To tag, Timestamp copied', () => {
    const res = reparse(createResponse(req(), 100)) as SipResponse;
    assert.equal(res.toTag, undefined);
    assert.equal(res.header('Timestamp'), '54');
  });

  it('keeps an existing To tag, uses a given one, copies Record-Route on request', () => {
    const r = req();
    const a = reparse(createResponse(r, 180, { toTag: 'abc', copyRecordRoute: true })) as SipResponse;
    assert.equal(a.toTag, 'abc');
    assert.equal(a.header('Record-Route'), '<sip:p1.example.com;lr>');
    r.setHeader('To', 'Bob <sip:bob@biloxi.com>;tag=existing');
    const b = reparse(createResponse(r, 200, { toTag: 'other' })) as SipResponse;
    assert.equal(b.toTag, 'existing');
  });

  it('extra headers, reason and body', () => {
    const res = reparse(
      createResponse(req(), 200, {
        reason: 'Fine\r\nInjected: x',
        headers: [['contact', '<sip:bob@192.0.2.4>']],
        body: 'v=0\r\n',
        contentType: 'application/sdp',
      }),
    ) as SipResponse;
    assert.equal(res.reason, 'Fine Injected: x');
    assert.equal(res.header('Contact'), '<sip:bob@192.0.2.4>');
    assert.equal(res.headers.find((h) => h.key === 'contact')?.name, 'Contact');
    assert.equal(res.body.toString(), 'v=0\r\n');
    assert.equal(res.contentLength, 5);
  });

  it('unsupportedExtensions lists Proxy-Require tags not supported', () => {
    assert.deepEqual(unsupportedExtensions(req(), ['SEC-AGREE']), ['foo']);
  });
});

describe('createRequest and identifiers', () => {
  it('builds a valid request', () => {
    const m = createRequest({
      method: 'REGISTER',
      uri: 'sip:registrar.example.com',
      from: { uri: 'sip:bob@example.com', displayName: 'Bob Smith' },
      to: { uri: 'sip:bob@example.com' },
      via: { transport: 'udp', host: '192.0.2.4', port: 5060 },
      cseq: 2,
      contact: '<sip:bob@192.0.2.4:5060>;expires=3600',
      route: ['<sip:outbound.example.com;lr>'],
      headers: [['Expires', '3600']],
    });
    const back = reparse(m) as SipRequest;
    assert.equal(back.method, 'REGISTER');
    assert.equal((back.uri as SipUri).host, 'registrar.example.com');
    assert.equal(back.from.displayName, 'Bob Smith');
    assert.match(back.fromTag ?? '', /^.{10}$/);
    assert.equal(back.toTag, undefined);
    assert.deepEqual(back.cseq, { seq: 2, method: 'REGISTER' });
    assert.equal(back.maxForwards, 70);
    assert.equal(back.topVia?.transport, 'UDP');
    assert.equal(back.topVia?.rport, null);
    assert.match(back.topVia?.branch ?? '', /^z9hG4bK/);
    assert.deepEqual(back.expires(), { ok: true, value: 3600 });
    const c = back.contacts();
    assert.ok(c.ok);
    assert.equal(c.value.contacts[0].expires, 3600);
    assert.equal(back.header('route'), '<sip:outbound.example.com;lr>');
    assert.equal(back.vias.length, m.vias.length);
  });

  it('ACK for a non-2xx response', () => {
    const inv = req();
    const res = reparse(createResponse(inv, 486, { toTag: 't1' })) as SipResponse;
    const ack = reparse(createNon2xxAck(inv, res)) as SipRequest;
    assert.equal(ack.method, 'ACK');
    assert.equal(ack.requestUri, inv.requestUri);
    assert.equal(ack.vias.length, 1);
    assert.equal(ack.topVia?.branch, 'z9hG4bK1');
    assert.equal(ack.toTag, 't1');
    assert.deepEqual(ack.cseq, { seq: 314159, method: 'ACK' });
  });

  it('branches, tags and Call-IDs are random tokens of the right form', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const br = generateBranch();
      assert.match(br, /^z9hG4bK[0-9A-Za-z.-]{16}$/);
      seen.add(br);
    }
    assert.equal(seen.size, 2000);
    assert.match(generateTag(), /^[0-9A-Za-z.-]{10}$/);
    assert.match(generateCallId('host.example.com'), /^[0-9A-Za-z.-]{20}@host\.example\.com$/);
    assert.equal(reasonPhrase(404), 'Not Found');
    assert.equal(reasonPhrase(499), 'Bad Request');
  });

  it('fnv1a is 32-bit FNV-1a (reference vectors), from another basis when given', () => {
    assert.equal(fnv1a(''), 0x811c9dc5);
    assert.equal(fnv1a('a'), 0xe40c292c);
    assert.equal(fnv1a('foobar'), 0xbf9cf968);
    assert.equal(fnv1a('', 0x1b873593), 0x1b873593);
    assert.notEqual(fnv1a('foobar', 0x1b873593), fnv1a('foobar'));
  });

  it('stateless To tags (8.2.7): the same for copies of a request, different when Via, From, Call-ID or CSeq differ', () => {
    const tag = statelessTag(req());
    assert.match(tag, /^[0-9a-f]{16}$/);
    // the two FNV-1a hashes of the first Via, From, Call-ID and CSeq values, each line ended by a newline
    const r0 = req();
    const text = ['via', 'from', 'call-id', 'cseq'].map((k) => r0.headers.find((h) => h.key === k)!.value + '\n').join('');
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    assert.equal(tag, hex(fnv1a(text)) + hex(fnv1a(text, 0x1b873593)));
    assert.equal(statelessTag(req()), tag);
    assert.equal(statelessTag(reparse(req()) as SipRequest), tag);
    const changed = (from: string, to: string) => {
      const r = parseMessage(REQ.replace(from, to));
      if (!r.ok) assert.fail(r.error.reason);
      return statelessTag(r.value as SipRequest);
    };
    const others = [
      changed('branch=z9hG4bK1;', 'branch=z9hG4bK9;'),
      changed('tag=1928301774', 'tag=1928301775'),
      changed('a84b4c76e66710@', 'a84b4c76e66711@'),
      changed('CSeq: 314159', 'CSeq: 314160'),
    ];
    for (const t of others) assert.notEqual(t, tag);
    assert.equal(new Set(others).size, others.length);
    // headers the tag does not depend on
    assert.equal(changed('Max-Forwards: 69', 'Max-Forwards: 68'), tag);
    assert.equal(changed('branch=z9hG4bK2', 'branch=z9hG4bK3'), tag);
  });
});
