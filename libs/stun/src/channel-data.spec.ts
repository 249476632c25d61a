import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  StreamFramer,
  StunClass,
  StunMethod,
  channelDataHeader,
  classifyPacket,
  decodeChannelData,
  decodeMessage,
  encodeChannelData,
  encodeMessage,
  nextFrameLength,
} from './index';

describe('ChannelData', () => {
  it('round trips any channel and payload; UDP ignores trailing padding', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0x4000, max: 0x4fff }), fc.uint8Array({ maxLength: 1500 }), fc.boolean(), (ch, data, stream) => {
        const buf = encodeChannelData(ch, Buffer.from(data), stream);
        assert.equal(buf.length % (stream ? 4 : 1), 0);
        const r = decodeChannelData(buf);
        assert.ok(r.ok);
        assert.equal(r.value.channel, ch);
        assert.deepEqual(r.value.data, Buffer.from(data));
        assert.deepEqual(Buffer.concat([channelDataHeader(ch, data.length), Buffer.from(data)]), encodeChannelData(ch, Buffer.from(data)));
      }),
    );
  });

  it('refuses reserved channel numbers and lengths past the datagram', () => {
    for (const ch of [0x3fff, 0x5000, 0x7fff, 0x8000]) assert.equal(decodeChannelData(Buffer.from([ch >> 8, ch & 0xff, 0, 0])).ok, false);
    // the RFC 5766 range on request
    assert.equal(decodeChannelData(Buffer.from([0x7f, 0xfe, 0, 0]), 0x7ffe).ok, true);
    assert.equal(decodeChannelData(Buffer.from([0x7f, 0xff, 0, 0]), 0x7ffe).ok, false);
    const r = decodeChannelData(Buffer.from([0x40, 0, 0, 8, 1, 2, 3]));
    assert.equal(r.ok ? '' : r.error.code, 'TRUNCATED');
    assert.equal(decodeChannelData(Buffer.alloc(3)).ok, false);
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (a) => {
        decodeChannelData(Buffer.from(a));
        classifyPacket(Buffer.from(a));
        nextFrameLength(Buffer.from(a));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('demultiplexing', () => {
  it('tells STUN, classic STUN, ChannelData, DTLS, RTP and other apart', () => {
    const stun = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, transactionId: Buffer.alloc(12) }, []);
    assert.equal(classifyPacket(stun), 'stun');
    const classic = Buffer.from(stun);
    classic.writeUInt32BE(1, 4);
    assert.equal(classifyPacket(classic), 'stun-classic');
    assert.equal(classifyPacket(encodeChannelData(0x4001, Buffer.from('x'))), 'channel-data');
    assert.equal(classifyPacket(Buffer.from([22, 254, 253, 0])), 'dtls');
    assert.equal(classifyPacket(Buffer.from([0x80, 0, 0, 0])), 'rtp');
    assert.equal(classifyPacket(Buffer.from([0xff])), 'other');
    assert.equal(classifyPacket(Buffer.alloc(0)), 'other');
  });
});

describe('stream framing (TCP/TLS)', () => {
  it('cuts a stream of STUN and padded ChannelData frames at any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 50 }).map((d) => ({ ch: true as const, d })),
            fc.uint8Array({ maxLength: 40 }).map((d) => ({ ch: false as const, d })),
          ),
          { maxLength: 10 },
        ),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 20 }),
        (items, cuts) => {
          const frames = items.map((it) =>
            it.ch
              ? encodeChannelData(0x4123, Buffer.from(it.d), true)
              : encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: Buffer.alloc(12, 1) }, [
                  { type: 0x0013, value: Buffer.from(it.d) },
                ]),
          );
          const stream = Buffer.concat(frames);
          const f = new StreamFramer();
          const got: Buffer[] = [];
          let at = 0;
          let i = 0;
          while (at < stream.length) {
            const n = cuts[i++ % cuts.length];
            got.push(...f.push(stream.subarray(at, at + n)));
            at += n;
          }
          assert.equal(f.broken, false);
          assert.deepEqual(
            got.map((b) => b.toString('hex')),
            frames.map((b) => b.toString('hex')),
          );
          for (const g of got) if (g[0] < 4) assert.ok(decodeMessage(g).ok);
        },
      ),
    );
  });

  it('breaks on a byte that starts neither frame kind, and stays broken', () => {
    const f = new StreamFramer();
    assert.deepEqual(f.push(Buffer.from([0x16, 3, 1, 0, 0])), []);
    assert.equal(f.broken, true);
    assert.deepEqual(f.push(encodeChannelData(0x4000, Buffer.alloc(4), true)), []);
  });

  it('refuses a STUN frame longer than the bound', () => {
    assert.deepEqual(nextFrameLength(Buffer.from([0, 1, 0xff, 0xfc]), 1000), { kind: 'invalid' });
    assert.deepEqual(nextFrameLength(Buffer.from([0, 1, 0, 8])), { kind: 'stun', length: 28 });
    assert.deepEqual(nextFrameLength(Buffer.from([0x40, 1, 0, 5])), { kind: 'channel-data', length: 12 });
    assert.deepEqual(nextFrameLength(Buffer.from([0x40, 1])), { kind: 'need-more' });
  });
});
