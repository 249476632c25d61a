import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAuthHeader, serializeAuthHeader } from './auth-header';
import { digestCredentialsFrom, parseDigestChallenge, parseDigestCredentials, plainDigestCredentials, serializeDigestCredentials } from './digest';
import { DigestAuthenticator } from './server';
import { computeAuthorization } from './client';

const tokenChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&\'*+-.^_`|~'.split('');
const token = fc.array(fc.constantFrom(...tokenChars), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
const quotedText = fc.string({ maxLength: 20 }).map((s) => s.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '')); // eslint-disable-line no-control-regex
const param = fc.oneof(
  fc.record({ name: token, value: quotedText, quoted: fc.constant(true) }),
  fc.record({ name: token, value: token, quoted: fc.constant(false) }),
);
const header = fc.record({ scheme: token, params: fc.array(param, { minLength: 1, maxLength: 8 }) });

describe('auth header properties', () => {
  it('parse(serialise(h)) === h', () => {
    fc.assert(
      fc.property(header, (h) => {
        const r = parseAuthHeader(serializeAuthHeader(h));
        assert.ok(r.ok, r.ok ? '' : r.error.reason);
        assert.deepEqual(r.value, [{ scheme: h.scheme, params: h.params.map((p) => ({ ...p })) }]);
      }),
      { numRuns: 1000 },
    );
  });

  it('no input throws or hangs', () => {
    const pieces = fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('Digest ', '"', '\\', ',', '=', ' ', '\r\n ', 'realm=', 'nonce="', 'nc=00000001', 'qop=auth')), { maxLength: 40 });
    const input = fc.oneof(fc.string({ maxLength: 300 }), pieces.map((p) => p.join('')), fc.string({ unit: 'binary', maxLength: 200 }));
    const s = new DigestAuthenticator({ realm: 'r', secret: 'x'.repeat(16) });
    fc.assert(
      fc.property(input, (x) => {
        parseAuthHeader(x);
        parseDigestChallenge(x);
        parseDigestCredentials(x);
        const out = s.authenticate([x], { method: 'REGISTER', now: 1e12 }, () => ({ password: 'p' }));
        assert.equal(typeof out.ok, 'boolean');
      }),
      { numRuns: 3000 },
    );
  });

  it('a long hostile value is refused by its length before it is parsed, and a flood of parameters by their count', () => {
    for (const v of ['Digest ' + 'a=b,'.repeat(100_000), 'Digest realm="' + '\\"'.repeat(1_000_000), ','.repeat(1_000_000)]) {
      const r = parseAuthHeader(v);
      assert.ok(!r.ok && r.error.code === 'too-large' && r.error.reason === 'header value longer than 8192', JSON.stringify(r).slice(0, 200));
    }
    const flood = parseAuthHeader('Digest ' + 'a=b,'.repeat(1000), { maxLength: 1_000_000 });
    assert.ok(!flood.ok && flood.error.code === 'too-large' && flood.error.reason === 'more than 64 parameters');
    assert.ok(parseAuthHeader('Digest ' + 'a=b,'.repeat(64), { maxLength: 1_000_000 }).ok);
  });
});

