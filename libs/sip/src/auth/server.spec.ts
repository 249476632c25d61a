import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DigestAuthenticator, equalHex, type DigestServerOptions } from './server';
import { computeAuthorization, challengesFromHeaders, selectChallenge } from './client';
import { computeHa1, parseDigestChallenge, serializeDigestCredentials, type DigestChallenge } from './digest';
import type { DigestAlgorithm } from './algorithms';

const REALM = 'sip.example.net';
const T0 = 1_763_700_000_000;
const USERS: Record<string, string> = { alice: 'wonderland', bob: 'builder' };
const lookup = (u: string) => (USERS[u] !== undefined ? { password: USERS[u] } : undefined);

function server(extra: Partial<DigestServerOptions> = {}): DigestAuthenticator {
  return new DigestAuthenticator({ realm: REALM, secret: 'a-secret-of-at-least-16-bytes', ...extra });
}

function answer(challenge: DigestChallenge, opts: { user?: string; password?: string; method?: string; uri?: string; nc?: number; body?: string; cnonce?: string; preferAuthInt?: boolean } = {}): string {
  const r = computeAuthorization(challenge, {
    username: opts.user ?? 'alice',
    password: opts.password ?? USERS[opts.user ?? 'alice'] ?? 'x',
    method: opts.method ?? 'REGISTER',
    uri: opts.uri ?? 'sip:sip.example.net',
    cnonce: opts.cnonce ?? 'cn0nce',
    ...(opts.nc !== undefined ? { nc: opts.nc } : {}),
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    ...(opts.preferAuthInt ? { preferAuthInt: true } : {}),
  });
  assert.ok(r.ok);
  return serializeDigestCredentials(r.value);
}

function firstChallenge(s: DigestAuthenticator, now = T0, algorithm?: DigestAlgorithm): DigestChallenge {
  const all = s.challenges({ now });
  return algorithm === undefined ? all[0] : all.find((c) => c.algorithm === algorithm)!;
}

describe('DigestAuthenticator challenges', () => {
  it('offers SHA-512-256, SHA-256 and MD5, strongest first, with one nonce and qop=auth', () => {
    const values = server().challengeHeaderValues({ now: T0 });
    assert.equal(values.length, 3);
    const parsed = values.map((v) => parseDigestChallenge(v));
    assert.deepEqual(
      parsed.map((p) => p.ok && p.value.algorithm),
      ['SHA-512-256', 'SHA-256', 'MD5'],
    );
    assert.ok(parsed.every((p) => p.ok && p.value.realm === REALM && p.value.qop?.join() === 'auth'));
    assert.equal(new Set(parsed.map((p) => p.ok && p.value.nonce)).size, 1);
    assert.match(values[0], /^Digest realm="sip\.example\.net", nonce="[A-Za-z0-9_-]{38}", algorithm=SHA-512-256, qop="auth"$/);
  });
  it('sorts configured algorithms and marks stale challenges', () => {
    const s = server({ algorithms: ['MD5', 'SHA-256-sess'], qop: ['auth', 'auth-int'], domain: 'sip:example.net' });
    const cs = s.challenges({ now: T0, stale: true });
    assert.deepEqual(
      cs.map((c) => c.algorithm),
      ['SHA-256-sess', 'MD5'],
    );
    assert.ok(cs.every((c) => c.stale === true && c.domain === 'sip:example.net'));
    assert.deepEqual(cs[0].qop, ['auth', 'auth-int']);
  });
  it('gives different nonces to two challenges issued in the same millisecond', () => {
    const s = server();
    assert.notEqual(firstChallenge(s).nonce, firstChallenge(s).nonce);
  });
});

describe('equalHex', () => {
  it('compares a lower-case digest with one written in either case, and nothing else as equal', () => {
    assert.ok(equalHex('0a1b2c3d4e5f', '0a1b2c3d4e5f'));
    assert.ok(equalHex('0a1b2c3d4e5f', '0A1B2C3D4E5F'));
    assert.ok(!equalHex('0a1b2c3d4e5f', '0a1b2c3d4e5e'));
    assert.ok(!equalHex('0a1b2c3d4e5f', '0a1b2c3d4e5'));
    assert.ok(!equalHex('', 'a'));
    // characters that differ from a digit only in the bit that lower-cases a letter are not that digit
    assert.ok(!equalHex('0a', '\x10a'));
    assert.ok(!equalHex('1a', '\x11A'));
  });
});

