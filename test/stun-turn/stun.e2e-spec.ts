/**
 * STUN Binding service end to end: the primary (signaling node, port one + port two) and the
 * secondary (media engine) on loopback, the change-IP hook over authenticated UDP, driven by
 * coturn's turnutils_stunclient (RFC 5389 / RFC 5780) and the RFC 3489 `stun` client.
 * Only 127.0.0.1 is used, so "another IP" is simulated by the secondary's own ports.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import {
  Attr,
  StunClass,
  StunMessage,
  StunMethod,
  attributeValue,
  decodeMessage,
  encodeMessage,
  newTransactionId,
  verifyFingerprint,
} from '@traverse/stun';
import { InProcessChangeIpRelay, StunServer, StunServerEvent, UdpChangeIpRelay, encodeChangeIpDatagram } from '@traverse/stun-turn';
import { requireBinary, run } from './helpers';

const HOST = '127.0.0.1';
const SECRET = Buffer.from('media-engine-shared-token');

describe('STUN primary + secondary', () => {
  let primary: StunServer;
  let secondary: StunServer;
  let relay: UdpChangeIpRelay;
  let p1 = 0;
  let p2 = 0;
  let s1 = 0;
  let s2 = 0;
  const secondaryEvents: StunServerEvent[] = [];

  before(async () => {
    // the secondary first (ports resolved), then the primary pointing at it
    secondary = new StunServer({
      address: HOST,
      ports: [0, 0],
      control: { address: HOST, port: 0, secret: SECRET },
      onEvent: (e) => secondaryEvents.push(e),
    });
    await secondary.start();
    [s1, s2] = secondary.endpoints.map((e) => e.port) as [number, number];
    relay = new UdpChangeIpRelay({ target: secondary.controlEndpoint!, secret: SECRET });
    await relay.start();
    primary = new StunServer({
      address: HOST,
      ports: [0, 0],
      other: [
        { address: HOST, port: s1 },
        { address: HOST, port: s2 },
      ],
      changeIpRelay: relay,
    });
    await primary.start();
    [p1, p2] = primary.endpoints.map((e) => e.port) as [number, number];
    // The secondary learns the primary's ports after the fact: rebuild it with `other` and an in-process hook back.
    const controlPort = secondary.controlEndpoint!.port;
    await secondary.stop();
    secondary = new StunServer({
      address: HOST,
      ports: [s1, s2],
      other: [
        { address: HOST, port: p1 },
        { address: HOST, port: p2 },
      ],
      changeIpRelay: new InProcessChangeIpRelay(primary),
      control: { address: HOST, port: controlPort, secret: SECRET },
      onEvent: (e) => secondaryEvents.push(e),
    });
    await secondary.start();
  });

  after(async () => {
    await primary?.stop();
    await secondary?.stop();
    await relay?.stop();
  });

  it('turnutils_stunclient gets its reflexive address', async () => {
    const bin = requireBinary('turnutils_stunclient', 'coturn');
    const r = await run(bin, ['-p', String(p1), HOST], 20_000);
    const out = r.stdout + r.stderr;
    assert.match(out, /UDP reflexive addr: 127\.0\.0\.1:\d+/, out);
  });

  it('turnutils_stunclient RFC 5780 (-f): the change-IP-and-port answer comes from the secondary', async () => {
    const bin = requireBinary('turnutils_stunclient', 'coturn');
    const r = await run(bin, ['-f', '-p', String(p1), HOST], 20_000);
    const out = r.stdout + r.stderr;
    assert.match(out, new RegExp(`Response origin: : 127\\.0\\.0\\.1:${p1}`), out);
    assert.match(out, new RegExp(`Other addr: : 127\\.0\\.0\\.1:${s2}`), out);
    assert.match(out, /RFC 5780 response 2[\s\S]*Response origin: : 127\.0\.0\.1:/, out);
    assert.match(out, new RegExp(`RFC 5780 response 2[\\s\\S]*Response origin: : 127\\.0\\.0\\.1:${s2}`), out);
  });

  it('the RFC 3489 `stun` client completes tests I, II, III and I(2)', async () => {
    const bin = requireBinary('stun', 'stun-client');
    const r = await run(bin, [`${HOST}:${p1}`, '-v'], 30_000);
    const out = r.stdout + r.stderr;
    for (const t of ['test I = 1', 'test II = 1', 'test III = 1', 'test I\\(2\\) = 1']) assert.match(out, new RegExp(t), out.slice(-1500));
    assert.match(out, /Primary: Open/);
  });

  async function ask(
    port: number,
    attrs: Parameters<typeof encodeMessage>[1],
    classic = false,
  ): Promise<{ m: StunMessage; fromPort: number }> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, HOST, () => r()));
    try {
      const tid = classic ? Buffer.concat([Buffer.from([1, 2, 3, 4]), newTransactionId()]) : newTransactionId();
      const got = new Promise<{ m: StunMessage; fromPort: number }>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no answer')), 2000);
        s.on('message', (msg, rinfo) => {
          const d = decodeMessage(msg);
          if (d.ok) {
            clearTimeout(t);
            resolve({ m: d.value, fromPort: rinfo.port });
          }
        });
      });
      s.send(
        encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, transactionId: tid }, attrs, { fingerprint: !classic }),
        port,
        HOST,
      );
      return await got;
    } finally {
      s.close();
    }
  }

  it('CHANGE-REQUEST: none / port / IP / IP+port are answered from the four addresses', async () => {
    const cases = [
      { changeIp: false, changePort: false, from: p1 },
      { changeIp: false, changePort: true, from: p2 },
      { changeIp: true, changePort: false, from: s1 },
      { changeIp: true, changePort: true, from: s2 },
    ];
    for (const c of cases) {
      const { m, fromPort } = await ask(p1, [{ type: Attr.ChangeRequest, value: c }]);
      assert.equal(m.cls, StunClass.SuccessResponse);
      assert.equal(fromPort, c.from, JSON.stringify(c));
      assert.equal(attributeValue(m, Attr.ResponseOrigin)?.port, c.from);
      assert.equal(attributeValue(m, Attr.OtherAddress)?.port, s2);
      assert.equal(attributeValue(m, Attr.XorMappedAddress)?.address, HOST);
      assert.ok(verifyFingerprint(m));
    }
  });

  it('classic RFC 3489 requests get MAPPED-ADDRESS, SOURCE-ADDRESS and CHANGED-ADDRESS', async () => {
    const { m, fromPort } = await ask(p1, [{ type: Attr.ChangeRequest, value: { changeIp: false, changePort: true } }], true);
    assert.equal(m.classic, true);
    assert.equal(fromPort, p2);
    assert.equal(attributeValue(m, Attr.MappedAddress)?.address, HOST);
    assert.equal(attributeValue(m, Attr.SourceAddress)?.port, p2);
    assert.equal(attributeValue(m, Attr.ChangedAddress)?.port, s2);
    assert.equal(attributeValue(m, Attr.XorMappedAddress), undefined);
  });

  it('the secondary answers Binding itself and hands change-IP back to the primary', async () => {
    const plain = await ask(s1, []);
    assert.equal(plain.fromPort, s1);
    const changed = await ask(s1, [{ type: Attr.ChangeRequest, value: { changeIp: true, changePort: false } }]);
    assert.equal(changed.fromPort, p1);
  });

  it('RESPONSE-PORT sends the answer to another port of the requester; PADDING is echoed', async () => {
    const target = dgram.createSocket('udp4');
    await new Promise<void>((r) => target.bind(0, HOST, () => r()));
    try {
      const got = new Promise<Buffer>((resolve) => target.once('message', (msg) => resolve(msg)));
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, HOST, () => r()));
      const senderPort = s.address().port;
      s.send(
        encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, transactionId: newTransactionId() }, [
          { type: Attr.ResponsePort, value: target.address().port },
          { type: Attr.Padding, value: Buffer.alloc(500) },
        ]),
        p1,
        HOST,
      );
      const msg = await got;
      s.close();
      const d = decodeMessage(msg);
      assert.ok(d.ok);
      assert.equal(attributeValue(d.value, Attr.XorMappedAddress)?.port, senderPort);
      assert.equal(attributeValue(d.value, Attr.Padding)?.length, 500);
    } finally {
      target.close();
    }
  });

  it('the change-IP control socket drops forged and replayed datagrams', async () => {
    const victim = dgram.createSocket('udp4');
    await new Promise<void>((r) => victim.bind(0, HOST, () => r()));
    const received: Buffer[] = [];
    victim.on('message', (m) => received.push(m));
    const sender = dgram.createSocket('udp4');
    try {
      const to = { family: 4 as const, address: HOST, port: victim.address().port };
      const ctl = secondary.controlEndpoint!;
      const forged = encodeChangeIpDatagram(Buffer.from('wrong-secret'), 0, to, Buffer.from('x'.repeat(40)), Date.now())!;
      const stale = encodeChangeIpDatagram(SECRET, 0, to, Buffer.from('y'.repeat(40)), Date.now() - 120_000)!;
      const good = encodeChangeIpDatagram(SECRET, 0, to, Buffer.from('z'.repeat(40)), Date.now())!;
      const rejectedBefore = secondaryEvents.filter((e) => e.type === 'relay-rejected').length;
      for (const d of [forged, stale, good, good]) sender.send(d, ctl.port, ctl.address);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        received.map((b) => b.toString()),
        ['z'.repeat(40)],
      );
      assert.equal(secondaryEvents.filter((e) => e.type === 'relay-rejected').length - rejectedBefore, 3);
    } finally {
      sender.close();
      victim.close();
    }
  });

  it('without a secondary, change-IP is refused with 420 naming CHANGE-REQUEST', async () => {
    const lone = new StunServer({ address: HOST, ports: [0] });
    await lone.start();
    try {
      const { m } = await ask(lone.endpoints[0].port, [{ type: Attr.ChangeRequest, value: { changeIp: true, changePort: false } }]);
      assert.equal(m.cls, StunClass.ErrorResponse);
      assert.equal(attributeValue(m, Attr.ErrorCode)?.code, 420);
      assert.deepEqual(attributeValue(m, Attr.UnknownAttributes), [Attr.ChangeRequest]);
    } finally {
      await lone.stop();
    }
  });
});
