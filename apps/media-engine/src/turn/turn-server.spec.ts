import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import {
  Attr,
  OutAttribute,
  StunClass,
  StunMessage,
  StunMethod,
  TransportProtocol,
  attributeValue,
  channelDataHeader,
  decodeMessage,
  encodeMessage,
  longTermKey,
  newTransactionId,
} from '@traverse/stun';
import { udpRelayAvailability } from '@traverse/udp-relay';
import { TurnDataPlane, TurnServer, type TurnServerOptions } from './turn-server';

const REALM = 'example.org';

/** A UDP TURN client on 127.0.0.1 (long-term credentials after the first 401). */
class Client {
  socket!: dgram.Socket;
  private key?: Buffer;
  private nonce?: string;
  private readonly waiting = new Map<string, (m: StunMessage) => void>();
  readonly data: Buffer[] = [];
  private dataWaiter?: () => void;

  constructor(private readonly port: number) {}

  async open(): Promise<void> {
    this.socket = dgram.createSocket('udp4');
    this.socket.bind(0, '127.0.0.1');
    await once(this.socket, 'listening');
    this.socket.on('message', (msg) => {
      if (msg[0] >= 0x40) {
        this.data.push(msg);
        this.dataWaiter?.();
        return;
      }
      const d = decodeMessage(msg);
      if (d.ok) this.waiting.get(Buffer.from(d.value.transactionId).toString('hex'))?.(d.value);
    });
  }

