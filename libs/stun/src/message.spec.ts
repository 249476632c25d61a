import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Attr,
  OutAttribute,
  StunClass,
  StunMethod,
  TransportAddress,
  attributeValue,
  classOf,
  decodeAllAttributes,
  decodeMessage,
  encodeAnswer,
  encodeMessage,
  errorCodeAttribute,
  formatIp,
  getAttribute,
  messageType,
  methodOf,
  unknownComprehensionRequired,
  verifyFingerprint,
  verifyIntegrity,
  verifyIntegritySha256,
} from './index';

const txid = fc.uint8Array({ minLength: 12, maxLength: 12 }).map((a) => Buffer.from(a));
const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const transportAddress: fc.Arbitrary<TransportAddress> = fc
  .tuple(fc.oneof(v4, v6), fc.integer({ min: 0, max: 65535 }))
  .map(([b, port]) => ({ family: b.length === 4 ? 4 : 6, address: formatIp(b), port }));
const text = (max: number) => fc.string({ maxLength: max, unit: 'grapheme' }).filter((s) => Buffer.byteLength(s) <= max * 1);
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const attribute: fc.Arbitrary<OutAttribute> = fc.oneof(
  transportAddress.map((value) => ({ type: Attr.XorMappedAddress, value })),
  transportAddress.map((value) => ({ type: Attr.XorPeerAddress, value })),
  transportAddress.map((value) => ({ type: Attr.XorRelayedAddress, value })),
  transportAddress.map((value) => ({ type: Attr.MappedAddress, value })),
  transportAddress.map((value) => ({ type: Attr.OtherAddress, value })),
  transportAddress.map((value) => ({ type: Attr.ResponseOrigin, value })),
  transportAddress.map((value) => ({ type: Attr.ChangedAddress, value })),
  transportAddress.map((value) => ({ type: Attr.SourceAddress, value })),
  transportAddress.map((value) => ({ type: Attr.ResponseAddress, value })),
  transportAddress.map((value) => ({ type: Attr.ReflectedFrom, value })),
  transportAddress.map((value) => ({ type: Attr.AlternateServer, value })),
  fc.record({ changeIp: fc.boolean(), changePort: fc.boolean() }).map((value) => ({ type: Attr.ChangeRequest, value })),
  text(120).map((value) => ({ type: Attr.Username, value })),
  text(120).map((value) => ({ type: Attr.Realm, value })),
  text(120).map((value) => ({ type: Attr.Nonce, value })),
  text(120).map((value) => ({ type: Attr.Software, value })),
  text(60).map((value) => ({ type: Attr.AlternateDomain, value })),
  fc.record({ code: fc.integer({ min: 300, max: 699 }), reason: text(60) }).map((value) => ({ type: Attr.ErrorCode, value })),
  fc
    .record({ family: fc.constantFrom(4 as const, 6 as const), code: fc.integer({ min: 300, max: 699 }), reason: text(40) })
    .map((value) => ({ type: Attr.AddressErrorCode, value })),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }).map((value) => ({ type: Attr.UnknownAttributes, value })),
  fc.integer({ min: 0x4000, max: 0x4fff }).map((value) => ({ type: Attr.ChannelNumber, value })),
  u32.map((value) => ({ type: Attr.Lifetime, value })),
  bytes(0, 300).map((value) => ({ type: Attr.Data, value })),
  fc.constantFrom(4 as const, 6 as const).map((value) => ({ type: Attr.RequestedAddressFamily, value })),
  fc.constantFrom(4 as const, 6 as const).map((value) => ({ type: Attr.AdditionalAddressFamily, value })),
  fc.boolean().map((reserve) => ({ type: Attr.EvenPort, value: { reserve } })),
  fc.integer({ min: 0, max: 255 }).map((value) => ({ type: Attr.RequestedTransport, value })),
  fc.constant({ type: Attr.DontFragment, value: true as const }),
  bytes(8, 8).map((value) => ({ type: Attr.ReservationToken, value })),
  u32.map((value) => ({ type: Attr.ConnectionId, value })),
  fc.integer({ min: 0, max: 0xffff }).map((value) => ({ type: Attr.ResponsePort, value })),
  bytes(0, 64).map((value) => ({ type: Attr.Padding, value })),
  fc
    .record({ type: fc.integer({ min: 0, max: 127 }), code: fc.integer({ min: 0, max: 255 }), data: u32 })
    .map((value) => ({ type: Attr.Icmp, value })),
  fc
    .array(fc.record({ algorithm: fc.integer({ min: 0, max: 0xffff }), params: bytes(0, 9) }), { maxLength: 4 })
    .map((value) => ({ type: Attr.PasswordAlgorithms, value })),
  fc
    .record({ algorithm: fc.integer({ min: 0, max: 0xffff }), params: bytes(0, 9) })
    .map((value) => ({ type: Attr.PasswordAlgorithm, value })),
  bytes(32, 32).map((value) => ({ type: Attr.Userhash, value })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value) => ({ type: Attr.IceControlling, value })),
  fc.tuple(fc.integer({ min: 0xc000, max: 0xffff }), bytes(0, 20)).map(([type, raw]) => ({ type, raw })),
);

