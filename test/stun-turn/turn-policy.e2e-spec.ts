/**
 * The TURN peer policy on every path (CreatePermission, ChannelBind, Send, Connect) and in every
 * spelling of a denied address, plus the allocation quotas. Driven by turnutils_uclient and by a
 * small client on @traverse/stun that can put any byte form in XOR-PEER-ADDRESS.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { Attr, StunClass, TransportProtocol, attributeValue, longTermKey } from '@traverse/stun';
import { TurnEvent, TurnServer } from '../../apps/media-engine/src/turn/turn-server';
import { StunMethod, TestTurnClient, errorCodeOf, peer, requireBinary, run, TEST_DATA_PLANE } from './helpers';

/** The wire forms of one IPv4 host: plain, and the IPv6 forms that embed it. */
function wireSpellings(v4: string): string[] {
  const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
  const h = (x: number, y: number) => ((x << 8) | y).toString(16);
  return [
    v4,
    `::ffff:${v4}`, // IPv4-mapped
    `::${v4}`, // IPv4-compatible
    `::ffff:0:${v4}`, // SIIT translated
    `64:ff9b::${v4}`, // NAT64 well-known prefix
    `2002:${h(a, b)}:${h(c, d)}::1`, // 6to4
    `2001:0:4136:e378:8000:63bf:${h(a ^ 0xff, b ^ 0xff)}:${h(c ^ 0xff, d ^ 0xff)}`, // Teredo
  ];
}

const DENIED = ['127.0.0.2', '0.0.0.0', '10.1.2.3', '169.254.1.1', '224.0.0.1', '255.255.255.255', '100.64.0.1'];
const DENIED_V6 = ['::1', '::', 'fe80::1', 'fc00::1', 'ff02::1'];

