import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attr,
  StunClass,
  StunMethod,
  attributeValue,
  decodeMessage,
  encodeMessage,
  longTermKey,
  saslPrep,
  shortTermKey,
  verifyFingerprint,
  verifyIntegrity,
} from './index';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 5769 section 2.1: sample request (short-term credentials, padding bytes are 0x20).
const request = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);

// 2.2: sample IPv4 response.
const v4response = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);

// 2.3: sample IPv6 response.
const v6response = hex(`
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`);

// 2.4: sample request with long-term authentication.
const longTerm = hex(`
  00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
  00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
  00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
  00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
  00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66`);

const password = 'VOkJxbRl1RmTxUk/WvJxBt';

describe('RFC 5769 test vectors', () => {
  it('2.1 sample request: decodes, fingerprint and short-term integrity verify', () => {
    const r = decodeMessage(request);
    assert.ok(r.ok);
    const m = r.value;
    assert.equal(m.method, StunMethod.Binding);
    assert.equal(m.cls, StunClass.Request);
    assert.equal(m.classic, false);
    assert.deepEqual(m.transactionId, hex('b7e7a701bc34d686fa87dfae'));
    assert.equal(attributeValue(m, Attr.Software), 'STUN test client');
    assert.equal(attributeValue(m, Attr.Username), 'evtj:h6vY');
    assert.equal(attributeValue(m, Attr.Priority), 0x6e0001ff);
    assert.equal(attributeValue(m, Attr.IceControlled), 0x932ff9b151263b36n);
    assert.ok(verifyFingerprint(m));
    assert.ok(verifyIntegrity(m, shortTermKey(password)));
    assert.equal(verifyIntegrity(m, shortTermKey('wrong')), false);
  });

  it('2.1 a flipped bit breaks fingerprint and integrity', () => {
    const copy = Buffer.from(request);
    copy[30] ^= 1;
    const r = decodeMessage(copy);
    assert.ok(r.ok);
    assert.equal(verifyFingerprint(r.value), false);
    assert.equal(verifyIntegrity(r.value, shortTermKey(password)), false);
  });

  it('2.2 IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853, integrity and fingerprint', () => {
    const r = decodeMessage(v4response);
    assert.ok(r.ok);
    assert.equal(r.value.cls, StunClass.SuccessResponse);
    assert.equal(attributeValue(r.value, Attr.Software), 'test vector');
    assert.deepEqual(attributeValue(r.value, Attr.XorMappedAddress), { family: 4, address: '192.0.2.1', port: 32853 });
    assert.ok(verifyIntegrity(r.value, shortTermKey(password)));
    assert.ok(verifyFingerprint(r.value));
  });

  it('2.2 encoding the same attributes (0x20 padding) reproduces the vector byte for byte', () => {
    const out = encodeMessage(
      { method: StunMethod.Binding, cls: StunClass.SuccessResponse, transactionId: hex('b7e7a701bc34d686fa87dfae') },
      [
        { type: Attr.Software, value: 'test vector' },
        { type: Attr.XorMappedAddress, value: { family: 4, address: '192.0.2.1', port: 32853 } },
      ],
      { integrityKey: shortTermKey(password), fingerprint: true, paddingByte: 0x20 },
    );
    assert.deepEqual(out, v4response);
  });

  it('2.3 IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
    const r = decodeMessage(v6response);
    assert.ok(r.ok);
    assert.deepEqual(attributeValue(r.value, Attr.XorMappedAddress), {
      family: 6,
      address: '2001:db8:1234:5678:11:2233:4455:6677',
      port: 32853,
    });
    assert.ok(verifyIntegrity(r.value, shortTermKey(password)));
    assert.ok(verifyFingerprint(r.value));
    const enc = encodeMessage(
      { method: StunMethod.Binding, cls: StunClass.SuccessResponse, transactionId: Buffer.from(r.value.transactionId) },
      [
        { type: Attr.Software, value: 'test vector' },
        { type: Attr.XorMappedAddress, value: { family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 } },
      ],
      { integrityKey: shortTermKey(password), fingerprint: true, paddingByte: 0x20 },
    );
    assert.deepEqual(enc, v6response);
  });

  it('2.4 long-term credentials: username, nonce, realm and MESSAGE-INTEGRITY with MD5(user:realm:pass)', () => {
    const r = decodeMessage(longTerm);
    assert.ok(r.ok);
    const m = r.value;
    const username = '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9';
    assert.equal(attributeValue(m, Attr.Username), username);
    assert.equal(attributeValue(m, Attr.Nonce), 'f//499k954d6OL34oL9FSTvy64sA');
    assert.equal(attributeValue(m, Attr.Realm), 'example.org');
    const prepared = saslPrep('The\u00ADM\u00AAtr\u2168');
    assert.ok(prepared.ok);
    assert.equal(prepared.value, 'TheMatrIX');
    assert.ok(verifyIntegrity(m, longTermKey(username, 'example.org', prepared.value)));
    assert.equal(verifyIntegrity(m, longTermKey(username, 'example.org', 'TheMatrix')), false);
    assert.equal(m.fingerprintOffset, -1);
  });

  it('encoding the 2.4 attributes with the long-term key reproduces the vector exactly', () => {
    const username = '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9';
    const out = encodeMessage(
      { method: StunMethod.Binding, cls: StunClass.Request, transactionId: hex('78ad3433c6ad72c029da412e') },
      [
        { type: Attr.Username, value: username },
        { type: Attr.Nonce, value: 'f//499k954d6OL34oL9FSTvy64sA' },
        { type: Attr.Realm, value: 'example.org' },
      ],
      { integrityKey: longTermKey(username, 'example.org', 'TheMatrIX') },
    );
    assert.deepEqual(out, longTerm);
  });

  it('2.1 encoding the same attributes (0x20 padding) reproduces the vector byte for byte', () => {
    const out = encodeMessage(
      { method: StunMethod.Binding, cls: StunClass.Request, transactionId: hex('b7e7a701bc34d686fa87dfae') },
      [
        { type: Attr.Software, value: 'STUN test client' },
        { type: Attr.Priority, value: 0x6e0001ff },
        { type: Attr.IceControlled, value: 0x932ff9b151263b36n },
        { type: Attr.Username, value: 'evtj:h6vY' },
      ],
      { integrityKey: shortTermKey(password), fingerprint: true, paddingByte: 0x20 },
    );
    assert.deepEqual(out, request);
  });
});
