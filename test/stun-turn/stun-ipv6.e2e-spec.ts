/**
 * STUN over IPv6 on ::1: a node started as a user starts one listens for STUN on IPv6 too
 * (stun.address6, every IPv6 address by default) with port one and port two, and answers IPv6
 * clients with IPv6 addresses: XOR-MAPPED-ADDRESS (XORed with the cookie and the transaction ID,
 * RFC 8489 14.2), MAPPED-ADDRESS and RESPONSE-ORIGIN; OTHER-ADDRESS of the client's family.
 * Driven by coturn's turnutils_stunclient and by the project's own codec.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Attr, StunClass, StunMethod, attributeValue, decodeMessage, encodeMessage, newTransactionId, type StunMessage } from '@traverse/stun';
import { InProcessChangeIpRelay, StunServer } from '@traverse/stun-turn';
import { freePorts, requireBinary, run, startTraverseNode, type TraverseNode } from './helpers';

const V6 = '::1';

/** Sends one Binding request from a fresh socket; resolves with the answer and where it came from. */
async function binding(
  family: 4 | 6,
  host: string,
  port: number,
  change?: { changeIp: boolean; changePort: boolean },
): Promise<{ m: StunMessage; from: dgram.RemoteInfo; local: number; tid: Buffer }> {
  const sock = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  try {
    const tid = newTransactionId();
    const req = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, transactionId: tid }, change ? [{ type: Attr.ChangeRequest, value: change }] : [], { fingerprint: true });
    const answer = new Promise<{ m: StunMessage; from: dgram.RemoteInfo }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no STUN answer from [${host}]:${port} within 3 s`)), 3000);
      sock.on('message', (buf, from) => {
        const d = decodeMessage(buf);
        if (!d.ok || !Buffer.from(d.value.transactionId).equals(tid)) return;
        clearTimeout(t);
        resolve({ m: d.value, from });
      });
    });
    sock.send(req, port, host);
    const r = await answer;
    return { ...r, local: sock.address().port, tid };
  } finally {
    sock.close();
  }
}

describe('STUN on IPv6 of a node started with ./traverse start', () => {
  let node: TraverseNode;
  let p1 = 0;
  let p2 = 0;

  before(async () => {
    [p1, p2] = (await freePorts(2)) as [number, number];
    node = await startTraverseNode({
      TRAVERSE_NODE__NAME: 'e2e-stun6',
      TRAVERSE_NODE__ROLES: 'signaling',
      TRAVERSE_TURN__ENABLED: 'false',
      TRAVERSE_STUN__PORT_ONE: String(p1),
      TRAVERSE_STUN__PORT_TWO: String(p2),
    });
  });

  after(async () => {
    await node?.stop();
  });

  it('answers an IPv6 client on port one with its IPv6 reflexive address and an IPv6 RESPONSE-ORIGIN (own codec)', async () => {
    const { m, from, local, tid } = await binding(6, V6, p1);
    assert.equal(m.cls, StunClass.SuccessResponse);
    assert.equal(from.family, 'IPv6');
    assert.equal(from.port, p1);
    assert.deepEqual(attributeValue(m, Attr.XorMappedAddress), { family: 6, address: V6, port: local });
    assert.deepEqual(attributeValue(m, Attr.MappedAddress), { family: 6, address: V6, port: local });
    // XOR-MAPPED-ADDRESS on the wire: port XOR the cookie's top half, address XOR cookie + transaction ID
    const raw = m.attributes.find((a) => a.type === Attr.XorMappedAddress)!.value;
    assert.equal(raw[1], 0x02, 'family IPv6');
    assert.equal(raw.readUInt16BE(2), local ^ 0x2112);
    const key = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), tid]);
    const addr = Buffer.alloc(16);
    addr[15] = 1; // ::1
    for (let i = 0; i < 16; i++) assert.equal(raw[4 + i], addr[i] ^ key[i], `address byte ${i}`);
    const origin = attributeValue(m, Attr.ResponseOrigin);
    assert.equal(origin?.family, 6);
    assert.equal(origin?.port, p1);
    assert.equal(attributeValue(m, Attr.OtherAddress), undefined, 'no IPv6 alternate server: no OTHER-ADDRESS');
  });

  it('answers a change-port request from port two over IPv6, and IPv4 clients still get IPv4 answers', async () => {
    const changed = await binding(6, V6, p1, { changeIp: false, changePort: true });
    assert.equal(changed.from.port, p2);
    assert.equal(attributeValue(changed.m, Attr.ResponseOrigin)?.port, p2);
    assert.equal(attributeValue(changed.m, Attr.ResponseOrigin)?.family, 6);
    const v4 = await binding(4, '127.0.0.1', p1);
    assert.deepEqual(attributeValue(v4.m, Attr.XorMappedAddress), { family: 4, address: '127.0.0.1', port: v4.local });
    assert.equal(attributeValue(v4.m, Attr.ResponseOrigin)?.family, 4);
  });

  it('refuses change-IP over IPv6 with 420 when there is no IPv6 alternate server', async () => {
    const { m } = await binding(6, V6, p1, { changeIp: true, changePort: false });
    assert.equal(m.cls, StunClass.ErrorResponse);
    assert.equal(attributeValue(m, Attr.ErrorCode)?.code, 420);
  });

  it('turnutils_stunclient on ::1 gets its IPv6 reflexive address', async () => {
    const bin = requireBinary('turnutils_stunclient', 'coturn');
    const r = await run(bin, ['-p', String(p1), V6], 20_000);
    const out = r.stdout + r.stderr;
    assert.match(out, /UDP reflexive addr: \[?::1\]?:\d+/, out);
  });
});

describe('STUN server on ::1 with an IPv6 alternate server (OTHER-ADDRESS, change-IP)', () => {
  let primary: StunServer;
  let secondary: StunServer;
  let p1 = 0;
  let p2 = 0;
  let s1 = 0;
  let s2 = 0;

  before(async () => {
    // "another IP" simulated by the secondary's own ports on ::1
    secondary = new StunServer({ address: V6, ports: [0, 0] });
    await secondary.start();
    [s1, s2] = secondary.endpoints.map((e) => e.port) as [number, number];
    primary = new StunServer({
      address: V6,
      ports: [0, 0],
      other: [
        { address: V6, port: s1 },
        { address: V6, port: s2 },
      ],
      changeIpRelay: new InProcessChangeIpRelay(secondary),
    });
    await primary.start();
    [p1, p2] = primary.endpoints.map((e) => e.port) as [number, number];
  });

  after(async () => {
    await primary?.stop();
    await secondary?.stop();
  });

  it('names the IPv6 alternate in OTHER-ADDRESS, and answers change-IP-and-port from it', async () => {
    const plain = await binding(6, V6, p1);
    assert.deepEqual(attributeValue(plain.m, Attr.OtherAddress), { family: 6, address: V6, port: s2 });
    assert.deepEqual(attributeValue(plain.m, Attr.ResponseOrigin), { family: 6, address: V6, port: p1 });
    const both = await binding(6, V6, p1, { changeIp: true, changePort: true });
    assert.equal(both.m.cls, StunClass.SuccessResponse);
    assert.equal(both.from.port, s2, 'sent from the alternate server port two');
    assert.deepEqual(attributeValue(both.m, Attr.ResponseOrigin), { family: 6, address: V6, port: s2 });
    assert.deepEqual(attributeValue(both.m, Attr.XorMappedAddress), { family: 6, address: V6, port: both.local });
    assert.ok(p2 > 0);
  });

  it('turnutils_stunclient RFC 5780 (-f) on ::1: IPv6 response origin and other address, and the change-IP-and-port answer from the alternate', async () => {
    const bin = requireBinary('turnutils_stunclient', 'coturn');
    const r = await run(bin, ['-f', '-p', String(p1), V6], 20_000);
    const out = r.stdout + r.stderr;
    assert.match(out, new RegExp(`Response origin: : \\[?::1\\]?:${p1}`), out);
    assert.match(out, new RegExp(`Other addr: : \\[?::1\\]?:${s2}`), out);
    assert.match(out, new RegExp(`RFC 5780 response 2[\\s\\S]*Response origin: : \\[?::1\\]?:${s2}`), out);
  });
});
