/**
 * The signaling node's TURN front: it authenticates Allocate and redirects with 300 Try Alternate
 * + ALTERNATE-SERVER to the media engine's TURN server, which does the relaying.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Attr, StunClass, TransportProtocol, attributeValue, longTermKey, verifyIntegrity } from '@traverse/stun';
import { TurnFront, TurnFrontEvent } from '../../apps/signaling/src/stun/turn-front';
import { TurnServer } from '../../apps/media-engine/src/turn/turn-server';
import { StunMethod, TestTurnClient, errorCodeOf, freePort, requireBinary, run, startProcess, uclientSummary, TEST_DATA_PLANE } from './helpers';

const REALM = 'traverse.test';
const authenticate = async (u: string, r: string) => (u === 'alice' ? longTermKey(u, r, 'wonderland') : undefined);

describe('TURN front on the signaling node', () => {
  let front: TurnFront;
  let engine: TurnServer;
  let enginePort = 0;
  let engineTcpPort = 0;
  const events: TurnFrontEvent[] = [];

  before(async () => {
    engine = new TurnServer({
      dataPlane: TEST_DATA_PLANE,
      listeners: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'tcp', address: '127.0.0.1', port: 0 },
      ],
      relayAddresses: { ipv4: '127.0.0.1' },
      relayPorts: { min: 44000, max: 44999 },
      realm: REALM,
      authenticate,
      peerPolicy: { allow: ['127.0.0.1/32'] },
    });
    await engine.start();
    enginePort = engine.listeners.find((l) => l.transport === 'udp')!.port;
    engineTcpPort = engine.listeners.find((l) => l.transport === 'tcp')!.port;
    front = new TurnFront({
      listeners: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'tcp', address: '127.0.0.1', port: 0 },
      ],
      realm: REALM,
      authenticate,
      selectAlternate: (client, _user, transport) => ({
        family: client.family,
        address: '127.0.0.1',
        port: transport === 'udp' ? enginePort : engineTcpPort,
      }),
      onEvent: (e) => events.push(e),
    });
    await front.start();
  });

  after(async () => {
    await front?.stop();
    await engine?.stop();
  });

  it('challenges, then answers an authenticated Allocate with an integrity-protected 300 + ALTERNATE-SERVER', async () => {
    const c = new TestTurnClient({ address: '127.0.0.1', port: front.listeners[0].port }, 'alice', 'wonderland');
    await c.open();
    try {
      const r = await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(r.cls, StunClass.ErrorResponse);
      assert.equal(errorCodeOf(r), 300);
      assert.deepEqual(attributeValue(r, Attr.AlternateServer), { family: 4, address: '127.0.0.1', port: enginePort });
      assert.ok(verifyIntegrity(r, longTermKey('alice', REALM, 'wonderland')));
      assert.equal(errorCodeOf(await c.request(StunMethod.Refresh, [])), 437);
    } finally {
      await c.close();
    }
    const bad = new TestTurnClient({ address: '127.0.0.1', port: front.listeners[0].port }, 'alice', 'nope');
    await bad.open();
    try {
      assert.equal(
        errorCodeOf(await bad.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }])),
        401,
      );
    } finally {
      await bad.close();
    }
  });

  it('turnutils_uclient follows the redirect and relays through the media engine without loss', async () => {
    const uclient = requireBinary('turnutils_uclient', 'coturn');
    const peerBin = requireBinary('turnutils_peer', 'coturn');
    const peerPort = await freePort();
    const peer = startProcess(peerBin, ['-L', '127.0.0.1', '-p', String(peerPort)]);
    try {
      await new Promise((r) => setTimeout(r, 300));
      for (const [flags, port] of [
        [[], front.listeners.find((l) => l.transport === 'udp')!.port],
        [['-t'], front.listeners.find((l) => l.transport === 'tcp')!.port],
      ] as const) {
        const r = await run(
          uclient,
          [
            ...flags,
            '-u',
            'alice',
            '-w',
            'wonderland',
            '-p',
            String(port),
            '-e',
            '127.0.0.1',
            '-r',
            String(peerPort),
            '-n',
            '30',
            '127.0.0.1',
          ],
          60_000,
        );
        const out = r.stdout + r.stderr;
        const s = uclientSummary(out);
        assert.ok(s, out.slice(-2000));
        assert.equal(s.sent, 60);
        assert.equal(s.received, 60);
        assert.equal(s.lost, 0);
      }
      assert.ok(events.some((e) => e.type === 'redirected'));
    } finally {
      await peer.stop();
    }
  });
});
