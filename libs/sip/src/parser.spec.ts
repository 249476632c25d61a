import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDatagram, parseMessage, SipStreamParser, StreamEvent, DEFAULT_SIP_LIMITS } from './parser';
import { SipRequest, SipResponse } from './message';

const CRLF = '\r\n';
function options(extra: string[] = [], body = ''): string {
  return (
    [
      'OPTIONS sip:carol@chicago.com SIP/2.0',
      'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877',
      'Max-Forwards: 70',
      'To: <sip:carol@chicago.com>',
      'From: Alice <sip:alice@atlanta.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710',
      'CSeq: 63104 OPTIONS',
      ...extra,
    ].join(CRLF) +
    CRLF +
    CRLF +
    body
  );
}
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('parseDatagram', () => {
  it('parses a request and exposes raw headers in order', () => {
    const r = parseDatagram(b(options(['Content-Length: 0'])));
    assert.ok(r.ok && r.kind === 'message');
    const m = r.value as SipRequest;
    assert.equal(m.kind, 'request');
    assert.equal(m.method, 'OPTIONS');
    assert.equal(m.requestUri, 'sip:carol@chicago.com');
    assert.deepEqual(
      m.headers.map((h) => h.name),
      ['Via', 'Max-Forwards', 'To', 'From', 'Call-ID', 'CSeq', 'Content-Length'],
    );
    assert.equal(m.contentLength, 0);
    assert.equal(m.body.length, 0);
  });

  it('recognises keep-alives: CRLFCRLF ping, CRLF pong', () => {
    assert.deepEqual(parseDatagram(b('\r\n\r\n')), { ok: true, kind: 'ping' });
    assert.deepEqual(parseDatagram(b('\r\n')), { ok: true, kind: 'pong' });
    const e = parseDatagram(b('\r\n\r\n\r\n'));
    assert.ok(!e.ok && e.error.code === 'EMPTY');
    const z = parseDatagram(Buffer.alloc(0));
    assert.ok(!z.ok && z.error.code === 'EMPTY');
  });

  it('skips CRLFs before the start line, accepts bare LF line ends', () => {
    const r = parseMessage('\r\n\r\n' + options(['l: 0']));
    assert.ok(r.ok);
    const lf = parseMessage(options(['l: 5'], 'hello').replace(/\r\n/g, '\n'));
    assert.ok(lf.ok);
    assert.equal(lf.value.body.toString(), 'hello');
    assert.equal(lf.value.callId, 'a84b4c76e66710');
  });

  it('without Content-Length the body is the rest of the datagram; extra bytes after Content-Length are ignored', () => {
    const a = parseMessage(options([], 'abc'));
    assert.ok(a.ok);
    assert.equal(a.value.body.toString(), 'abc');
    const c = parseMessage(options(['Content-Length: 2'], 'abcdef'));
    assert.ok(c.ok);
    assert.equal(c.value.body.toString(), 'ab');
  });

  it('a message without the empty line parses when it has no body', () => {
    const text = options(['Content-Length: 0']).slice(0, -4);
    const r = parseMessage(text);
    assert.ok(r.ok);
    assert.equal(r.value.contentLength, 0);
    const cut = parseMessage(options(['Content-Length: 10']).slice(0, -4));
    assert.ok(!cut.ok && cut.error.code === 'BODY_TRUNCATED');
  });

  it('parses responses', () => {
    const r = parseMessage(
      'SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>;tag=2\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
    );
    assert.ok(r.ok);
    const m = r.value as SipResponse;
    assert.equal(m.status, 486);
    assert.equal(m.reason, 'Busy Here');
  });

  it('enforces the limits', () => {
    const big = options(['Content-Length: 0', 'X-Pad: ' + 'a'.repeat(70000)]);
    assert.equal((parseDatagram(b(big)) as { error: { code: string } }).error.code, 'MESSAGE_TOO_LARGE');
    const lim = { ...DEFAULT_SIP_LIMITS, maxHeaderLength: 100 };
    assert.equal(
      (parseDatagram(b(options(['X-Long: ' + 'a'.repeat(200)])), lim) as { error: { code: string } }).error.code,
      'HEADER_TOO_LONG',
    );
    const folded = options(['X-Long: a', ...Array.from({ length: 30 }, () => ' bbbbbbbbbb')]);
    assert.equal((parseDatagram(b(folded), lim) as { error: { code: string } }).error.code, 'HEADER_TOO_LONG');
    const many = options(Array.from({ length: 20 }, (_, i) => `X-H${i}: ${i}`));
    assert.equal(
      (parseDatagram(b(many), { ...DEFAULT_SIP_LIMITS, maxHeaders: 10 }) as { error: { code: string } }).error.code,
      'TOO_MANY_HEADERS',
    );
  });

  it('refuses bad start lines and header lines with codes', () => {
    const cases: Array<[string, string]> = [
      ['garbage', 'BAD_START_LINE'],
      ['OPTIONS sip:a@b SIP/2.0 extra\r\n\r\n', 'BAD_START_LINE'],
      ['OPT(ONS sip:a@b SIP/2.0\r\n\r\n', 'BAD_METHOD'],
      ['OPTIONS sip:a@b HTTP/1.1\r\n\r\n', 'BAD_START_LINE'],
      ['SIP/3.0 200 OK\r\n\r\n', 'BAD_VERSION'],
      ['SIP/2.0 99 Too Small\r\n\r\n', 'BAD_STATUS_CODE'],
      ['SIP/2.0 2000 OK\r\n\r\n', 'BAD_STATUS_CODE'],
      [options(['No colon here']), 'BAD_HEADER_LINE'],
      [options([': empty name']), 'BAD_HEADER_LINE'],
      [options(['Bad Name: x']), 'BAD_HEADER_LINE'],
      [options(['Max-Forwards: 256']).replace('Max-Forwards: 70\r\n', ''), 'BAD_HEADER_VALUE'],
      [options(['Content-Length: abc']), 'BAD_CONTENT_LENGTH'],
      [options(['Call-ID: again']), 'DUPLICATE_HEADER'],
      [options().replace('Call-ID: a84b4c76e66710', 'Call-ID: has space'), 'BAD_HEADER_VALUE'],
      [options().replace(/Via: [^\r]*\r\n/, ''), 'MISSING_HEADER'],
    ];
    for (const [text, code] of cases) {
      const r = parseMessage(text);
      assert.ok(!r.ok, text);
      assert.equal(r.error.code, code, text);
      assert.ok(r.error.reason.length > 0);
    }
  });

  it('tells whether a 400 can be sent, and gives the request for it', () => {
    const bad = parseMessage(options(['Max-Forwards: 1']));
    assert.ok(!bad.ok);
    assert.equal(bad.error.code, 'DUPLICATE_HEADER');
    assert.equal(bad.error.responsePossible, true);
    assert.equal(bad.error.request?.callId, 'a84b4c76e66710');
    const noVia = parseMessage(options().replace('Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877', 'Via: SIP/2.0/UDP'));
    assert.ok(!noVia.ok);
    assert.equal(noVia.error.responsePossible, false);
    assert.equal(noVia.error.request, undefined);
  });
});

