/**
 * The media engine's TurnServer as the node configures it: a redirect policy (300 Try Alternate from
 * the engine's own listener, as when it serves the front in one process), the user database being
 * down (500, never 401), the per-allocation bandwidth cap, and the allocation listing of the O&M API.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Attr, StunClass, TransportProtocol, attributeValue, channelDataHeader, longTermKey } from '@traverse/stun';
import { TurnServer } from '../../apps/media-engine/src/turn/turn-server';
import { TurnAuthUnavailableError } from '@traverse/stun-turn';
import { StunMethod, TestTurnClient, errorCodeOf, peer, TEST_DATA_PLANE } from './helpers';

const REALM = 'traverse.test';

describe('TurnServer: redirect hook, unavailable user database, bandwidth cap, allocation listing', () => {
  let server: TurnServer;
  let port = 0;
  let down = false;

  before(async () => {
    server = new TurnServer({
      dataPlane: TEST_DATA_PLANE,
      listeners: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      relayAddresses: { ipv4: '127.0.0.1' },
      relayPorts: { min: 40000, max: 40999 },
      realm: REALM,
      authenticate: (u, r) => {
        if (down) throw new TurnAuthUnavailableError('RADIUS server does not answer');
        return u.startsWith('alice') || u === 'carol' ? longTermKey(u, r, 'wonderland') : undefined;
      },
      peerPolicy: { allow: ['127.0.0.1/32'] },
      // 8 kbit/s: 1,000 bytes per second each way, a second's worth of burst
      maxBandwidthBytesPerSecond: 1000,
    });
    server.redirect = (_client, username) => (username === 'carol' ? { family: 4, address: '192.0.2.50', port: 3560 } : undefined);
    await server.start();
    port = server.listeners[0].port;
  });

  after(async () => {
    await server?.stop();
  });

  it('an authenticated Allocate the policy sends elsewhere gets 300 with ALTERNATE-SERVER and no allocation', async () => {
    const c = new TestTurnClient({ address: '127.0.0.1', port }, 'carol', 'wonderland');
    await c.open();
    try {
      const r = await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(errorCodeOf(r), 300);
      assert.deepEqual(attributeValue(r, Attr.AlternateServer), { family: 4, address: '192.0.2.50', port: 3560 });
      assert.equal(server.allocations({ user: 'carol' }).length, 0);
    } finally {
      await c.close();
    }
  });

  it('a user database that does not answer gets 500, not 401', async () => {
    const c = new TestTurnClient({ address: '127.0.0.1', port }, 'alice-down', 'wonderland');
    await c.open();
    down = true;
    try {
      assert.equal(errorCodeOf(await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }])), 500);
    } finally {
      down = false;
      await c.close();
    }
  });

  it('drops what exceeds the bandwidth cap and lists the allocation with its counters', async () => {
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    let received = 0;
    sink.on('message', (m) => (received += m.length));
    const c = new TestTurnClient({ address: '127.0.0.1', port }, 'alice', 'wonderland');
    await c.open();
    try {
      assert.equal((await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }])).cls, StunClass.SuccessResponse);
      const bind = await c.request(StunMethod.ChannelBind, [
        { type: Attr.ChannelNumber, value: 0x4000 },
        { type: Attr.XorPeerAddress, value: peer('127.0.0.1', sink.address().port) },
      ]);
      assert.equal(bind.cls, StunClass.SuccessResponse);
      // 40 x 100 B = 4,000 B at once: the 1,000 B burst passes, the rest is dropped
      for (let i = 0; i < 40; i++) c.sendRaw(Buffer.concat([channelDataHeader(0x4000, 100), Buffer.alloc(100, i)]));
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(received >= 1000 && received <= 1200, `received ${received} bytes`);
      assert.ok(server.counters.droppedBandwidth >= 25);
      const [a] = server.allocations({ user: 'alice' });
      assert.equal(a.username, 'alice');
      assert.equal(a.clientTransport, 'udp');
      assert.equal(a.channels, 1);
      assert.equal(a.permissions, 1);
      assert.equal(a.bytesToPeers, received);
      assert.equal(server.totals().bytesToPeers, received);
    } finally {
      await c.close();
      sink.close();
    }
  });
});