const method = fc.constantFrom(...Object.values(StunMethod));
const cls = fc.constantFrom(StunClass.Request, StunClass.Indication, StunClass.SuccessResponse, StunClass.ErrorResponse);

describe('encodeAnswer', () => {
  const key = Buffer.alloc(16, 7);
  const request = (opts: { sha?: boolean; fingerprint?: boolean }) => {
    const r = decodeMessage(
      encodeMessage({ method: StunMethod.Allocate, cls: StunClass.Request, transactionId: Buffer.alloc(12, 3) }, [], {
        ...(opts.sha ? { integritySha256Key: key } : { integrityKey: key }),
        fingerprint: opts.fingerprint ?? false,
      }),
    );
    assert.ok(r.ok);
    return r.value;
  };

  it('answers with the method, transaction id and integrity kind of the request, SOFTWARE and a FINGERPRINT when it had one', () => {
    for (const sha of [false, true])
      for (const fingerprint of [false, true]) {
        const a = decodeMessage(encodeAnswer(request({ sha, fingerprint }), StunClass.ErrorResponse, [errorCodeAttribute(401)], key, 'traverse'));
        assert.ok(a.ok);
        const m = a.value;
        assert.equal(m.method, StunMethod.Allocate);
        assert.equal(m.cls, StunClass.ErrorResponse);
        assert.deepEqual(Buffer.from(m.transactionId), Buffer.alloc(12, 3));
        assert.deepEqual(attributeValue(m, Attr.ErrorCode), { code: 401, reason: 'Unauthenticated' });
        assert.equal(attributeValue(m, Attr.Software), 'traverse');
        assert.equal(m.integritySha256Offset >= 0, sha);
        assert.equal(m.integrityOffset >= 0, !sha);
        assert.ok(sha ? verifyIntegritySha256(m, key) : verifyIntegrity(m, key));
        assert.equal(m.fingerprintOffset >= 0, fingerprint);
        if (fingerprint) assert.ok(verifyFingerprint(m));
      }
  });

  it('leaves integrity out without a key and SOFTWARE out without a name', () => {
    const a = decodeMessage(encodeAnswer(request({}), StunClass.SuccessResponse, []));
    assert.ok(a.ok);
    assert.equal(a.value.integrityOffset, -1);
    assert.equal(attributeValue(a.value, Attr.Software), undefined);
  });
});

describe('message type field', () => {
  it('interleaves method and class bits and back (all 4096 methods x 4 classes)', () => {
    for (let m = 0; m < 4096; m++)
      for (const c of [0, 1, 2, 3] as const) {
        const t = messageType(m, c);
        assert.equal(t & 0xc000, 0);
        assert.equal(methodOf(t), m);
        assert.equal(classOf(t), c);
      }
    assert.equal(messageType(StunMethod.Binding, StunClass.SuccessResponse), 0x0101);
    assert.equal(messageType(StunMethod.Allocate, StunClass.ErrorResponse), 0x0113);
    assert.equal(messageType(StunMethod.Send, StunClass.Indication), 0x0016);
    assert.equal(messageType(StunMethod.Data, StunClass.Indication), 0x0017);
  });
});

