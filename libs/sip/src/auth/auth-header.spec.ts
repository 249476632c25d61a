import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getAuthParam, parseAuthHeader, serializeAuthHeader, quoteAuthString } from './auth-header';
import { RFC2617_AUTHORIZATION, RFC7616_CHALLENGE } from './testdata';

describe('parseAuthHeader', () => {
  it('parses the folded RFC 7616 challenge', () => {
    const r = parseAuthHeader(RFC7616_CHALLENGE);
    assert.ok(r.ok);
    assert.equal(r.value.length, 1);
    const h = r.value[0];
    assert.equal(h.scheme, 'Digest');
    assert.deepEqual(h.params, [
      { name: 'realm', value: 'http-auth@example.org', quoted: true },
      { name: 'qop', value: 'auth, auth-int', quoted: true },
      { name: 'algorithm', value: 'SHA-256', quoted: false },
      { name: 'nonce', value: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', quoted: true },
      { name: 'opaque', value: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS', quoted: true },
    ]);
  });

  it('looks parameters up case-insensitively and keeps the RFC 2617 values', () => {
    const r = parseAuthHeader(RFC2617_AUTHORIZATION);
    assert.ok(r.ok);
    const h = r.value[0];
    assert.equal(getAuthParam(h, 'USERNAME'), 'Mufasa');
    assert.equal(getAuthParam(h, 'nc'), '00000001');
    assert.equal(getAuthParam(h, 'response'), '6629fae49393a05397450978507c4ef1');
    assert.equal(getAuthParam(h, 'missing'), undefined);
  });

  it('unescapes quoted pairs and accepts whitespace around = and ,', () => {
    const r = parseAuthHeader('Digest  realm = "a \\"quoted\\" \\\\ realm" ,nonce="n"  ,  algorithm = MD5');
    assert.ok(r.ok);
    assert.deepEqual(
      r.value[0].params.map((p) => [p.name, p.value]),
      [
        ['realm', 'a "quoted" \\ realm'],
        ['nonce', 'n'],
        ['algorithm', 'MD5'],
      ],
    );
  });

  it('splits several challenges in one value (RFC 7235) and reads token68', () => {
    const r = parseAuthHeader('Digest realm="a", nonce="1", algorithm=SHA-256, Digest realm="a", nonce="1", Basic realm="x", Bearer abc.def==');
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((h) => h.scheme),
      ['Digest', 'Digest', 'Basic', 'Bearer'],
    );
    assert.equal(r.value[3].token68, 'abc.def==');
    const basic = parseAuthHeader('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
    assert.ok(basic.ok);
    assert.equal(basic.value[0].token68, 'QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
    const bare = parseAuthHeader('Negotiate');
    assert.ok(bare.ok);
    assert.deepEqual(bare.value, [{ scheme: 'Negotiate', params: [] }]);
  });

  const bad: [string, string][] = [
    ['', 'malformed-header'],
    ['   ', 'malformed-header'],
    ['Digest realm="unterminated', 'malformed-header'],
    ['Digest realm="a", nonce=', 'malformed-header'],
    ['Digest realm="a" nonce="b"', 'malformed-header'],
    ['Digest realm="a",, =x', 'malformed-header'],
    ['"Digest"', 'malformed-header'],
    ['Digest realm="a\0b"', 'malformed-header'],
    ['Digest realm="a\\', 'malformed-header'],
    ['Digest@ realm="a"', 'malformed-header'],
  ];
  for (const [text, code] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const r = parseAuthHeader(text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, code);
    });
  }

  it('enforces the length and parameter limits', () => {
    const long = parseAuthHeader(`Digest realm="${'x'.repeat(9000)}"`);
    assert.ok(!long.ok && long.error.code === 'too-large');
    const many = parseAuthHeader('Digest ' + Array.from({ length: 65 }, (_, i) => `p${i}=1`).join(', '));
    assert.ok(!many.ok && many.error.code === 'too-large');
    assert.ok(parseAuthHeader('Digest ' + Array.from({ length: 64 }, (_, i) => `p${i}=1`).join(', ')).ok);
    assert.ok(!parseAuthHeader('Digest realm="a"', { maxLength: 5 }).ok);
  });
});

describe('serializeAuthHeader', () => {
  it('writes quoted and token values and escapes', () => {
    const text = serializeAuthHeader({
      scheme: 'Digest',
      params: [
        { name: 'realm', value: 'a "b" \\ c', quoted: true },
        { name: 'algorithm', value: 'MD5', quoted: false },
        { name: 'odd', value: 'has space', quoted: false },
      ],
    });
    assert.equal(text, 'Digest realm="a \\"b\\" \\\\ c", algorithm=MD5, odd="has space"');
    const back = parseAuthHeader(text);
    assert.ok(back.ok);
    assert.equal(getAuthParam(back.value[0], 'realm'), 'a "b" \\ c');
  });
  it('never writes CR or LF (header injection)', () => {
    assert.equal(quoteAuthString('a\r\nVia: x'), '"aVia: x"');
  });
});