  async request(method: number, attrs: OutAttribute[]): Promise<StunMessage> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const transactionId = newTransactionId();
      const auth: OutAttribute[] = this.nonce
        ? [
            { type: Attr.Username, value: 'alice' },
            { type: Attr.Realm, value: REALM },
            { type: Attr.Nonce, value: this.nonce },
          ]
        : [];
      const msg = encodeMessage({ method, cls: StunClass.Request, transactionId }, [...attrs, ...auth], {
        integrityKey: this.key,
        fingerprint: true,
      });
      const res = new Promise<StunMessage>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no response to method ${method}`)), 3000);
        this.waiting.set(transactionId.toString('hex'), (m) => {
          clearTimeout(t);
          resolve(m);
        });
      });
      this.socket.send(msg, this.port, '127.0.0.1');
      const m = await res;
      if (attributeValue(m, Attr.ErrorCode)?.code === 401 && !this.nonce) {
        this.nonce = attributeValue(m, Attr.Nonce);
        this.key = longTermKey('alice', REALM, 'secret');
        continue;
      }
      return m;
    }
    throw new Error('not authenticated');
  }

  /** Waits until `n` ChannelData messages arrived (or `ms` passed). */
  async waitData(n: number, ms = 2000): Promise<Buffer[]> {
    const end = Date.now() + ms;
    while (this.data.length < n && Date.now() < end)
      await new Promise<void>((r) => {
        const t = setTimeout(r, end - Date.now());
        this.dataWaiter = () => {
          clearTimeout(t);
          r();
        };
      });
    return this.data;
  }

  close(): void {
    this.socket.close();
  }
}

function collect(s: dgram.Socket): { got: Buffer[]; wait: (n: number, ms?: number) => Promise<Buffer[]> } {
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  return {
    got,
    async wait(n, ms = 2000) {
      const end = Date.now() + ms;
      while (got.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      return got;
    },
  };
}

/** A started TurnServer on 127.0.0.1 (user alice, password secret; peers on loopback allowed) and a peer socket collecting what reaches it. */
async function relayOnLoopback(
  o: Pick<TurnServerOptions, 'relayPorts' | 'dataPlane' | 'clock'> & Partial<Pick<TurnServerOptions, 'authenticate'>>,
): Promise<{ server: TurnServer; port: number; peer: dgram.Socket; peerIn: ReturnType<typeof collect> }> {
  const server = new TurnServer({
    listeners: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
    relayAddresses: { ipv4: '127.0.0.1' },
    realm: REALM,
    authenticate: (u, r) => (u === 'alice' ? longTermKey(u, r, 'secret') : undefined),
    peerPolicy: { allow: ['127.0.0.1/32'] },
    ...o,
  });
  await server.start();
  const peer = dgram.createSocket('udp4');
  peer.bind(0, '127.0.0.1');
  await once(peer, 'listening');
  return { server, port: server.listeners[0].port, peer, peerIn: collect(peer) };
}

const native = udpRelayAvailability();
const planes: { plane: TurnDataPlane; skip: string | false }[] = [
  { plane: 'node', skip: false },
  { plane: 'native', skip: native.available ? false : native.reason },
];

for (const { plane, skip } of planes) {
  describe(`TurnServer relay on the ${plane} UDP data plane`, { skip }, () => {
    let server: TurnServer;
    let port: number;
    let peer: dgram.Socket;
    let peerIn: ReturnType<typeof collect>;

    before(async () => {
      ({ server, port, peer, peerIn } = await relayOnLoopback({ relayPorts: { min: 42000, max: 42999 }, dataPlane: plane }));
    });
    after(async () => {
      await server.stop();
      peer.close();
    });

    it('says which data plane runs', () => {
      assert.equal(server.dataPlane.plane, plane);
    });

    it('keeps what an allocation holds on to in memory of its own, not in a 64 KB pool block or datagram arena', async () => {
      // a key decoded from a stored HA1 is a slice of Node's shared Buffer pool, as the request's bytes are of the arena
      const ha1 = longTermKey('alice', REALM, 'secret').toString('hex');
      const own = await relayOnLoopback({ relayPorts: { min: 43000, max: 43999 }, dataPlane: plane, authenticate: (u) => (u === 'alice' ? Buffer.from(ha1, 'hex') : undefined) });
      const c = new Client(own.port);
      await c.open();
      try {
        const alloc = await c.request(StunMethod.Allocate, [{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
        assert.equal(alloc.cls, StunClass.SuccessResponse);
        // the table is private: read it here only to see which memory the allocation keeps
        const table = (own.server as unknown as { table: { all(): { allocateTransactionId?: Buffer; context?: { key: Buffer; allocateResponse?: Buffer } }[] } }).table;
        const [a] = table.all();
        const kept = { 'transaction id': a.allocateTransactionId!, key: a.context!.key, 'Allocate response': a.context!.allocateResponse! };
        for (const [what, b] of Object.entries(kept)) assert.equal(b.buffer.byteLength, b.length, `the ${what} holds ${b.buffer.byteLength} bytes for ${b.length}`);
        assert.ok(kept['transaction id'].equals(alloc.transactionId));
        assert.equal(kept.key.toString('hex'), ha1);
      } finally {
        c.close();
        await own.server.stop();
        own.peer.close();
      }
    });

    it('relays ChannelData both ways, Send/Data indications, counts both; a deleted allocation relays nothing more', async () => {
      const c = new Client(port);
      await c.open();
      try {
        const alloc = await c.request(StunMethod.Allocate, [{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
        assert.equal(alloc.cls, StunClass.SuccessResponse);
        const relayed = attributeValue(alloc, Attr.XorRelayedAddress)!;
        const peerAddr = { family: 4 as const, address: '127.0.0.1', port: peer.address().port };
        const bind = await c.request(StunMethod.ChannelBind, [
          { type: Attr.ChannelNumber, value: 0x4000 },
          { type: Attr.XorPeerAddress, value: peerAddr },
        ]);
        assert.equal(bind.cls, StunClass.SuccessResponse);

        for (let i = 0; i < 10; i++)
          c.socket.send(Buffer.concat([channelDataHeader(0x4000, 3), Buffer.from([i, i, i])]), port, '127.0.0.1');
        const up = await peerIn.wait(10);
        assert.equal(up.length, 10);
        assert.deepEqual(up[9], Buffer.from([9, 9, 9]));

        for (let i = 0; i < 5; i++) peer.send(Buffer.from(`peer ${i}`), relayed.port, '127.0.0.1');
        const down = await c.waitData(5);
        assert.equal(down.length, 5);
        assert.deepEqual(down[0], Buffer.concat([channelDataHeader(0x4000, 6), Buffer.from('peer 0')]));

        // a Send indication goes through JavaScript and the same relayed socket
        c.socket.send(
          encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: newTransactionId() }, [
            { type: Attr.XorPeerAddress, value: peerAddr },
            { type: Attr.Data, value: Buffer.from('by indication') },
          ]),
          port,
          '127.0.0.1',
        );
        const viaSend = await peerIn.wait(11);
        assert.equal(viaSend[10].toString(), 'by indication');

        const [info] = server.allocations();
        assert.equal(info.packetsToPeers, 11);
        assert.equal(info.bytesToPeers, 30 + 13);
        assert.equal(info.packetsToClient, 5);
        assert.equal(info.bytesToClient, 30);

        const refresh = await c.request(StunMethod.Refresh, [{ type: Attr.Lifetime, value: 0 }]);
        assert.equal(refresh.cls, StunClass.SuccessResponse);
        assert.equal(server.allocations().length, 0);
        const t = server.totals();
        assert.equal(t.packetsToPeers, 11);
        assert.equal(t.packetsToClients, 5);

        c.socket.send(Buffer.concat([channelDataHeader(0x4000, 3), Buffer.from('xyz')]), port, '127.0.0.1');
        peer.send(Buffer.from('late'), relayed.port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(peerIn.got.length, 11);
        assert.equal(c.data.length, 5);
      } finally {
        c.close();
      }
    });

    it('ChannelData of an unbound channel, or before any ChannelBind, is not relayed', async () => {
      const c = new Client(port);
      await c.open();
      try {
        const alloc = await c.request(StunMethod.Allocate, [{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
        assert.equal(alloc.cls, StunClass.SuccessResponse);
        const before = peerIn.got.length;
        const dropped = server.counters.droppedNoPermission;
        c.socket.send(Buffer.concat([channelDataHeader(0x4001, 3), Buffer.from('abc')]), port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(peerIn.got.length, before);
        assert.equal(server.counters.droppedNoPermission, dropped + 1);
        await c.request(StunMethod.Refresh, [{ type: Attr.Lifetime, value: 0 }]);
      } finally {
        c.close();
      }
    });
  });
}

describe('TurnServer native routes', { skip: native.available ? false : native.reason }, () => {
  it('a channel that expires in a live allocation leaves the data plane; what it relayed stays counted', async () => {
    let skew = 0;
    const { server, port, peer, peerIn } = await relayOnLoopback({ relayPorts: { min: 43000, max: 43999 }, dataPlane: 'native', clock: () => Date.now() + skew });
    const c = new Client(port);
    await c.open();
    try {
      await c.request(StunMethod.Allocate, [{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      const refresh = await c.request(StunMethod.Refresh, [{ type: Attr.Lifetime, value: 3600 }]);
      assert.equal(refresh.cls, StunClass.SuccessResponse);
      const bind = await c.request(StunMethod.ChannelBind, [
        { type: Attr.ChannelNumber, value: 0x4000 },
        { type: Attr.XorPeerAddress, value: { family: 4, address: '127.0.0.1', port: peer.address().port } },
      ]);
      assert.equal(bind.cls, StunClass.SuccessResponse);
      assert.equal(server.dataPlaneStats()?.routes, 1);
      for (let i = 0; i < 4; i++) c.socket.send(Buffer.concat([channelDataHeader(0x4000, 1), Buffer.from([i])]), port, '127.0.0.1');
      assert.equal((await peerIn.wait(4)).length, 4);
      assert.equal(server.dataPlaneStats()?.forwardedToPeers, 4);

      skew = 601_000; // past the channel's 10 minutes, within the allocation's hour
      const end = Date.now() + 3000;
      while (server.dataPlaneStats()?.routes !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.equal(server.dataPlaneStats()?.routes, 0);
      const [info] = server.allocations();
      assert.ok(info, 'the allocation lives on');
      assert.equal(info.packetsToPeers, 4);
      c.socket.send(Buffer.concat([channelDataHeader(0x4000, 1), Buffer.from([9])]), port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(peerIn.got.length, 4, 'nothing relayed on the expired channel');
    } finally {
      c.close();
      peer.close();
      await server.stop();
    }
  });
});

describe('TurnServer data plane choice', () => {
  it(
    "'native' where the native plane is not available fails at start with the reason; 'auto' falls back to node",
    { skip: native.available ? 'the native data plane is available here' : false },
    async () => {
      const opts = {
        listeners: [{ transport: 'udp' as const, address: '127.0.0.1', port: 0 }],
        relayAddresses: { ipv4: '127.0.0.1' },
        realm: REALM,
        authenticate: () => undefined,
      };
      await assert.rejects(new TurnServer({ ...opts, dataPlane: 'native' }).start(), /native UDP data plane is not available/);
      const auto = new TurnServer({ ...opts, dataPlane: 'auto' });
      await auto.start();
      assert.equal(auto.dataPlane.plane, 'node');
      assert.ok(auto.dataPlane.unavailable);
      await auto.stop();
    },
  );

  it("'auto' runs the native plane where it is available", { skip: native.available ? false : native.reason }, async () => {
    const auto = new TurnServer({
      listeners: [{ transport: 'udp' as const, address: '127.0.0.1', port: 0 }],
      relayAddresses: { ipv4: '127.0.0.1' },
      realm: REALM,
      authenticate: () => undefined,
      dataPlane: 'auto',
    });
    await auto.start();
    assert.deepEqual(auto.dataPlane, { plane: 'native' });
    await auto.stop();
  });
});