function kinds(ev: StreamEvent[]): string[] {
  return ev.map((e) => (e.kind === 'message' ? 'message' : e.kind === 'error' ? 'error:' + e.error.code : e.kind));
}

describe('SipStreamParser', () => {
  it('frames messages by Content-Length across arbitrary chunk boundaries', () => {
    const one = options(['Content-Length: 5'], 'hello');
    const all = b(one + one + one);
    for (const size of [1, 2, 3, 17, 100, all.length]) {
      const p = new SipStreamParser();
      const ev: StreamEvent[] = [];
      for (let i = 0; i < all.length; i += size) ev.push(...p.push(all.subarray(i, i + size)));
      assert.deepEqual(kinds(ev), ['message', 'message', 'message'], `size ${size}`);
      for (const e of ev) assert.equal(e.kind === 'message' && e.value.body.toString(), 'hello');
      assert.equal(p.buffered, 0);
    }
  });

  it('reports RFC 5626 keep-alives between messages', () => {
    const p = new SipStreamParser();
    assert.deepEqual(kinds(p.push(b('\r\n\r\n'))), ['ping']);
    assert.deepEqual(kinds(p.push(b('\r\n'))), ['pong']);
    assert.deepEqual(kinds(p.push(b('\r\n\r\n\r\n\r\n'))), ['ping', 'ping']);
    assert.deepEqual(kinds(p.push(b('\r\n\r'))), []);
    assert.deepEqual(kinds(p.push(b('\n'))), ['ping']);
    assert.deepEqual(kinds(p.push(b('\r\n\r\n' + options(['l: 0'])))), ['ping', 'message']);
  });

  it('Content-Length is mandatory: fatal error, then the parser refuses input', () => {
    const p = new SipStreamParser();
    assert.deepEqual(kinds(p.push(b(options()))), ['error:MISSING_HEADER']);
    assert.ok(p.failed);
    assert.deepEqual(kinds(p.push(b(options(['l: 0'])))), ['error:STREAM_FAILED']);
  });

  it('a framed but malformed message is a non-fatal error; the next one parses', () => {
    const p = new SipStreamParser();
    const badTo = options(['l: 0']).replace('To: <sip:carol@chicago.com>', 'To: "unterminated <sip:carol@chicago.com>');
    const ev = p.push(b(badTo + options(['l: 0'])));
    assert.deepEqual(kinds(ev), ['error:BAD_HEADER_VALUE', 'message']);
    assert.ok(ev[0].kind === 'error' && ev[0].error.fatal !== true && ev[0].error.responsePossible);
    assert.ok(!p.failed);
  });

  it('a large body in many small chunks, then a keep-alive', () => {
    const body = 'x'.repeat(20000);
    const all = b(options([`Content-Length: ${body.length}`], body) + '\r\n\r\n');
    const p = new SipStreamParser();
    const ev: StreamEvent[] = [];
    for (let i = 0; i < all.length; i += 512) ev.push(...p.push(all.subarray(i, i + 512)));
    assert.deepEqual(kinds(ev), ['message', 'ping']);
    assert.equal(ev[0].kind === 'message' && ev[0].value.body.length, 20000);
    assert.equal(ev[0].kind === 'message' && ev[0].value.callId, 'a84b4c76e66710');
  });

  it('a header section larger than the limit in one chunk is fatal', () => {
    const p = new SipStreamParser({ maxMessageSize: 1000 });
    assert.deepEqual(kinds(p.push(b(options(['X: ' + 'a'.repeat(2000), 'l: 0'])))), ['error:MESSAGE_TOO_LARGE']);
  });

  it('oversized headers or bodies are fatal', () => {
    const p = new SipStreamParser({ maxMessageSize: 300 });
    assert.deepEqual(kinds(p.push(b('INVITE sip:a@b SIP/2.0\r\nX: ' + 'a'.repeat(400)))), ['error:MESSAGE_TOO_LARGE']);
    const q = new SipStreamParser({ maxMessageSize: 300 });
    assert.deepEqual(kinds(q.push(b(options(['Content-Length: 100000'])))), ['error:MESSAGE_TOO_LARGE']);
    const r = new SipStreamParser();
    assert.deepEqual(kinds(r.push(b(options(['Content-Length: -1'])))), ['error:BAD_CONTENT_LENGTH']);
    assert.ok(r.failed);
  });
});
