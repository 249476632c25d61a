// RFC 3261 section 24 and RFC 3665 flows: parse every message, and rebuild the proxy and registrar steps with the library.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as F from './fixtures/rfc3665';
import { parseMessage } from './parser';
import { SipMessage, SipRequest, SipResponse } from './message';
import { createResponse } from './builders';
import { makeVia } from './headers';
import { SipUri, uriEquals, parseUri } from './uri';

function parse(text: string): SipMessage {
  const r = parseMessage(text);
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.reason}`);
  return r.value;
}

describe('RFC 3665 registration', () => {
  it('F1..F4 parse with the expected fields', () => {
    const f1 = parse(F.reg1) as SipRequest;
    assert.equal(f1.method, 'REGISTER');
    assert.equal(f1.uri.scheme, 'sips');
    assert.equal(f1.topVia?.transport, 'TLS');
    assert.equal(f1.topVia?.port, 5061);
    const f2 = parse(F.reg2) as SipResponse;
    assert.equal(f2.status, 401);
    assert.equal(f2.topVia?.received, '192.0.2.201');
    assert.equal(
      f2.header('www-authenticate'),
      'Digest realm="atlanta.example.com", qop="auth", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", stale=FALSE, algorithm=MD5',
    );
    const f3 = parse(F.reg3) as SipRequest;
    assert.ok(f3.header('Authorization')?.includes('response="dfe56131d1958046689d83306477ecc"'));
    const f4 = parse(F.reg4) as SipResponse;
    const c = f4.contacts();
    assert.ok(c.ok);
    assert.equal(c.value.contacts[0].expires, 3600);
  });

  it('the registrar builds F4 from F3 (Via with received, To tag, Contact with expires)', () => {
    const f3 = parse(F.reg3) as SipRequest;
    // the transport layer adds received to the top Via (RFC 3261 18.2.1)
    const top = f3.removeTopVia();
    assert.ok(top);
    top.params.set('received', '192.0.2.201');
    f3.addVia(top);
    const res = createResponse(f3, 200, {
      toTag: '37GkEhwl6',
      headers: [['Contact', '<sips:bob@client.biloxi.example.com>;expires=3600']],
    });
    const expect = parse(F.reg4) as SipResponse;
    const got = parse(res.toString()) as SipResponse;
    assert.equal(got.status, 200);
    assert.equal(got.reason, 'OK');
    assert.deepEqual(got.vias, expect.vias);
    assert.equal(got.toTag, expect.toTag);
    assert.equal(got.fromTag, expect.fromTag);
    assert.equal(got.callId, expect.callId);
    assert.deepEqual(got.cseq, expect.cseq);
    assert.deepEqual(got.contacts(), expect.contacts());
    assert.equal(got.contentLength, 0);
  });

  it('Contact: * with Expires: 0 removes all bindings', () => {
    const m = parse(F.unregisterAll);
    const c = m.contacts();
    assert.ok(c.ok);
    assert.equal(c.value.star, true);
    assert.deepEqual(m.expires(), { ok: true, value: 0 });
  });
});

describe('RFC 3261 24.2 session through two proxies', () => {
  it('the atlanta proxy turns F1 into F3', () => {
    const f1 = parse(F.inv1) as SipRequest;
    assert.equal(f1.maxForwards, 70);
    // received on the client's Via, then the proxy's own Via, Max-Forwards and Record-Route
    const top = f1.removeTopVia();
    assert.ok(top);
    top.params.set('received', '192.0.2.101');
    f1.addVia(top);
    f1.addVia(makeVia({ transport: 'TLS', host: 'ss1.atlanta.example.com', port: 5061, branch: 'z9hG4bK2d4790.1' }));
    assert.equal(f1.decrementMaxForwards(), 69);
    f1.prependRecordRoute('<sips:ss1.atlanta.example.com;lr>');
    const f3 = parse(F.inv3) as SipRequest;
    const got = parse(f1.toString()) as SipRequest;
    assert.deepEqual(got.vias, f3.vias);
    assert.equal(got.maxForwards, 69);
    assert.deepEqual(got.recordRoutes(), f3.recordRoutes());
    assert.deepEqual(got.body, f3.body);
    assert.equal(got.header('record-route'), '<sips:ss1.atlanta.example.com;lr>');
    // and the order of header names matches the RFC's F3
    assert.deepEqual(
      got.headers.map((h) => h.key),
      f3.headers.map((h) => h.key),
    );
  });

  it('180 Ringing: a proxy strips its Via and forwards to the next', () => {
    const r = parse(F.ringing) as SipResponse;
    assert.equal(r.vias.length, 3);
    const mine = r.removeTopVia();
    assert.equal(mine?.host, 'ss2.biloxi.example.com');
    assert.equal(r.topVia?.host, 'ss1.atlanta.example.com');
    assert.equal(r.topVia?.received, '192.0.2.111');
    const rr = r.recordRoutes();
    assert.ok(rr.ok);
    assert.equal(rr.value.length, 2);
    assert.equal(r.toTag, '314159');
  });

  it('ACK with a Route set in one comma list: pop the top Route', () => {
    const a = parse(F.ack) as SipRequest;
    const routes = a.routes();
    assert.ok(routes.ok);
    assert.equal(routes.value.length, 2);
    const first = a.popRoute();
    assert.equal(first, '<sips:ss1.atlanta.example.com;lr>');
    const rest = a.routes();
    assert.ok(rest.ok);
    assert.equal(rest.value.length, 1);
    const u = parseUri('sips:ss2.biloxi.example.com;lr');
    assert.ok(u.ok);
    assert.ok(uriEquals(rest.value[0].uri, u.value));
    assert.equal((rest.value[0].uri as SipUri).params.get('lr'), null);
    assert.equal(a.popRoute(), '<sips:ss2.biloxi.example.com;lr>');
    assert.equal(a.popRoute(), undefined);
    assert.equal(a.header('route'), undefined);
  });
});
