import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from './parser';
import { SipMessage, SipRequest, SipResponse, validateCore, toWire, fromWire } from './message';
import { makeVia } from './headers';
import { SipUri, parseUri } from './uri';

const INVITE = [
  'INVITE sip:bob@biloxi.com SIP/2.0',
  'Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1, SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKa',
  'Via: SIP/2.0/UDP first.example.com;branch=z9hG4bKf',
  'Max-Forwards: 10',
  'Route: <sip:p2.example.com;lr>, <sip:p3.example.com;lr>',
  'Route: <sip:p4.example.com;lr>',
  'To: Bob <sip:bob@biloxi.com>',
  'From: Alice <sip:alice@atlanta.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.com>',
  'Content-Type: text/plain',
  'Content-Length: 4',
  '',
  'body',
].join('\r\n');

function req(text = INVITE): SipRequest {
  const r = parseMessage(text);
  if (!r.ok) assert.fail(r.error.reason);
  return r.value as SipRequest;
}

function reparse(m: SipMessage): SipMessage {
  const r = parseMessage(m.toBuffer());
  if (!r.ok) assert.fail(`${r.error.code} ${r.error.reason}`);
  return r.value;
}

describe('serialisation', () => {
  it('writes start line, headers in order, blank line and body as one Buffer', () => {
    const m = req();
    const out = m.toBuffer();
    assert.ok(Buffer.isBuffer(out));
    assert.equal(out.toString('latin1'), INVITE);
  });

  it('keeps bytes that are not ASCII (latin1 byte strings)', () => {
    const m = req(INVITE.replace('To: Bob', 'To: "B\xc3\xb6b"'));
    assert.equal(fromWire(m.to.displayName ?? ''), 'Böb');
    assert.deepEqual(m.toBuffer(), Buffer.from(INVITE.replace('To: Bob', 'To: "B\xc3\xb6b"'), 'latin1'));
    assert.equal(toWire('Böb'), 'B\xc3\xb6b');
  });
});