describe('DigestAuthenticator.authenticate', () => {
  const req = (now = T0 + 1000) => ({ method: 'REGISTER', now });

  for (const alg of ['SHA-512-256', 'SHA-256', 'MD5'] as const) {
    it(`accepts a right ${alg} response`, () => {
      const s = server();
      const out = s.authenticate([answer(firstChallenge(s, T0, alg))], req(), lookup);
      assert.deepEqual(out, { ok: true, value: { username: 'alice', realm: REALM, algorithm: alg, qop: 'auth' } });
    });
  }

  it('accepts -sess algorithms and auth-int over the body', () => {
    const s = server({ algorithms: ['SHA-256-sess', 'MD5-sess'], qop: ['auth-int'] });
    const body = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n';
    for (const alg of ['SHA-256-sess', 'MD5-sess'] as const) {
      const c = firstChallenge(s, T0, alg);
      const out = s.authenticate([answer(c, { method: 'INVITE', body })], { method: 'INVITE', body, now: T0 }, lookup);
      assert.ok(out.ok, JSON.stringify(out));
      assert.equal(out.value.qop, 'auth-int');
      const tampered = s.authenticate([answer(c, { method: 'INVITE', body, nc: 2 })], { method: 'INVITE', body: body + 'a=x\r\n', now: T0 }, lookup);
      assert.ok(!tampered.ok && tampered.error.code === 'wrong-response');
    }
  });

  it('verifies against a stored HA1 per algorithm', () => {
    const s = server();
    const ha1 = { 'SHA-256': computeHa1('SHA-256', 'alice', REALM, 'wonderland'), MD5: computeHa1('MD5', 'alice', REALM, 'wonderland') };
    const stored = () => ({ ha1 });
    assert.ok(s.authenticate([answer(firstChallenge(s, T0, 'SHA-256'))], req(), stored).ok);
    assert.ok(s.authenticate([answer(firstChallenge(s, T0, 'MD5'))], req(), stored).ok);
    const missing = s.authenticate([answer(firstChallenge(s, T0, 'SHA-512-256'))], req(), stored);
    assert.ok(!missing.ok && missing.error.code === 'unknown-algorithm');
  });

  it('rejects a wrong password with wrong-response', () => {
    const s = server();
    const out = s.authenticate([answer(firstChallenge(s), { password: 'guess' })], req(), lookup);
    assert.ok(!out.ok && out.error.code === 'wrong-response');
  });

  it('reuses a user HA1 only while the password stays the same, and keeps working once its table is emptied', () => {
    const s = server({ maxCachedHa1: 2 });
    const passwords: Record<string, string> = { alice: 'wonderland', bob: 'builder', carol: 'singer' };
    const current = (u: string) => (passwords[u] !== undefined ? { password: passwords[u] } : undefined);
    const tryAs = (user: string, password: string, alg: DigestAlgorithm = 'MD5') =>
      s.authenticate([answer(firstChallenge(s, T0, alg), { user, password })], req(), current);
    assert.ok(tryAs('alice', 'wonderland').ok);
    assert.ok(tryAs('alice', 'wonderland').ok);
    // the password changed: the HA1 of the old one must not let the old password in
    passwords.alice = 'looking-glass';
    const old = tryAs('alice', 'wonderland');
    assert.ok(!old.ok && old.error.code === 'wrong-response');
    assert.ok(tryAs('alice', 'looking-glass').ok);
    // another hash of the same user is another HA1
    assert.ok(tryAs('alice', 'looking-glass', 'SHA-256').ok);
    // more users than the table holds: it is emptied, and every user still gets in with the right password only
    for (const user of ['bob', 'carol', 'alice', 'bob', 'carol']) {
      assert.ok(tryAs(user, passwords[user]).ok, user);
      const wrong = tryAs(user, 'guess');
      assert.ok(!wrong.ok && wrong.error.code === 'wrong-response', user);
    }
    const none = server({ maxCachedHa1: 0 });
    assert.ok(none.authenticate([answer(firstChallenge(none))], req(), lookup).ok);
  });

  it('reports missing credentials, bad realm, unknown user and malformed input', () => {
    const s = server();
    const none = s.authenticate([], req(), lookup);
    assert.ok(!none.ok && none.error.code === 'missing-credentials');
    const basic = s.authenticate(['Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='], req(), lookup);
    assert.ok(!basic.ok && basic.error.code === 'missing-credentials');
    const other = s.authenticate([answer({ ...firstChallenge(s), realm: 'other.example' })], req(), lookup);
    assert.ok(!other.ok && other.error.code === 'bad-realm');
    const unknown = s.authenticate([answer(firstChallenge(s), { user: 'mallory' })], req(), lookup);
    assert.ok(!unknown.ok && unknown.error.code === 'unknown-user');
    const broken = s.authenticate(['Digest username="alice'], req(), lookup);
    assert.ok(!broken.ok && broken.error.code === 'malformed');
    const noUri = s.authenticate([`Digest username="alice", realm="${REALM}", nonce="x", response="y"`], req(), lookup);
    assert.ok(!noUri.ok && noUri.error.code === 'malformed');
  });

  it('finds the credentials for its realm among several Proxy-Authorization values (RFC 3261 22.3)', () => {
    const s = server();
    const mine = answer(firstChallenge(s));
    const theirs = answer({ ...firstChallenge(s), realm: 'upstream.example' });
    assert.ok(s.authenticate([theirs, mine], req(), lookup).ok);
  });

  it('rejects an algorithm it did not offer', () => {
    const s = server({ algorithms: ['SHA-256'] });
    const c = firstChallenge(s);
    const md5 = s.authenticate([answer({ ...c, algorithm: 'MD5' })], req(), lookup);
    assert.ok(!md5.ok && md5.error.code === 'unknown-algorithm');
    const weird = s.authenticate([answer(c).replace('algorithm=SHA-256', 'algorithm=SHA-1')], req(), lookup);
    assert.ok(!weird.ok && weird.error.code === 'unknown-algorithm');
  });

  it('refuses a nonce it did not make: stale when the response proves the password, else invalid-nonce', () => {
    const s = server();
    const c = firstChallenge(s);
    const forged = s.authenticate([answer({ ...c, nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093' })], req(), lookup);
    assert.ok(!forged.ok && forged.error.code === 'stale-nonce');
    const forgedWrong = s.authenticate([answer({ ...c, nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093' }, { password: 'guess' })], req(), lookup);
    assert.ok(!forgedWrong.ok && forgedWrong.error.code === 'invalid-nonce');
    const flipped = c.nonce.slice(0, 5) + (c.nonce[5] === 'A' ? 'B' : 'A') + c.nonce.slice(6);
    const tampered = s.authenticate([answer({ ...c, nonce: flipped }, { password: 'guess' })], req(), lookup);
    assert.ok(!tampered.ok && tampered.error.code === 'invalid-nonce');
    const unknownUser = s.authenticate([answer({ ...c, nonce: flipped }, { user: 'mallory' })], req(), lookup);
    assert.ok(!unknownUser.ok && unknownUser.error.code === 'invalid-nonce');
    // a node with another secret (rotated) makes a right client retry silently
    const otherSecret = server({ secret: 'another-secret-of-16-bytes' });
    const foreign = otherSecret.authenticate([answer(c)], req(), lookup);
    assert.ok(!foreign.ok && foreign.error.code === 'stale-nonce');
    const future = s.authenticate([answer(firstChallenge(s, T0 + 60_000), { password: 'guess' })], req(T0), lookup);
    assert.ok(!future.ok && future.error.code === 'invalid-nonce');
    assert.equal(s.trackedNonces, 0); // nothing counted for refused nonces
  });

  it('answers stale-nonce for an expired nonce with a right response, wrong-response otherwise', () => {
    const s = server({ nonceLifetimeMs: 30_000 });
    const c = firstChallenge(s);
    assert.ok(s.authenticate([answer(c)], req(T0 + 30_000), lookup).ok); // exactly at the lifetime: still fresh
    const stale = s.authenticate([answer(c, { nc: 2 })], req(T0 + 30_001), lookup);
    assert.ok(!stale.ok && stale.error.code === 'stale-nonce');
    const wrong = s.authenticate([answer(c, { nc: 3, password: 'bad' })], req(T0 + 30_001), lookup);
    assert.ok(!wrong.ok && wrong.error.code === 'wrong-response');
    // the client retries with the fresh challenge carrying stale=true
    const retry = s.challenges({ now: T0 + 30_001, stale: true });
    assert.equal(retry[0].stale, true);
    assert.ok(s.authenticate([answer(retry[0])], req(T0 + 30_002), lookup).ok);
  });

  it('rejects a replayed or lower nonce-count and accepts a higher one', () => {
    const s = server();
    const c = firstChallenge(s);
    assert.ok(s.authenticate([answer(c, { nc: 1 })], req(), lookup).ok);
    const again = s.authenticate([answer(c, { nc: 1 })], req(), lookup);
    assert.ok(!again.ok && again.error.code === 'replay');
    assert.ok(s.authenticate([answer(c, { nc: 5 })], req(), lookup).ok);
    const lower = s.authenticate([answer(c, { nc: 4 })], req(), lookup);
    assert.ok(!lower.ok && lower.error.code === 'replay');
    assert.ok(s.authenticate([answer(c, { nc: 6 })], req(), lookup).ok);
    assert.equal(s.trackedNonces, 1);
  });

  it('does not let a forged request with a high nc burn the counter', () => {
    const s = server();
    const c = firstChallenge(s);
    const forged = s.authenticate([answer(c, { nc: 0xffff, password: 'bad' })], req(), lookup);
    assert.ok(!forged.ok && forged.error.code === 'wrong-response');
    assert.ok(s.authenticate([answer(c, { nc: 1 })], req(), lookup).ok);
  });

  it('accepts an RFC 2069 style response once per nonce, and can refuse it', () => {
    const s = server({ qop: [] });
    const c = firstChallenge(s);
    assert.equal(c.qop, undefined);
    const creds = answer(c);
    assert.ok(!creds.includes('qop='));
    assert.ok(s.authenticate([creds], req(), lookup).ok);
    const replay = s.authenticate([creds], req(), lookup);
    assert.ok(!replay.ok && replay.error.code === 'replay');
    const strict = server({ allowNoQop: false });
    const noQop = strict.authenticate([answer({ ...firstChallenge(strict), qop: undefined })], req(), lookup);
    assert.ok(!noQop.ok && noQop.error.code === 'malformed');
  });

  it('refuses a qop it did not offer', () => {
    const s = server({ qop: ['auth'] });
    const out = s.authenticate([answer({ ...firstChallenge(s), qop: ['auth-int'] })], req(), lookup);
    assert.ok(!out.ok && out.error.code === 'malformed');
  });

  it('binds nonces to the client address when asked', () => {
    const s = server({ bindClientAddress: true });
    const c = s.challenges({ now: T0, clientAddress: '198.51.100.7' })[0];
    assert.ok(s.authenticate([answer(c)], { method: 'REGISTER', now: T0, clientAddress: '198.51.100.7' }, lookup).ok);
    const moved = s.authenticate([answer(c, { nc: 2 })], { method: 'REGISTER', now: T0, clientAddress: '203.0.113.9' }, lookup);
    assert.ok(!moved.ok && moved.error.code === 'stale-nonce'); // right password: retry with a nonce for the new address
    const movedWrong = s.authenticate([answer(c, { nc: 3, password: 'guess' })], { method: 'REGISTER', now: T0, clientAddress: '203.0.113.9' }, lookup);
    assert.ok(!movedWrong.ok && movedWrong.error.code === 'invalid-nonce');
  });

  it('checks the digest uri against the Request-URI when given', () => {
    const s = server();
    const c = firstChallenge(s);
    assert.ok(s.authenticate([answer(c, { uri: 'sip:sip.example.net' })], { method: 'REGISTER', now: T0, requestUri: 'sip:sip.example.net' }, lookup).ok);
    const other = s.authenticate([answer(c, { uri: 'sip:elsewhere', nc: 2 })], { method: 'REGISTER', now: T0, requestUri: 'sip:sip.example.net' }, lookup);
    assert.ok(!other.ok && other.error.code === 'wrong-response');
  });

  it('uses the method in the digest (a REGISTER response is not valid for INVITE)', () => {
    const s = server();
    const out = s.authenticate([answer(firstChallenge(s), { method: 'REGISTER' })], { method: 'INVITE', now: T0 }, lookup);
    assert.ok(!out.ok && out.error.code === 'wrong-response');
  });

  it('interoperates with a client choosing from header values', () => {
    const s = server();
    const chosen = selectChallenge(challengesFromHeaders(s.challengeHeaderValues({ now: T0 })));
    assert.equal(chosen?.algorithm, 'SHA-512-256');
    assert.ok(s.authenticate([answer(chosen)], req(), lookup).ok);
  });
});