describe('TURN peer policy and quotas', () => {
  let server: TurnServer;
  let udp: { address: string; port: number };
  let tcp: { address: string; port: number };
  const events: TurnEvent[] = [];

  before(async () => {
    server = new TurnServer({
      dataPlane: TEST_DATA_PLANE,
      listeners: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'tcp', address: '127.0.0.1', port: 0 },
      ],
      relayAddresses: { ipv4: '127.0.0.1', ipv6: '::1' },
      relayPorts: { min: 42000, max: 42999 },
      realm: 'traverse.test',
      authenticate: async (u, r) =>
        ['alice', 'bob', 'carol', 'dave'].includes(u) ? longTermKey(u, r, 'pw') : u.startsWith('u') ? longTermKey(u, r, 'pw') : undefined,
      peerPolicy: { allow: ['127.0.0.1/32'] },
      limits: { maxPerUser: 4, maxTotal: 1000 },
      onEvent: (e) => events.push(e),
    });
    await server.start();
    udp = { address: '127.0.0.1', port: server.listeners.find((l) => l.transport === 'udp')!.port };
    tcp = { address: '127.0.0.1', port: server.listeners.find((l) => l.transport === 'tcp')!.port };
  });

  after(async () => {
    await server?.stop();
  });

  it('a denied peer is refused on CreatePermission, ChannelBind and Send in every wire spelling; the allowed one works in every spelling', async () => {
    const client = new TestTurnClient(udp, 'alice', 'pw');
    await client.open();
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    const sinkPort = sink.address().port;
    const received: Buffer[] = [];
    sink.on('message', (m) => received.push(m));
    try {
      const alloc = await client.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(alloc.cls, StunClass.SuccessResponse, `allocate failed with ${errorCodeOf(alloc)}`);
      let channel = 0x4000;
      for (const host of DENIED) {
        for (const spelling of wireSpellings(host)) {
          const p = peer(spelling, 9);
          const cp = await client.request(StunMethod.CreatePermission, [{ type: Attr.XorPeerAddress, value: p }]);
          assert.equal(errorCodeOf(cp), 403, `CreatePermission ${spelling}`);
          const cb = await client.request(StunMethod.ChannelBind, [
            { type: Attr.ChannelNumber, value: channel++ },
            { type: Attr.XorPeerAddress, value: p },
          ]);
          assert.equal(errorCodeOf(cb), 403, `ChannelBind ${spelling}`);
          const before = events.filter((e) => e.type === 'peer-denied' && e.method === 'Send').length;
          client.sendIndication(StunMethod.Send, [
            { type: Attr.XorPeerAddress, value: p },
            { type: Attr.Data, value: Buffer.from('x') },
          ]);
          await waitFor(
            () => events.filter((e) => e.type === 'peer-denied' && e.method === 'Send').length > before,
            `Send to ${spelling} refused`,
          );
        }
      }
      for (const host of DENIED_V6) {
        const cp = await client.request(StunMethod.CreatePermission, [{ type: Attr.XorPeerAddress, value: peer(host, 9) }]);
        assert.equal(errorCodeOf(cp), 403, `CreatePermission ${host}`);
      }
      // one denied spelling among allowed ones refuses the whole CreatePermission
      const mixed = await client.request(StunMethod.CreatePermission, [
        { type: Attr.XorPeerAddress, value: peer('127.0.0.1', sinkPort) },
        { type: Attr.XorPeerAddress, value: peer('::ffff:127.0.0.2', 9) },
      ]);
      assert.equal(errorCodeOf(mixed), 403);
      // the allowed host, in the spellings that mean the same host, is relayed
      for (const spelling of ['127.0.0.1', '::ffff:127.0.0.1', '::ffff:0:127.0.0.1', '::127.0.0.1']) {
        const cp = await client.request(StunMethod.CreatePermission, [{ type: Attr.XorPeerAddress, value: peer(spelling, sinkPort) }]);
        assert.equal(cp.cls, StunClass.SuccessResponse, `CreatePermission ${spelling}: ${errorCodeOf(cp)}`);
        const n = received.length;
        client.sendIndication(StunMethod.Send, [
          { type: Attr.XorPeerAddress, value: peer(spelling, sinkPort) },
          { type: Attr.Data, value: Buffer.from(spelling) },
        ]);
        await waitFor(() => received.length > n, `Send via ${spelling}`);
        assert.equal(received[received.length - 1].toString(), spelling);
      }
      assert.equal(received.length, 4);
    } finally {
      await client.close();
      await new Promise<void>((r) => sink.close(() => r()));
    }
  });

  it('a denied peer is refused on Connect (RFC 6062) in every wire spelling', async () => {
    const client = new TestTurnClient(tcp, 'bob', 'pw', 'tcp');
    await client.open();
    try {
      const alloc = await client.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.TCP }]);
      assert.equal(alloc.cls, StunClass.SuccessResponse, `allocate failed with ${errorCodeOf(alloc)}`);
      for (const host of DENIED)
        for (const spelling of wireSpellings(host)) {
          const r = await client.request(StunMethod.Connect, [{ type: Attr.XorPeerAddress, value: peer(spelling, 80) }]);
          assert.equal(errorCodeOf(r), 403, `Connect ${spelling}`);
        }
    } finally {
      await client.close();
    }
  });

  it('turnutils_uclient: the denied peer is refused (403) in each textual spelling it can send', async () => {
    const uclient = requireBinary('turnutils_uclient', 'coturn');
    let user = 0;
    for (const spelling of ['127.0.0.2', '::ffff:127.0.0.2', '::127.0.0.2', '10.0.0.1', '169.254.169.254', '0.0.0.0']) {
      for (const mode of [[], ['-s'], ['-t']]) {
        const port = mode[0] === '-t' ? tcp.port : udp.port;
        const r = await run(
          uclient,
          [...mode, '-u', `u${user++}`, '-w', 'pw', '-p', String(port), '-e', spelling, '-r', '9', '-n', '2', '127.0.0.1'],
          30_000,
        );
        const out = r.stdout + r.stderr;
        assert.match(out, /error 403/, `${spelling} ${mode.join(' ')}:\n${out.slice(-800)}`);
      }
    }
  });

  it('quota per user: a fifth allocation for the same user gets 486; another user is unaffected', async () => {
    const clients = [0, 1, 2, 3, 4].map(() => new TestTurnClient(udp, 'carol', 'pw'));
    const other = new TestTurnClient(udp, 'dave', 'pw');
    try {
      for (const c of [...clients, other]) await c.open();
      const codes: number[] = [];
      for (const c of clients) codes.push(errorCodeOf(await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }])));
      assert.deepEqual(codes, [0, 0, 0, 0, 486]);
      assert.equal(errorCodeOf(await other.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }])), 0);
      // Refresh with LIFETIME 0 frees a slot
      assert.equal(errorCodeOf(await clients[0].request(StunMethod.Refresh, [{ type: Attr.Lifetime, value: 0 }])), 0);
      assert.equal(
        errorCodeOf(await clients[4].allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }])),
        0,
      );
    } finally {
      for (const c of [...clients, other]) await c.close();
    }
  });

  it('quota in total: beyond maxTotal the server answers 508', async () => {
    const small = new TurnServer({
      dataPlane: TEST_DATA_PLANE,
      listeners: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      relayAddresses: { ipv4: '127.0.0.1' },
      relayPorts: { min: 43000, max: 43099 },
      realm: 'traverse.test',
      authenticate: async (u, r) => longTermKey(u, r, 'pw'),
      limits: { maxPerUser: 10, maxTotal: 2 },
    });
    await small.start();
    const at = { address: '127.0.0.1', port: small.listeners[0].port };
    const clients = ['x1', 'x2', 'x3'].map((u) => new TestTurnClient(at, u, 'pw'));
    try {
      const codes: number[] = [];
      for (const c of clients) {
        await c.open();
        codes.push(errorCodeOf(await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }])));
      }
      assert.deepEqual(codes, [0, 0, 508]);
    } finally {
      for (const c of clients) await c.close();
      await small.stop();
    }
  });

  it('TCP: idle connections without an allocation are closed; the connection limit holds', async () => {
    const small = new TurnServer({
      dataPlane: TEST_DATA_PLANE,
      listeners: [{ transport: 'tcp', address: '127.0.0.1', port: 0 }],
      relayAddresses: { ipv4: '127.0.0.1' },
      realm: 'traverse.test',
      authenticate: async () => undefined,
      idleConnectionTimeout: 200,
      maxConnections: 2,
    });
    await small.start();
    const port = small.listeners[0].port;
    const open = () =>
      new Promise<{ closedAfter: Promise<number> }>((resolve) => {
        const t0 = Date.now();
        const s = net.connect({ host: '127.0.0.1', port }, () =>
          resolve({ closedAfter: new Promise((r) => s.once('close', () => r(Date.now() - t0))) }),
        );
        s.on('error', () => undefined);
      });
    try {
      const a = await open();
      const b = await open();
      const c = await open();
      assert.ok((await c.closedAfter) < 150, 'the third connection is refused at once');
      const ta = await a.closedAfter;
      assert.ok(ta >= 150 && ta < 2000, `idle connection closed after ${ta} ms`);
      await b.closedAfter;
    } finally {
      await small.stop();
    }
  });

  it('EVEN-PORT with R: an even relayed port, and its RESERVATION-TOKEN gets the next (odd) port', async () => {
    const a = new TestTurnClient(udp, 'alice', 'pw');
    const b = new TestTurnClient(udp, 'alice', 'pw');
    await a.open();
    await b.open();
    try {
      const first = await a.allocate([
        { type: Attr.RequestedTransport, value: TransportProtocol.UDP },
        { type: Attr.EvenPort, value: { reserve: true } },
      ]);
      assert.equal(first.cls, StunClass.SuccessResponse, `allocate: ${errorCodeOf(first)}`);
      const port = attributeValue(first, Attr.XorRelayedAddress)!.port;
      const token = attributeValue(first, Attr.ReservationToken);
      assert.equal(port % 2, 0);
      assert.ok(token);
      const second = await b.allocate([
        { type: Attr.RequestedTransport, value: TransportProtocol.UDP },
        { type: Attr.ReservationToken, value: token },
      ]);
      assert.equal(second.cls, StunClass.SuccessResponse, `allocate with token: ${errorCodeOf(second)}`);
      assert.equal(attributeValue(second, Attr.XorRelayedAddress)!.port, port + 1);
      // a token is good once
      const c = new TestTurnClient(udp, 'bob', 'pw');
      await c.open();
      const third = await c.allocate([
        { type: Attr.RequestedTransport, value: TransportProtocol.UDP },
        { type: Attr.ReservationToken, value: token },
      ]);
      assert.equal(errorCodeOf(third), 508);
      await c.close();
      // RESERVATION-TOKEN together with EVEN-PORT is a bad request
      const d = new TestTurnClient(udp, 'dave', 'pw');
      await d.open();
      const bad = await d.allocate([
        { type: Attr.RequestedTransport, value: TransportProtocol.UDP },
        { type: Attr.ReservationToken, value: token },
        { type: Attr.EvenPort, value: { reserve: false } },
      ]);
      assert.equal(errorCodeOf(bad), 400);
      await d.close();
    } finally {
      assert.equal(errorCodeOf(await a.request(StunMethod.Refresh, [{ type: Attr.Lifetime, value: 0 }])), 0);
      assert.equal(errorCodeOf(await b.request(StunMethod.Refresh, [{ type: Attr.Lifetime, value: 0 }])), 0);
      await a.close();
      await b.close();
    }
  });

  it('requests without an allocation get 437; unknown transport 442; DONT-FRAGMENT 420', async () => {
    const c = new TestTurnClient(udp, 'alice', 'pw');
    await c.open();
    try {
      assert.equal(
        errorCodeOf(await c.request(StunMethod.CreatePermission, [{ type: Attr.XorPeerAddress, value: peer('127.0.0.1', 9) }])),
        437,
      );
      assert.equal(errorCodeOf(await c.allocate([{ type: Attr.RequestedTransport, value: 99 }])), 442);
      assert.equal(
        errorCodeOf(await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.TCP }])),
        442,
      );
      const df = await c.allocate([
        { type: Attr.RequestedTransport, value: TransportProtocol.UDP },
        { type: Attr.DontFragment, value: true },
      ]);
      assert.equal(errorCodeOf(df), 420);
    } finally {
      await c.close();
    }
  });
});

async function waitFor(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