describe('proxy mutations', () => {
  it('addVia puts a Via on top; removeTopVia splits comma lists', () => {
    const m = req();
    m.addVia(makeVia({ transport: 'UDP', host: 'me.example.com', port: 5060, branch: 'z9hG4bKme' }));
    assert.equal(m.vias.length, 4);
    assert.equal(m.topVia?.host, 'me.example.com');
    assert.equal(m.headers[0].value, 'SIP/2.0/UDP me.example.com:5060;branch=z9hG4bKme');
    assert.equal(m.removeTopVia()?.branch, 'z9hG4bKme');
    assert.equal(m.removeTopVia()?.branch, 'z9hG4bKp1');
    assert.equal(m.header('via'), 'SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKa');
    assert.deepEqual(
      reparse(m).vias.map((v) => v.branch),
      ['z9hG4bKa', 'z9hG4bKf'],
    );
    m.removeTopVia();
    m.removeTopVia();
    assert.equal(m.removeTopVia(), undefined);
    assert.equal(m.vias.length, 0);
  });

  it('topVia alone (before the others are read) follows mutations', () => {
    const m = req();
    assert.equal(m.topVia?.branch, 'z9hG4bKp1');
    m.removeTopVia();
    assert.equal(m.topVia?.branch, 'z9hG4bKa');
    m.addVia('SIP/2.0/TCP x.example.com;branch=z9hG4bKx');
    assert.equal(m.topVia?.host, 'x.example.com');
    assert.equal(m.vias.length, 3);
    m.removeHeader('via');
    assert.equal(m.topVia, undefined);
  });

  it('prependRecordRoute and popRoute', () => {
    const m = req();
    m.prependRecordRoute('<sip:me.example.com;lr>');
    m.prependRecordRoute({
      displayName: undefined,
      uri: (parseUri('sip:me2.example.com;lr') as { value: SipUri }).value,
      params: new Map(),
    });
    const rr = reparse(m).recordRoutes();
    assert.ok(rr.ok);
    assert.deepEqual(
      rr.value.map((r) => (r.uri as SipUri).host),
      ['me2.example.com', 'me.example.com'],
    );
    assert.equal(m.popRoute(), '<sip:p2.example.com;lr>');
    assert.equal(m.popRoute(), '<sip:p3.example.com;lr>');
    const routes = reparse(m).routes();
    assert.ok(routes.ok);
    assert.deepEqual(
      routes.value.map((r) => (r.uri as SipUri).host),
      ['p4.example.com'],
    );
  });

  it('decrementMaxForwards: decrements, adds 70 when absent, refuses at 0', () => {
    const m = req();
    assert.equal(m.decrementMaxForwards(), 9);
    assert.equal(m.header('Max-Forwards'), '9');
    m.removeHeader('max-forwards');
    assert.equal(m.decrementMaxForwards(), 70);
    m.setHeader('Max-Forwards', '0');
    assert.equal(m.decrementMaxForwards(), -1);
    assert.equal(m.maxForwards, 0);
  });

  it('setRequestUri, setHeader, removeHeader, setBody', () => {
    const m = req();
    assert.ok(m.setRequestUri('sip:bob@192.0.2.4:5070;transport=tcp').ok);
    assert.equal((m.uri as SipUri).port, 5070);
    assert.equal(m.setRequestUri('not a uri').ok, false);
    assert.equal(m.requestUri, 'sip:bob@192.0.2.4:5070;transport=tcp');
    m.setHeader('Route', ['<sip:a;lr>', '<sip:b;lr>']);
    assert.deepEqual(m.headerValues('route'), ['<sip:a;lr>, <sip:b;lr>']);
    assert.equal(m.removeHeader('route'), 1);
    m.setHeader('x-new', 'v');
    assert.equal(m.header('X-NEW'), 'v');
    m.setBody('v=0\r\n', 'application/sdp');
    const back = reparse(m) as SipRequest;
    assert.equal(back.contentLength, 5);
    assert.equal(back.contentType, 'application/sdp');
    assert.equal(back.body.toString(), 'v=0\r\n');
    assert.equal(back.method, 'INVITE');
    m.setBody(Buffer.alloc(0));
    assert.equal(m.header('content-type'), undefined);
    assert.equal(m.contentLength, 0);
  });

  it('typed caches follow mutations', () => {
    const m = req();
    assert.equal(m.fromTag, '1928301774');
    m.setHeader('From', '<sip:x@y>;tag=new');
    assert.equal(m.fromTag, 'new');
    m.setHeader('CSeq', '7 INVITE');
    assert.equal(m.cseq.seq, 7);
    assert.deepEqual(m.supported, []);
    m.addHeader('Supported', 'path');
    assert.deepEqual(m.supported, ['path']);
    m.setHeader('Contact', '*');
    const c = m.contacts();
    assert.ok(c.ok && c.value.star);
  });

  it('clone has its own header list', () => {
    const m = req();
    const c = m.clone();
    c.addVia('SIP/2.0/TCP clone.example.com;branch=z9hG4bKc');
    c.setHeader('Max-Forwards', '1');
    assert.equal(m.vias.length, 3);
    assert.equal(m.maxForwards, 10);
    assert.equal(c.vias.length, 4);
  });

  it('validateCore; getters of removed mandatory headers read as placeholders, never throw', () => {
    const m = req();
    assert.deepEqual(validateCore(m), { ok: true, value: true });
    m.removeHeader('from');
    assert.equal(validateCore(m).ok, false);
    assert.equal(m.from.uri.kind, 'other');
    assert.equal(m.fromTag, undefined);
    m.removeHeader('cseq');
    assert.deepEqual(m.cseq, { seq: -1, method: '' });
    const r = new SipResponse(200, 'OK');
    assert.equal(validateCore(r).ok, false);
  });
});
