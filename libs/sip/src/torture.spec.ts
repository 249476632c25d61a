// RFC 4475 torture messages: valid ones parse to the right meaning, invalid ones are refused with the right code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as T from './fixtures/rfc4475';
import { parseDatagram, parseMessage, SipParseError, SipStreamParser } from './parser';
import { SipMessage, SipRequest, SipResponse } from './message';
import { SipUri } from './uri';
import { createResponse } from './builders';

function parse(text: string): SipMessage {
  const r = parseMessage(Buffer.from(text, 'latin1'));
  if (!r.ok) assert.fail(`expected a message, got ${r.error.code}: ${r.error.reason}`);
  return r.value;
}

function req(text: string): SipRequest {
  const m = parse(text);
  assert.equal(m.kind, 'request');
  return m;
}

function refuse(text: string): SipParseError {
  const r = parseMessage(Buffer.from(text, 'latin1'));
  if (r.ok) assert.fail('expected a refusal');
  return r.error;
}

function sip(u: unknown): SipUri {
  const x = u as SipUri;
  assert.equal(x.kind, 'sip');
  return x;
}

describe('RFC 4475 3.1.1 valid messages', () => {
  it('3.1.1.1 wsinv: folding, LWS everywhere, compact forms, odd case', () => {
    const m = req(T.wsinv);
    assert.equal(m.method, 'INVITE');
    const ru = sip(m.uri);
    assert.equal(ru.user, 'vivekg');
    assert.equal(ru.host, 'chair-dnrc.example.com');
    assert.equal(ru.params.get('unknownparam'), null);
    assert.equal(m.toTag, '1918181833n');
    assert.equal(sip(m.to.uri).user, 'vivekg');
    assert.equal(m.from.displayName, 'J Rosenberg \\"');
    assert.equal(m.fromTag, '98asjd8');
    assert.equal(m.maxForwards, 68);
    assert.equal(m.callId, 'wsinv.ndaksdj@192.0.2.1');
    assert.deepEqual(m.cseq, { seq: 9, method: 'INVITE' });
    assert.equal(m.contentLength, T.SDP_BODY.length);
    assert.equal(m.body.toString('latin1'), T.SDP_BODY);
    const v = m.vias;
    assert.equal(v.length, 3);
    assert.deepEqual(
      v.map((x) => [x.transport, x.host, x.branch]),
      [
        ['UDP', '192.0.2.2', '390skdjuw'],
        ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
    assert.equal(v[0].rport, null);
    assert.equal(m.header('Subject'), '');
    assert.equal(m.header('s'), '');
    assert.equal(m.header('NewFangledHeader'), 'newfangled value continued newfangled value');
    assert.equal(m.header('UnknownHeaderWithUnusualValue'), ';;,,;;,;');
    const routes = m.routes();
    assert.ok(routes.ok);
    assert.equal(routes.value.length, 1);
    const rr = sip(routes.value[0].uri);
    assert.equal(rr.host, 'services.example.com');
    assert.equal(rr.params.get('lr'), null);
    assert.equal(rr.params.get('unknownwith'), 'value');
    const c = m.contacts();
    assert.ok(c.ok && !c.value.star);
    assert.equal(c.value.contacts.length, 1);
    const ct = c.value.contacts[0];
    assert.equal(ct.displayName, 'Quoted string ""');
    assert.equal(ct.q, 0.33);
    assert.equal(ct.params.get('newparam'), 'newvalue');
    assert.equal(ct.params.get('secondparam'), null);
    const mt = m.mediaType();
    assert.ok(mt.ok);
    assert.equal(mt.value?.subtype, 'sdp');
  });

  it('3.1.1.2 intmeth: the whole range of token, word and quoted-pair characters', () => {
    const m = req(T.intmeth);
    assert.equal(m.method, T.INTMETH_METHOD);
    assert.equal(m.cseq.method, T.INTMETH_METHOD);
    const ru = sip(m.uri);
    assert.equal(ru.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(ru.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(ru.host, 'example.com');
    assert.equal(m.topVia?.branch, "z9hG4bK-.!%66*_+`'~");
    assert.equal(m.to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
    assert.equal(m.from.displayName, "token1~` token2'+_ token3*%!.-");
    assert.equal(m.fromTag, "_token~1'+`*%!-.");
    assert.ok(m.from.params.has("fromparam''~+*_!.-%"));
    assert.equal(m.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    assert.equal(m.maxForwards, 255);
    assert.equal(Buffer.from(m.header("extensionHeader-!.%*+_`'~") ?? '', 'latin1').toString('utf8'), '\ufeff大停電');
  });

  it('3.1.1.3 esc01: escaped characters in URIs compare unescaped', () => {
    const m = req(T.esc01);
    const ru = sip(m.uri);
    assert.equal(ru.user, 'sips:user@example.com');
    assert.equal(ru.host, 'example.net');
    assert.equal(sip(m.to.uri).user, 'user');
    assert.equal(sip(m.from.uri).user, 'I have spaces');
    assert.equal(m.callId, 'esc01.239409asdfakjkn23onasd0-3234');
    assert.equal(m.contentType, 'application/sdp');
    const c = m.contacts();
    assert.ok(c.ok);
    const cu = sip(c.value.contacts[0].uri);
    assert.equal(cu.user, 'caller');
    assert.equal(cu.params.get('lr'), null);
    assert.equal(cu.params.get('name'), 'value%41');
  });

  it('3.1.1.4 escnull: escaped NUL in user parts', () => {
    const m = req(T.escnull);
    assert.equal(sip(m.to.uri).user, 'null-\x00-null');
    const c = m.contacts();
    assert.ok(c.ok);
    assert.deepEqual(
      c.value.contacts.map((x) => sip(x.uri).user),
      ['\x00', '\x00\x00'],
    );
    assert.equal(m.contentLength, 0);
  });

  it('3.1.1.5 esc02: % is not an escape in methods, quoted strings, tokens or header names', () => {
    const m = req(T.esc02);
    assert.equal(m.method, 'RE%47IST%45R');
    assert.equal(m.to.displayName, '%Z%45');
    assert.equal(m.topVia?.branch, 'z9hG4bK209%fzsnel234');
    const c = m.contacts();
    assert.ok(c.ok);
    assert.deepEqual(
      c.value.contacts.map((x) => sip(x.uri).host),
      ['host1.example.com', 'host3.example.com'],
    );
    assert.equal(m.header('C%6Fntact'), '<sip:alias2@host2.example.com>');
  });

  it('3.1.1.6 lwsdisp: no LWS between display name and <', () => {
    const m = req(T.lwsdisp);
    assert.equal(m.from.displayName, 'caller');
    assert.equal(sip(m.from.uri).user, 'caller');
    assert.equal(m.fromTag, '323');
  });

  it('3.1.1.7 longreq: long values and many Vias in all spellings', () => {
    const m = req(T.longreq);
    assert.equal(m.vias.length, 34);
    assert.equal(m.vias[0].host, 'sip33.example.com');
    assert.equal(m.vias[33].received, '192.0.2.5');
    assert.equal(m.vias[33].branch, 'very' + 'long'.repeat(50) + 'branchvalue');
    assert.equal(m.fromTag, T.LONGREQ_TAG);
    assert.equal(sip(m.to.uri).port, 6000);
    assert.ok(m.to.displayName?.startsWith('I have a user name of extremeextreme'));
    assert.equal(m.body.length, T.SDP_BODY.length);
  });

  it('3.1.1.8 dblreq: only the first message of a datagram counts', () => {
    const m = req(T.dblreq);
    assert.equal(m.method, 'REGISTER');
    assert.equal(m.body.length, 0);
    // on a stream both are framed
    const p = new SipStreamParser();
    const ev = p.push(Buffer.from(T.dblreq, 'latin1'));
    assert.deepEqual(
      ev.map((e) => (e.kind === 'message' ? (e.value as SipRequest).method : e.kind)),
      ['REGISTER', 'pong', 'INVITE'],
    );
  });

  it('3.1.1.9 semiuri: ; in the user part', () => {
    const m = req(T.semiuri);
    const ru = sip(m.uri);
    assert.equal(ru.user, 'user;par=u@example.net');
    assert.equal(ru.host, 'example.com');
    assert.equal(ru.params.size, 0);
    assert.deepEqual(m.listValues('Accept'), [
      'application/sdp',
      'application/pkcs7-mime',
      'multipart/mixed',
      'multipart/signed',
      'message/sip',
      'message/sipfrag',
    ]);
  });

  it('3.1.1.10 transports: unknown transports in Via', () => {
    const m = req(T.transports);
    assert.deepEqual(
      m.vias.map((v) => v.transport),
      ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP'],
    );
    assert.equal(m.callId, 'transports.kijh4akdnaqjkwendsasfdj');
  });

  it('3.1.1.11 mpart01: multipart body kept byte for byte', () => {
    const m = req(T.mpart01);
    const mt = m.mediaType();
    assert.ok(mt.ok);
    assert.equal(mt.value?.type, 'multipart');
    assert.equal(mt.value?.params.get('boundary'), 'boundary42');
    assert.equal(m.body.length, m.contentLength);
    assert.ok(m.body.includes(Buffer.from([0x30, 0x82, 0x01, 0x89])));
  });

  it('3.1.1.12 unreason: UTF-8 reason phrase', () => {
    const m = parse(T.unreason) as SipResponse;
    assert.equal(m.kind, 'response');
    assert.equal(m.status, 200);
    assert.equal(m.reason, T.UNREASON_PHRASE);
    assert.equal(m.body.length, T.SDP_BODY.length);
  });

  it('3.1.1.13 noreason: empty reason phrase', () => {
    const m = parse(T.noreason) as SipResponse;
    assert.equal(m.status, 100);
    assert.equal(m.reason, '');
    assert.equal(m.toTag, '902jndnke3');
  });
});

describe('RFC 4475 3.1.2 invalid messages', () => {
  it('3.1.2.1 badinv01: extraneous separators in Via -> 400, no response route', () => {
    const e = refuse(T.badinv01);
    assert.equal(e.code, 'BAD_HEADER_VALUE');
    assert.equal(e.header, 'via');
    assert.equal(e.responsePossible, false);
  });

  it('3.1.2.2 clerr: Content-Length larger than the datagram -> 400', () => {
    const e = refuse(T.clerr);
    assert.equal(e.code, 'BODY_TRUNCATED');
    assert.equal(e.responsePossible, true);
    assert.ok(e.request);
    const res = createResponse(e.request, 400, { reason: e.reason });
    assert.equal(res.callId, 'clerr.0ha0isndaksdjweiafasdk3');
  });

  it('3.1.2.3 ncl: negative Content-Length', () => {
    const e = refuse(T.ncl);
    assert.equal(e.code, 'BAD_CONTENT_LENGTH');
  });

  it('3.1.2.4 scalar02: overlarge CSeq -> 400 (answerable)', () => {
    const e = refuse(T.scalar02);
    assert.equal(e.code, 'BAD_HEADER_VALUE');
    assert.equal(e.header, 'cseq');
    assert.equal(e.responsePossible, true);
  });

  it('3.1.2.5 scalarlg: response with overlarge CSeq is dropped', () => {
    const e = refuse(T.scalarlg);
    assert.equal(e.code, 'BAD_HEADER_VALUE');
    assert.equal(e.responsePossible, false);
  });

  it('3.1.2.6 quotbal: unterminated quoted string', () => {
    const e = refuse(T.quotbal);
    assert.equal(e.code, 'BAD_HEADER_VALUE');
    assert.equal(e.header, 'to');
    assert.equal(e.responsePossible, true);
  });

  it('3.1.2.7 ltgtruri: <> around the Request-URI', () => {
    const e = refuse(T.ltgtruri);
    assert.equal(e.code, 'BAD_REQUEST_URI');
    assert.equal(e.responsePossible, true);
  });

  it('3.1.2.8 lwsruri: LWS inside the Request-URI', () => {
    assert.equal(refuse(T.lwsruri).code, 'BAD_START_LINE');
  });

  it('3.1.2.9 lwsstart: several SP between request-line elements', () => {
    assert.equal(refuse(T.lwsstart).code, 'BAD_START_LINE');
  });

  it('3.1.2.10 trws: SP at the end of the request-line', () => {
    assert.equal(refuse(T.trws).code, 'BAD_START_LINE');
  });

  it('3.1.2.11 escruri: headers in the Request-URI', () => {
    const e = refuse(T.escruri);
    assert.equal(e.code, 'BAD_REQUEST_URI');
    assert.equal(e.responsePossible, true);
  });

  it('3.1.2.12 baddate: Date is not interpreted; the message is accepted and forwarded as is', () => {
    const m = req(T.baddate);
    assert.equal(m.header('Date'), 'Fri, 01 Jan 2010 16:00:00 EST');
  });

  it('3.1.2.13 regbadct: Contact addr-spec with ? -> the message parses, Contact is refused on access', () => {
    const m = req(T.regbadct);
    const c = m.contacts();
    assert.equal(c.ok, false);
    assert.equal(!c.ok && c.error.code, 'BAD_HEADER_VALUE');
  });

  it('3.1.2.14 badaspec: spaces inside <> of To', () => {
    const e = refuse(T.badaspec);
    assert.equal(e.header, 'to');
    assert.equal(e.responsePossible, true);
  });

  it('3.1.2.15 baddn: unquoted display name with a comma', () => {
    const e = refuse(T.baddn);
    assert.equal(e.code, 'BAD_HEADER_VALUE');
    assert.equal(e.header, 'from');
  });

  it('3.1.2.16 badvers: SIP/7.0 -> 505', () => {
    assert.equal(refuse(T.badvers).code, 'BAD_VERSION');
  });

  it('3.1.2.17 mismatch01: CSeq method differs from the method', () => {
    const e = refuse(T.mismatch01);
    assert.equal(e.code, 'CSEQ_METHOD_MISMATCH');
    assert.equal(e.responsePossible, true);
  });

  it('3.1.2.18 mismatch02: unknown method with CSeq mismatch', () => {
    assert.equal(refuse(T.mismatch02).code, 'CSEQ_METHOD_MISMATCH');
  });

  it('3.1.2.19 bigcode: overlarge status code', () => {
    assert.equal(refuse(T.bigcode).code, 'BAD_STATUS_CODE');
  });
});

describe('RFC 4475 3.2-3.4 transaction and application layer cases', () => {
  it('3.2.1 badbranch: a bare magic cookie parses; the branch is exactly z9hG4bK', () => {
    assert.equal(req(T.badbranch).topVia?.branch, 'z9hG4bK');
  });

  it('3.3.1 insuf: missing Call-ID, From, To', () => {
    const e = refuse(T.insuf);
    assert.equal(e.code, 'MISSING_HEADER');
    assert.equal(e.responsePossible, false);
  });

  it('3.3.2 unkscm / 3.3.3 novelsc: unknown Request-URI schemes parse (the UAS answers 416)', () => {
    const a = req(T.unkscm).uri;
    assert.equal(a.kind, 'other');
    assert.equal(a.scheme, 'nobodyknowsthisscheme');
    const b = req(T.novelsc).uri;
    assert.equal(b.kind, 'other');
    assert.equal(b.scheme, 'soap.beep');
  });

  it('3.3.4 unksm2: unknown schemes in To, From and Contact', () => {
    const m = req(T.unksm2);
    assert.equal(m.to.uri.kind, 'other');
    assert.equal(m.to.uri.scheme, 'isbn');
    assert.equal(m.from.uri.scheme, 'http');
    const c = m.contacts();
    assert.ok(c.ok);
    assert.equal(c.value.contacts[0].uri.scheme, 'name');
  });

  it('3.3.5 bext01: Require and Proxy-Require option tags', () => {
    const m = req(T.bext01);
    assert.deepEqual(m.require, ['nothingSupportsThis', 'nothingSupportsThisEither']);
    assert.deepEqual(m.proxyRequire, ['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
  });

  it('3.3.7 regaut01: unknown authorization scheme kept raw', () => {
    assert.equal(req(T.regaut01).header('authorization'), 'NoOneKnowsThisScheme opaque-data=here');
  });

  it('3.3.8 multi01: several To, From, Call-ID, CSeq -> 400', () => {
    const e = refuse(T.multi01);
    assert.equal(e.code, 'DUPLICATE_HEADER');
    assert.equal(e.responsePossible, true);
    assert.ok(e.request);
    const res = createResponse(e.request, 400, { reason: e.reason });
    assert.equal(res.headerValues('to').length, 1);
    assert.equal(res.headerValues('cseq').length, 1);
  });

  it('3.3.9 mcl01: conflicting Content-Length values', () => {
    assert.equal(refuse(T.mcl01).code, 'BAD_CONTENT_LENGTH');
  });

  it('3.3.10 bcast: a Via with a broadcast address parses', () => {
    const m = parse(T.bcast);
    assert.equal(m.vias[1].host, '255.255.255.255');
  });

  it('3.3.11 zeromf: Max-Forwards 0 parses; a proxy cannot decrement it (483)', () => {
    const m = req(T.zeromf);
    assert.equal(m.maxForwards, 0);
    assert.equal(m.decrementMaxForwards(), -1);
  });

  it('3.3.13 cparam01 / cparam02: parameter belongs to the header or to the URI', () => {
    const a = req(T.cparam01).contacts();
    assert.ok(a.ok);
    assert.equal(a.value.contacts[0].params.get('unknownparam'), null);
    assert.equal(sip(a.value.contacts[0].uri).params.size, 0);
    const b = req(T.cparam02).contacts();
    assert.ok(b.ok);
    assert.equal(b.value.contacts[0].params.size, 0);
    assert.equal(sip(b.value.contacts[0].uri).params.get('unknownparam'), null);
  });

  it('3.3.15 regescrt: escaped Route header in a Contact URI', () => {
    const c = req(T.regescrt).contacts();
    assert.ok(c.ok);
    assert.equal(sip(c.value.contacts[0].uri).headers.get('Route'), '<sip:sip.example.com>');
  });

  it('3.4.1 inv2543: an RFC 2543 request without branch or Max-Forwards', () => {
    const m = req(T.inv2543);
    assert.equal(m.topVia?.branch, undefined);
    assert.equal(m.maxForwards, undefined);
    assert.equal(sip(m.from.uri).params.get('user'), 'phone');
    assert.equal(m.toTag, undefined);
  });

  it('every valid fixture parses identically from a datagram, a stream in 7-byte pieces, and its own serialisation', () => {
    for (const text of [
      T.wsinv,
      T.intmeth,
      T.esc01,
      T.escnull,
      T.esc02,
      T.lwsdisp,
      T.longreq,
      T.semiuri,
      T.transports,
      T.mpart01,
      T.unreason,
      T.noreason,
    ]) {
      const a = parse(text);
      const buf = a.toBuffer();
      const d = parseDatagram(buf);
      assert.ok(d.ok && d.kind === 'message');
      assert.deepEqual(d.value.headers, a.headers);
      assert.deepEqual(d.value.body, a.body);
      const p = new SipStreamParser();
      const got: SipMessage[] = [];
      for (let i = 0; i < buf.length; i += 7) for (const e of p.push(buf.subarray(i, i + 7))) if (e.kind === 'message') got.push(e.value);
      assert.equal(got.length, 1);
      assert.deepEqual(got[0].headers, a.headers);
      assert.equal(got[0].startLine(), a.startLine());
    }
  });
});