describe('encode/decode round trip (property)', () => {
  it('every attribute list survives encode then decode', () => {
    fc.assert(
      fc.property(method, cls, txid, fc.array(attribute, { maxLength: 12 }), (m, c, t, attrs) => {
        const buf = encodeMessage({ method: m, cls: c, transactionId: t }, attrs, { fingerprint: true });
        const r = decodeMessage(buf);
        assert.ok(r.ok, r.ok ? '' : r.error.reason);
        assert.equal(r.value.method, m);
        assert.equal(r.value.cls, c);
        assert.deepEqual(Buffer.from(r.value.transactionId), t);
        assert.ok(verifyFingerprint(r.value));
        const all = decodeAllAttributes(r.value);
        assert.ok(all.ok, all.ok ? '' : all.error.reason);
        // the trailing FINGERPRINT is decoded too
        assert.equal(all.value.length, attrs.length + 1);
        assert.deepEqual(all.value.slice(0, -1).map(normalise), attrs.map(normalise));
      }),
      { numRuns: 500 },
    );
  });

  it('integrity (SHA1 and SHA256, truncated) verifies with the key and fails with another', () => {
    fc.assert(
      fc.property(
        txid,
        fc.array(attribute, { maxLength: 5 }),
        bytes(1, 40),
        fc.constantFrom(16, 20, 24, 28, 32),
        (t, attrs, key, shaLen) => {
          const buf = encodeMessage({ method: StunMethod.Allocate, cls: StunClass.Request, transactionId: t }, attrs, {
            integrityKey: key,
            integritySha256Key: key,
            integritySha256Length: shaLen,
            fingerprint: true,
          });
          const r = decodeMessage(buf);
          assert.ok(r.ok);
          assert.ok(verifyIntegrity(r.value, key));
          assert.ok(verifyIntegritySha256(r.value, key));
          assert.ok(verifyFingerprint(r.value));
          const other = Buffer.concat([key, Buffer.from([1])]);
          assert.equal(verifyIntegrity(r.value, other), false);
          assert.equal(verifyIntegritySha256(r.value, other), false);
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** Compares by content (Buffers as hex, bigint as text, no prototypes). */
function normalise(a: OutAttribute): unknown {
  return JSON.parse(
    JSON.stringify(a, (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data))
        return Buffer.from((v as { data: number[] }).data).toString('hex');
      return v;
    }),
  );
}

describe('decoder robustness', () => {
  const touchAll = (buf: Buffer) => {
    const r = decodeMessage(buf);
    if (r.ok) {
      decodeAllAttributes(r.value);
      verifyFingerprint(r.value);
      verifyIntegrity(r.value, Buffer.from('k'));
      verifyIntegritySha256(r.value, Buffer.from('k'));
      for (const a of r.value.attributes) getAttribute(r.value, a.type as typeof Attr.Data);
    }
  };

  it('no byte sequence throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (a) => {
        touchAll(Buffer.from(a));
      }),
      { numRuns: 3000 },
    );
  });

  it('valid headers with random attribute bytes never throw', () => {
    fc.assert(
      fc.property(txid, fc.uint8Array({ maxLength: 400 }), (t, body) => {
        const len = body.length & ~3;
        const buf = Buffer.alloc(20 + len);
        buf.writeUInt16BE(0x0001, 0);
        buf.writeUInt16BE(len, 2);
        buf.writeUInt32BE(0x2112a442, 4);
        t.copy(buf, 8);
        Buffer.from(body).copy(buf, 20, 0, len);
        touchAll(buf);
      }),
      { numRuns: 3000 },
    );
  });

  it('mutations of valid messages never throw', () => {
    fc.assert(
      fc.property(
        txid,
        fc.array(attribute, { maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        (t, attrs, muts) => {
          const buf = encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: t }, attrs, {
            integrityKey: Buffer.from('x'),
            fingerprint: true,
          });
          for (const [i, b] of muts) buf[i % buf.length] = b;
          touchAll(buf);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a 64 KiB datagram of attribute headers is refused once it passes maxAttributes', () => {
    const len = 65532;
    const buf = Buffer.alloc(20 + len);
    buf.writeUInt16BE(0x0001, 0);
    buf.writeUInt16BE(len, 2);
    buf.writeUInt32BE(0x2112a442, 4);
    for (let at = 20; at < buf.length; at += 4) buf.writeUInt16BE(0x8001, at);
    const r = decodeMessage(buf);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'TOO_MANY_ATTRIBUTES');
  });

  it('refuses oversize, short, bad-length and bad-top-bit input with typed errors', () => {
    const codes = (b: Buffer, o = {}) => {
      const r = decodeMessage(b, o);
      return r.ok ? 'ok' : r.error.code;
    };
    assert.equal(codes(Buffer.alloc(10)), 'TRUNCATED');
    const ok20 = encodeMessage({ method: 1, cls: 0, transactionId: Buffer.alloc(12) }, []);
    assert.equal(codes(ok20), 'ok');
    assert.equal(codes(ok20, { maxSize: 19 }), 'TOO_LARGE');
    const hi = Buffer.from(ok20);
    hi[0] = 0x80;
    assert.equal(codes(hi), 'NOT_STUN');
    const odd = Buffer.concat([ok20, Buffer.alloc(2)]);
    odd.writeUInt16BE(2, 2);
    assert.equal(codes(odd), 'BAD_LENGTH');
    const mismatch = Buffer.concat([ok20, Buffer.alloc(4)]);
    assert.equal(codes(mismatch), 'BAD_LENGTH');
    const classic = Buffer.from(ok20);
    classic.writeUInt32BE(0xdeadbeef, 4);
    assert.equal(codes(classic), 'ok');
    assert.equal(codes(classic, { allowClassic: false }), 'NOT_STUN');
  });

  it('attribute after FINGERPRINT is an error; attributes after MESSAGE-INTEGRITY are ignored', () => {
    const t = Buffer.alloc(12, 7);
    const withFp = encodeMessage({ method: 1, cls: 0, transactionId: t }, [], { fingerprint: true });
    const extra = Buffer.concat([withFp, Buffer.from([0x80, 0x22, 0, 0])]);
    extra.writeUInt16BE(extra.length - 20, 2);
    const r = decodeMessage(extra);
    assert.equal(r.ok, false);
    const mi = encodeMessage({ method: 1, cls: 0, transactionId: t }, [], { integrityKey: Buffer.from('k') });
    const after = Buffer.concat([mi, Buffer.from([0x00, 0x06, 0, 4, 0x41, 0x41, 0x41, 0x41])]);
    after.writeUInt16BE(after.length - 20, 2);
    const r2 = decodeMessage(after);
    assert.ok(r2.ok);
    assert.equal(attributeValue(r2.value, Attr.Username), undefined);
    // the integrity still verifies: it covers the message up to MESSAGE-INTEGRITY
    assert.ok(verifyIntegrity(r2.value, Buffer.from('k')));
  });

  it('reports unknown comprehension-required attributes for 420', () => {
    const m = encodeMessage({ method: 1, cls: 0, transactionId: Buffer.alloc(12) }, [
      { type: 0x7777, raw: Buffer.alloc(0) },
      { type: 0x8888, raw: Buffer.alloc(0) },
      { type: Attr.Username, value: 'u' },
    ]);
    const r = decodeMessage(m);
    assert.ok(r.ok);
    assert.deepEqual(unknownComprehensionRequired(r.value, new Set([Attr.Username])), [0x7777]);
  });

  it('malformed known attributes decode to a failed Result, not an exception', () => {
    const m = encodeMessage({ method: 1, cls: 0, transactionId: Buffer.alloc(12) }, [
      { type: Attr.XorMappedAddress, raw: Buffer.from([0, 3, 0, 0, 1, 2, 3, 4]) },
      { type: Attr.Lifetime, raw: Buffer.from([1, 2]) },
      { type: Attr.Username, raw: Buffer.from([0xff, 0xfe]) },
      { type: Attr.ErrorCode, raw: Buffer.from([0, 0, 9, 0]) },
    ]);
    const r = decodeMessage(m);
    assert.ok(r.ok);
    for (const t of [Attr.XorMappedAddress, Attr.Lifetime, Attr.Username, Attr.ErrorCode] as const) {
      const v: ReturnType<typeof getAttribute> = getAttribute(r.value, t);
      assert.ok(v && !v.ok, `attribute ${t}`);
      assert.equal(v.ok ? '' : v.error.code, 'BAD_ATTRIBUTE');
    }
  });

  it('classic RFC 3489 messages keep a 16-byte transaction id and plain addresses', () => {
    const t = Buffer.alloc(16, 0x5a);
    const m = encodeMessage({ method: StunMethod.Binding, cls: StunClass.SuccessResponse, transactionId: t }, [
      { type: Attr.MappedAddress, value: { family: 4, address: '203.0.113.5', port: 4000 } },
      { type: Attr.SourceAddress, value: { family: 4, address: '198.51.100.1', port: 3478 } },
      { type: Attr.ChangedAddress, value: { family: 4, address: '198.51.100.2', port: 3479 } },
    ]);
    const r = decodeMessage(m);
    assert.ok(r.ok);
    assert.equal(r.value.classic, true);
    assert.deepEqual(Buffer.from(r.value.transactionId), t);
    assert.deepEqual(attributeValue(r.value, Attr.MappedAddress), { family: 4, address: '203.0.113.5', port: 4000 });
    assert.deepEqual(attributeValue(r.value, Attr.ChangedAddress), { family: 4, address: '198.51.100.2', port: 3479 });
  });
});
