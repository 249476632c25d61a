import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { algorithmInfo, strongestFirst } from './algorithms';
import {
  computeDigestResponse,
  computeHa1,
  parseDigestChallenge,
  parseDigestCredentials,
  serializeDigestChallenge,
  serializeDigestCredentials,
} from './digest';
import { computeAuthorization, selectChallenge, challengesFromHeaders } from './client';
import { serializeAuthHeader } from './auth-header';
import { RFC2617, RFC2617_AUTHORIZATION, RFC2617_CHALLENGE, RFC7616, RFC7616_AUTHORIZATION_SHA256, RFC7616_CHALLENGE } from './testdata';

const h = (alg: string, s: string | Buffer): string => createHash(alg).update(s).digest('hex');

describe('RFC 7616 section 3.9.1 example (Mufasa)', () => {
  it('computes the SHA-256 response', () => {
    const ha1 = computeHa1('SHA-256', RFC7616.username, RFC7616.realm, RFC7616.password);
    const r = computeDigestResponse({ algorithm: algorithmInfo('SHA-256')!, ha1, nonce: RFC7616.nonce, method: 'GET', uri: RFC7616.uri, qop: 'auth', nc: RFC7616.nc, cnonce: RFC7616.cnonce });
    assert.equal(r, RFC7616.sha256Response);
  });
  it('computes the MD5 response', () => {
    const ha1 = computeHa1('MD5', RFC7616.username, RFC7616.realm, RFC7616.password);
    const r = computeDigestResponse({ algorithm: algorithmInfo('MD5')!, ha1, nonce: RFC7616.nonce, method: 'GET', uri: RFC7616.uri, qop: 'auth', nc: RFC7616.nc, cnonce: RFC7616.cnonce });
    assert.equal(r, RFC7616.md5Response);
  });
  it('parses the challenge and the Authorization', () => {
    const c = parseDigestChallenge(RFC7616_CHALLENGE);
    assert.ok(c.ok);
    assert.deepEqual(c.value, { realm: RFC7616.realm, nonce: RFC7616.nonce, opaque: RFC7616.opaque, algorithm: 'SHA-256', qop: ['auth', 'auth-int'] });
    const a = parseDigestCredentials(RFC7616_AUTHORIZATION_SHA256);
    assert.ok(a.ok);
    assert.deepEqual(a.value, {
      username: 'Mufasa',
      realm: RFC7616.realm,
      nonce: RFC7616.nonce,
      uri: RFC7616.uri,
      response: RFC7616.sha256Response,
      algorithm: 'SHA-256',
      cnonce: RFC7616.cnonce,
      opaque: RFC7616.opaque,
      qop: 'auth',
      nc: '00000001',
    });
  });
  it('the client answers the parsed challenge with the RFC response (SHA-256 and MD5)', () => {
    const c = parseDigestChallenge(RFC7616_CHALLENGE);
    assert.ok(c.ok);
    const input = { username: 'Mufasa', password: RFC7616.password, method: 'GET', uri: RFC7616.uri, cnonce: RFC7616.cnonce };
    const sha = computeAuthorization(c.value, input);
    assert.ok(sha.ok);
    assert.equal(sha.value.response, RFC7616.sha256Response);
    assert.equal(sha.value.opaque, RFC7616.opaque);
    assert.equal(sha.value.qop, 'auth');
    assert.equal(sha.value.nc, '00000001');
    const md5 = computeAuthorization({ ...c.value, algorithm: 'MD5' }, input);
    assert.ok(md5.ok);
    assert.equal(md5.value.response, RFC7616.md5Response);
  });
});

describe('RFC 2617 section 3.5 example', () => {
  it('computes the response from the password and from a stored HA1', () => {
    const c = parseDigestChallenge(RFC2617_CHALLENGE);
    assert.ok(c.ok);
    const input = { username: 'Mufasa', password: RFC2617.password, method: 'GET', uri: RFC2617.uri, cnonce: RFC2617.cnonce };
    const a = computeAuthorization(c.value, input);
    assert.ok(a.ok);
    assert.equal(a.value.response, RFC2617.response);
    const ha1 = computeHa1('MD5', 'Mufasa', RFC2617.realm, RFC2617.password);
    const b = computeAuthorization(c.value, { username: 'Mufasa', ha1: { MD5: ha1 }, method: 'GET', uri: RFC2617.uri, cnonce: RFC2617.cnonce });
    assert.ok(b.ok);
    assert.equal(b.value.response, RFC2617.response);
  });
  it('round-trips the Authorization through serialise and parse', () => {
    const a = parseDigestCredentials(RFC2617_AUTHORIZATION);
    assert.ok(a.ok);
    const text = serializeDigestCredentials(a.value);
    assert.equal(
      text,
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", ' +
        'response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001',
    );
    const again = parseDigestCredentials(text);
    assert.ok(again.ok);
    assert.deepEqual(again.value, a.value);
  });
});