describe('plain Digest credentials (the fast path of every authenticated request)', () => {
  const NAMES = ['username', 'realm', 'nonce', 'uri', 'response', 'algorithm', 'cnonce', 'opaque', 'qop', 'nc'];
  const anyCase = (w: string) => fc.array(fc.boolean(), { minLength: w.length, maxLength: w.length }).map((up) => [...w].map((ch, i) => (up[i] ? ch.toUpperCase() : ch)).join(''));
  const name = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...NAMES).chain(anyCase) }, { weight: 1, arbitrary: fc.constantFrom('stale', 'foo', 'x-y') });
  const ws = fc.constantFrom('', ' ', '  ', '\t', ' \t');
  const text = fc.oneof(
    { weight: 20, arbitrary: fc.string({ maxLength: 12 }).map((x) => x.replace(/["\\\x00-\x1f\x7f]/g, '')) }, // eslint-disable-line no-control-regex
    { weight: 1, arbitrary: fc.string({ maxLength: 8, unit: 'binary' }) },
    { weight: 1, arbitrary: fc.constantFrom('a\\"b', 'x\r\n y', 'tab\there', '00000001', '') },
  );
  const valueOf = (n: string) =>
    n.toLowerCase() === 'nc'
      ? fc.oneof({ weight: 20, arbitrary: fc.constantFrom('00000001', '0000000a') }, { weight: 1, arbitrary: fc.constantFrom('0000000G', '1', '"00000001"') })
      : fc.oneof({ weight: 24, arbitrary: text.map((x) => `"${x}"`) }, { weight: 8, arbitrary: token }, { weight: 1, arbitrary: fc.constantFrom('', '"unterminated', '==') });
  const sep = fc.constantFrom(',', ', ', ' ,', ',,', ', ,', ' ', ',\r\n ');
  // optional parameters: qop needs nc and cnonce with it
  const optional = fc.subarray([['algorithm'], ['opaque'], ['qop', 'nc', 'cnonce'], ['cnonce']]).map((groups) => [...new Set(groups.flat())]);
  // the five parameters credentials need and some of the optional ones, each once, in any order and case;
  // then, now and again, one more parameter (unknown, or a name given twice) or one left out
  const params = fc
    .tuple(optional.chain((o) => fc.shuffledSubarray([...NAMES.slice(0, 5), ...o], { minLength: 5 + o.length })), fc.nat(), fc.oneof({ weight: 4, arbitrary: fc.constant([] as string[]) }, { weight: 1, arbitrary: fc.array(name, { maxLength: 2 }) }), fc.boolean())
    .chain(([names, cut, more, drop]) => {
      const list = [...names, ...more];
      if (drop && cut % 4 === 0) list.splice(cut % list.length, 1);
      return fc.tuple(...list.map((n) => anyCase(n).chain((nm) => fc.tuple(fc.constant(nm), ws, ws, valueOf(n)).map(([x, a, b, v]) => `${x}${a}=${b}${v}`))));
    });
  const value = fc
    .tuple(
      fc.oneof({ weight: 6, arbitrary: fc.constant('Digest') }, { weight: 1, arbitrary: fc.constantFrom('digest', 'DIGEST', 'Digestx', 'Basic', ' Digest', ',Digest') }),
      fc.constantFrom(' ', '\t', '  ', ''),
      params,
      fc.array(fc.oneof({ weight: 30, arbitrary: fc.constantFrom(',', ', ') }, { weight: 1, arbitrary: sep }), { minLength: 16, maxLength: 16 }),
      fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(' ', ',', ', Basic xyz') }),
    )
    .map(([scheme, gap, ps, seps, tail]) => scheme + gap + ps.map((x, i) => (i === 0 ? x : seps[i] + x)).join('') + tail);

  it('gives exactly the credentials the general parser reads, or leaves the value to it', () => {
    let taken = 0;
    fc.assert(
      fc.property(value, (v) => {
        const fast = plainDigestCredentials(v);
        if (fast === undefined) return;
        taken++;
        const general = parseAuthHeader(v);
        assert.ok(general.ok, `general parser refused ${JSON.stringify(v)}`);
        assert.equal(general.value.length, 1, JSON.stringify(v));
        const c = digestCredentialsFrom(general.value[0]);
        assert.ok(c.ok, JSON.stringify(v));
        assert.deepEqual(fast, c.value, JSON.stringify(v));
      }),
      { numRuns: 5000, seed: 20261122 },
    );
    // the generator reaches the fast path often enough for the comparison to mean something
    assert.ok(taken > 1000, `fast path taken ${taken} times`);
  });

  it('reads what SIP clients send, and leaves to the general parser what it does not read the same way', () => {
    const sipp =
      'Digest username="bench",realm="sip.example.net",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:127.0.0.1:5060",nonce="AZ_x-09",response="0123456789abcdef0123456789abcdef",algorithm=MD5';
    const baresip =
      'Digest username="alice", realm="sip.example.net", nonce="AZ_x-09", uri="sip:sip.example.net", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="3fa2", qop=auth, nc=00000001';
    const withOpaque = 'Digest username="a",realm="r",nonce="n",uri="sip:r",response="00",opaque="",algorithm=SHA-256';
    for (const v of [sipp, baresip, withOpaque]) {
      const fast = plainDigestCredentials(v);
      assert.ok(fast !== undefined, v);
      const general = parseDigestCredentials(v);
      assert.ok(general.ok);
      assert.deepEqual(fast, general.value);
    }
    assert.equal(plainDigestCredentials(withOpaque)!.opaque, '');
    for (const v of [
      baresip.replace('username="alice"', 'username="al\\"ice"'), // an escape
      baresip + ', foo=bar', // a parameter it does not know (kept as extra by the general parser)
      baresip + ', realm="other"', // given twice
      baresip.replace(', response="0123456789abcdef0123456789abcdef"', ''), // missing
      baresip.replace('nc=00000001', 'nc=1'), // bad nc
      baresip + ', Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==', // a second scheme
      baresip.replace('Digest ', 'Digest\r\n '),
      'Digest ' + 'x'.repeat(9000),
    ])
      assert.equal(plainDigestCredentials(v), undefined, v);
    assert.equal(plainDigestCredentials(baresip, { maxParams: 5 }), undefined);
    assert.equal(plainDigestCredentials(baresip, { maxLength: 100 }), undefined);
  });
});

describe('digest properties', () => {
  it('the client and the server agree for any user, password, method and uri', () => {
    const alg = fc.constantFrom('MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess' as const);
    const text = fc.string({ minLength: 1, maxLength: 16 }).map((s) => s.replace(/[\x00-\x1f\x7f"\\]/g, 'x')); // eslint-disable-line no-control-regex
    fc.assert(
      fc.property(alg, text, fc.string({ maxLength: 16 }), token, text, fc.boolean(), fc.string({ maxLength: 40 }), (a, user, password, method, uri, authInt, body) => {
        const s = new DigestAuthenticator({ realm: 'r.example', secret: 's'.repeat(16), algorithms: [a], qop: ['auth', 'auth-int'] });
        const [challenge] = s.challenges({ now: 1e12 });
        const c = computeAuthorization(challenge, { username: user, password, method, uri, body, preferAuthInt: authInt });
        assert.ok(c.ok);
        const header = serializeDigestCredentials(c.value);
        const out = s.authenticate([header], { method, body, now: 1e12 + 1 }, (u) => (u === user ? { password } : undefined));
        assert.ok(out.ok, JSON.stringify(out));
        const wrong = s.authenticate([header.replace(/nc=00000001/, 'nc=00000002')], { method, body, now: 1e12 + 1 }, () => ({ password: password + 'x' }));
        assert.ok(!wrong.ok && wrong.error.code === 'wrong-response');
      }),
      { numRuns: 300 },
    );
  });
});
