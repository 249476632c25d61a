import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attr,
  LongTermPolicy,
  OutAttribute,
  PasswordAlgorithm,
  StunClass,
  StunMethod,
  attributeValue,
  beginLongTerm,
  decodeMessage,
  encodeMessage,
  longTermChallenge,
  longTermKey,
  newTransactionId,
  nonceFeatures,
  userhash,
  verifyLongTerm,
} from './index';

const now = 1_700_000_000_000;
const ip = '198.51.100.9';
const policy: LongTermPolicy = { realm: 'example.org', nonceSecret: Buffer.from('s3cret'), nonceLifetime: 600 };
const modern: LongTermPolicy = { ...policy, passwordAlgorithms: [PasswordAlgorithm.SHA256, PasswordAlgorithm.MD5], userhash: true };

function req(attrs: OutAttribute[], opts: { key?: Buffer; sha256?: boolean } = {}) {
  const b = encodeMessage({ method: StunMethod.Allocate, cls: StunClass.Request, transactionId: newTransactionId() }, attrs, {
    integrityKey: opts.key && !opts.sha256 ? opts.key : undefined,
    integritySha256Key: opts.key && opts.sha256 ? opts.key : undefined,
  });
  const d = decodeMessage(b);
  assert.ok(d.ok);
  return d.value;
}

function nonceFrom(p: LongTermPolicy): string {
  const c = longTermChallenge(p, now, ip).find((a) => a.type === Attr.Nonce);
  assert.ok(c && 'value' in c);
  return c.value as string;
}

describe('long-term credential mechanism (server side)', () => {
  it('RFC 5389 flow: 401 challenge, then lookup with MD5 and verify', () => {
    const first = beginLongTerm(req([]), policy, now, ip);
    assert.equal(first.kind, 'challenge');
    assert.equal(first.kind === 'challenge' && first.code, 401);
    const nonce = nonceFrom(policy);
    assert.equal(nonceFeatures(nonce), undefined);
    const key = longTermKey('alice', 'example.org', 'pw');
    const m = req(
      [
        { type: Attr.Username, value: 'alice' },
        { type: Attr.Realm, value: 'example.org' },
        { type: Attr.Nonce, value: nonce },
      ],
      { key },
    );
    const step = beginLongTerm(m, policy, now + 1000, ip);
    assert.deepEqual(step, {
      kind: 'lookup',
      username: 'alice',
      userhash: undefined,
      realm: 'example.org',
      algorithm: PasswordAlgorithm.MD5,
    });
    assert.ok(verifyLongTerm(m, key));
    assert.equal(verifyLongTerm(m, longTermKey('alice', 'example.org', 'other')), false);
  });

  it('stale or foreign nonce gives 438 with a fresh nonce; missing attributes give 400', () => {
    const key = longTermKey('alice', 'example.org', 'pw');
    const m = req(
      [
        { type: Attr.Username, value: 'alice' },
        { type: Attr.Realm, value: 'example.org' },
        { type: Attr.Nonce, value: nonceFrom(policy) },
      ],
      { key },
    );
    const stale = beginLongTerm(m, policy, now + 601_000, ip);
    assert.equal(stale.kind === 'challenge' && stale.code, 438);
    const moved = beginLongTerm(m, policy, now, '203.0.113.1');
    assert.equal(moved.kind === 'challenge' && moved.code, 438);
    const noRealm = req(
      [
        { type: Attr.Username, value: 'alice' },
        { type: Attr.Nonce, value: 'x' },
      ],
      { key },
    );
    assert.equal(beginLongTerm(noRealm, policy, now, ip).kind, 'bad-request');
  });

  it('RFC 8489 flow: nonce cookie, PASSWORD-ALGORITHMS offered, SHA-256 chosen, MESSAGE-INTEGRITY-SHA256', () => {
    const challenge = longTermChallenge(modern, now, ip);
    const algs = challenge.find((a) => a.type === Attr.PasswordAlgorithms);
    assert.ok(algs);
    const nonce = nonceFrom(modern);
    assert.deepEqual(nonceFeatures(nonce), { passwordAlgorithms: true, usernameAnonymity: true });
    const key = longTermKey('alice', 'example.org', 'pw', PasswordAlgorithm.SHA256);
    const list = [
      { algorithm: PasswordAlgorithm.SHA256, params: Buffer.alloc(0) },
      { algorithm: PasswordAlgorithm.MD5, params: Buffer.alloc(0) },
    ];
    const base: OutAttribute[] = [
      { type: Attr.Userhash, value: userhash('alice', 'example.org') },
      { type: Attr.Realm, value: 'example.org' },
      { type: Attr.Nonce, value: nonce },
      { type: Attr.PasswordAlgorithms, value: list },
      { type: Attr.PasswordAlgorithm, value: { algorithm: PasswordAlgorithm.SHA256, params: Buffer.alloc(0) } },
    ];
    const m = req(base, { key, sha256: true });
    const step = beginLongTerm(m, modern, now, ip);
    assert.equal(step.kind, 'lookup');
    assert.equal(step.kind === 'lookup' && step.algorithm, PasswordAlgorithm.SHA256);
    assert.deepEqual(step.kind === 'lookup' && step.userhash, userhash('alice', 'example.org'));
    assert.ok(verifyLongTerm(m, key));
    // a tampered list (downgrade attempt) is refused
    const tampered = req(
      [...base.slice(0, 3), { type: Attr.PasswordAlgorithms, value: [list[1]] }, { type: Attr.PasswordAlgorithm, value: list[1] }],
      { key },
    );
    assert.equal(beginLongTerm(tampered, modern, now, ip).kind, 'bad-request');
    // only one of the two attributes is refused
    const half = req([...base.slice(0, 3), { type: Attr.PasswordAlgorithm, value: list[0] }], { key });
    assert.equal(beginLongTerm(half, modern, now, ip).kind, 'bad-request');
    // USERHASH is ignored when the policy does not accept it
    const noUh = beginLongTerm(m, { ...modern, userhash: false }, now, ip);
    assert.equal(noUh.kind, 'bad-request');
  });

  it('challenge attributes encode and decode', () => {
    const b = encodeMessage({ method: StunMethod.Allocate, cls: StunClass.ErrorResponse, transactionId: newTransactionId() }, [
      { type: Attr.ErrorCode, value: { code: 401, reason: 'Unauthenticated' } },
      ...longTermChallenge(modern, now, ip),
    ]);
    const d = decodeMessage(b);
    assert.ok(d.ok);
    assert.equal(attributeValue(d.value, Attr.Realm), 'example.org');
    assert.deepEqual(
      attributeValue(d.value, Attr.PasswordAlgorithms)?.map((a) => a.algorithm),
      [PasswordAlgorithm.SHA256, PasswordAlgorithm.MD5],
    );
  });
});