describe('digest computation', () => {
  it('follows RFC 7616 for SHA-512-256, -sess and auth-int', () => {
    const base = { nonce: 'n1', method: 'INVITE', uri: 'sip:bob@example.com', nc: '00000002', cnonce: 'c1' };
    const ha1 = h('sha512-256', 'alice:example.com:secret');
    assert.equal(computeHa1('SHA-512-256', 'alice', 'example.com', 'secret'), ha1);
    const ha2 = h('sha512-256', 'INVITE:sip:bob@example.com');
    assert.equal(computeDigestResponse({ ...base, algorithm: algorithmInfo('SHA-512-256')!, ha1, qop: 'auth' }), h('sha512-256', `${ha1}:n1:00000002:c1:auth:${ha2}`));
    const sessHa1 = h('sha256', `${h('sha256', 'alice:example.com:secret')}:n1:c1`);
    const ha2s = h('sha256', 'INVITE:sip:bob@example.com');
    assert.equal(
      computeDigestResponse({ ...base, algorithm: algorithmInfo('sha-256-SESS')!, ha1: h('sha256', 'alice:example.com:secret'), qop: 'auth' }),
      h('sha256', `${sessHa1}:n1:00000002:c1:auth:${ha2s}`),
    );
    const body = 'v=0\r\n';
    const ha2i = h('md5', `INVITE:sip:bob@example.com:${h('md5', body)}`);
    const md5Ha1 = h('md5', 'alice:example.com:secret');
    assert.equal(computeDigestResponse({ ...base, algorithm: algorithmInfo('MD5')!, ha1: md5Ha1, qop: 'auth-int', body }), h('md5', `${md5Ha1}:n1:00000002:c1:auth-int:${ha2i}`));
    // auth-int with no body hashes the empty body
    const ha2e = h('md5', `INVITE:sip:bob@example.com:${h('md5', '')}`);
    assert.equal(computeDigestResponse({ ...base, algorithm: algorithmInfo('MD5')!, ha1: md5Ha1, qop: 'auth-int' }), h('md5', `${md5Ha1}:n1:00000002:c1:auth-int:${ha2e}`));
    // RFC 2069 style (no qop)
    assert.equal(computeDigestResponse({ ...base, algorithm: algorithmInfo(undefined)!, ha1: md5Ha1 }), h('md5', `${md5Ha1}:n1:${h('md5', 'INVITE:sip:bob@example.com')}`));
    // -sess without cnonce cannot be computed
    assert.equal(computeDigestResponse({ algorithm: algorithmInfo('MD5-sess')!, ha1: md5Ha1, nonce: 'n', method: 'A', uri: 'u' }), undefined);
  });

  it('orders algorithms strongest first and knows them case-insensitively', () => {
    assert.deepEqual(strongestFirst(['MD5', 'SHA-512-256', 'SHA-256']), ['SHA-512-256', 'SHA-256', 'MD5']);
    assert.equal(algorithmInfo('md5-sess')?.name, 'MD5-sess');
    assert.equal(algorithmInfo(undefined)?.name, 'MD5');
    assert.equal(algorithmInfo('SHA-1'), undefined);
  });
});

describe('typed challenge and credentials', () => {
  it('serialises a challenge the SIP way and parses it back', () => {
    const text = serializeDigestChallenge({ realm: 'atlanta.com', domain: 'sip:ss1.carrier.com', nonce: 'f84f1cec41e6cbe5aea9c8e88d359', opaque: '', stale: false, algorithm: 'MD5', qop: ['auth'] });
    assert.equal(text, 'Digest realm="atlanta.com", domain="sip:ss1.carrier.com", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=false, algorithm=MD5, qop="auth"');
    const c = parseDigestChallenge(text);
    assert.ok(c.ok);
    assert.equal(c.value.stale, false);
    assert.equal(c.value.opaque, '');
    const stale = parseDigestChallenge('Digest realm="a", nonce="b", stale=TRUE');
    assert.ok(stale.ok && stale.value.stale === true);
  });
  it('writes a challenge as serializeAuthHeader writes its parameters (quoting, escaping, a non-token algorithm, extras)', () => {
    const c = { realm: 'a "b" \\ c', domain: 'sip:d', nonce: 'n\r\nx', opaque: 'o', stale: true, algorithm: 'SHA 256', qop: ['auth', 'auth-int'], extra: [{ name: 'charset', value: 'UTF-8', quoted: false }, { name: 'p', value: 'v w', quoted: true }] };
    const params = [
      { name: 'realm', value: c.realm, quoted: true },
      { name: 'domain', value: c.domain, quoted: true },
      { name: 'nonce', value: c.nonce, quoted: true },
      { name: 'opaque', value: c.opaque, quoted: true },
      { name: 'stale', value: 'true', quoted: false },
      { name: 'algorithm', value: c.algorithm, quoted: false },
      { name: 'qop', value: 'auth,auth-int', quoted: true },
      ...c.extra,
    ];
    assert.equal(serializeDigestChallenge(c), serializeAuthHeader({ scheme: 'Digest', params }));
    assert.equal(serializeDigestChallenge({ realm: 'r', nonce: 'n' }), 'Digest realm="r", nonce="n"');
  });
  it('keeps unknown parameters', () => {
    const c = parseDigestChallenge('Digest realm="a", nonce="b", charset=UTF-8');
    assert.ok(c.ok);
    assert.deepEqual(c.value.extra, [{ name: 'charset', value: 'UTF-8', quoted: false }]);
    assert.equal(serializeDigestChallenge(c.value), 'Digest realm="a", nonce="b", charset=UTF-8');
  });
  const badCreds: [string, string][] = [
    ['Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==', 'not-digest'],
    ['Digest realm="a", nonce="b", uri="u", response="r"', 'missing-parameter'],
    ['Digest username="u", realm="a", nonce="b", uri="u", response="r", qop=auth, cnonce="c"', 'missing-parameter'],
    ['Digest username="u", realm="a", nonce="b", uri="u", response="r", qop=auth, nc=00000001', 'missing-parameter'],
    ['Digest username="u", realm="a", nonce="b", uri="u", response="r", qop=auth, nc=1, cnonce="c"', 'bad-parameter'],
    ['Digest username="u", username="v", realm="a", nonce="b", uri="u", response="r"', 'bad-parameter'],
    ['Digest username="u', 'malformed-header'],
  ];
  for (const [text, code] of badCreds) {
    it(`rejects credentials ${text.slice(0, 50)}... with ${code}`, () => {
      const r = parseDigestCredentials(text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, code);
    });
  }
  it('requires realm and nonce in a challenge', () => {
    const r = parseDigestChallenge('Digest realm="a"');
    assert.ok(!r.ok && r.error.code === 'missing-parameter');
    const n = parseDigestChallenge('Basic realm="a"');
    assert.ok(!n.ok && n.error.code === 'not-digest');
  });
});

describe('client', () => {
  it('selects the strongest supported challenge (RFC 8760)', () => {
    const challenges = challengesFromHeaders([
      'Digest realm="r", nonce="n", algorithm=MD5, qop="auth"',
      'Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"',
      'Digest realm="r", nonce="n", algorithm=SHA-512-256, qop="auth"',
      'Digest realm="r", nonce="n", algorithm=SHA3-999, qop="auth"',
      'Basic realm="r"',
      'Digest realm="broken',
    ]);
    assert.equal(challenges.length, 4);
    assert.equal(selectChallenge(challenges)?.algorithm, 'SHA-512-256');
    assert.equal(selectChallenge(challenges.slice(0, 1))?.algorithm, 'MD5');
    assert.equal(selectChallenge([]), undefined);
  });
  it('picks qop, pads nc and refuses what it cannot answer', () => {
    const base = { realm: 'r', nonce: 'n' };
    const input = { username: 'u', password: 'p', method: 'REGISTER', uri: 'sip:r', cnonce: 'c', nc: 0x1f };
    const a = computeAuthorization({ ...base, qop: ['auth-int', 'auth'] }, input);
    assert.ok(a.ok && a.value.qop === 'auth' && a.value.nc === '0000001f');
    const b = computeAuthorization({ ...base, qop: ['auth-int', 'auth'] }, { ...input, preferAuthInt: true, body: 'x' });
    assert.ok(b.ok && b.value.qop === 'auth-int');
    const none = computeAuthorization(base, input);
    assert.ok(none.ok && none.value.qop === undefined && none.value.nc === undefined && none.value.cnonce === undefined);
    const unknownQop = computeAuthorization({ ...base, qop: ['auth-conf'] }, input);
    assert.ok(!unknownQop.ok && unknownQop.error.code === 'unsupported-qop');
    const unknownAlg = computeAuthorization({ ...base, algorithm: 'SHA-1' }, input);
    assert.ok(!unknownAlg.ok && unknownAlg.error.code === 'unknown-algorithm');
    const noSecret = computeAuthorization({ ...base, algorithm: 'SHA-256' }, { username: 'u', ha1: { MD5: 'x' }, method: 'A', uri: 'b' });
    assert.ok(!noSecret.ok && noSecret.error.code === 'missing-secret');
    const random = computeAuthorization({ ...base, qop: ['auth'] }, { username: 'u', password: 'p', method: 'A', uri: 'b' });
    assert.ok(random.ok && /^[A-Za-z0-9_-]{22}$/.test(random.value.cnonce ?? ''));
  });
});
