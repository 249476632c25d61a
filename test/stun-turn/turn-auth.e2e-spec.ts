/**
 * Long-term credentials on the TURN server: RFC 5389 clients (MD5) and RFC 8489 clients
 * (PASSWORD-ALGORITHMS / PASSWORD-ALGORITHM SHA-256, USERHASH, MESSAGE-INTEGRITY-SHA256) on the same server;
 * nonces that go stale give 438 and the client recovers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attr,
  PasswordAlgorithm,
  StunClass,
  TransportProtocol,
  attributeValue,
  longTermKey,
  userhash,
  verifyIntegrity,
  verifyIntegritySha256,
} from '@traverse/stun';
import { TurnServer } from '../../apps/media-engine/src/turn/turn-server';
import {
  StunMethod,
  TestTurnClient,
  errorCodeOf,
  freePort,
  requireBinary,
  run,
  startProcess,
  uclientSummary,
  TEST_DATA_PLANE,
} from './helpers';

const REALM = 'traverse.test';
const USERS: Record<string, string> = { alice: 'wonderland', bob: 'builder' };

describe('TURN long-term credentials (RFC 5389 and RFC 8489 clients)', () => {
  let server: TurnServer;
  let port = 0;
  let skew = 0;
  const asked: number[] = [];

  before(async () => {
    server = new TurnServer({
      dataPlane: TEST_DATA_PLANE,
      listeners: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      relayAddresses: { ipv4: '127.0.0.1' },
      relayPorts: { min: 45000, max: 45999 },
      realm: REALM,
      passwordAlgorithms: [PasswordAlgorithm.SHA256, PasswordAlgorithm.MD5],
      resolveUserhash: async (hash, realm) => Object.keys(USERS).find((u) => userhash(u, realm).equals(hash)),
      authenticate: async (u, r, algorithm) => {
        asked.push(algorithm);
        return USERS[u] === undefined ? undefined : longTermKey(u, r, USERS[u], algorithm);
      },
      peerPolicy: { allow: ['127.0.0.1/32'] },
      nonceLifetime: 60,
      clock: () => Date.now() + skew,
    });
    await server.start();
    port = server.listeners[0].port;
  });

  after(async () => {
    await server?.stop();
  });

  it('an RFC 8489 client chooses SHA-256 and gets a response protected with MESSAGE-INTEGRITY-SHA256', async () => {
    const c = new TestTurnClient({ address: '127.0.0.1', port }, 'alice', 'wonderland');
    c.modern = true;
    await c.open();
    try {
      const r = await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(r.cls, StunClass.SuccessResponse, `error ${errorCodeOf(r)}`);
      assert.ok(verifyIntegritySha256(r, c.currentKey!));
      assert.equal(asked[asked.length - 1], PasswordAlgorithm.SHA256);
    } finally {
      await c.close();
    }
  });

  it('USERHASH instead of USERNAME is resolved and accepted', async () => {
    const c = new TestTurnClient({ address: '127.0.0.1', port }, 'bob', 'builder');
    c.modern = true;
    c.anonymous = true;
    await c.open();
    try {
      const r = await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(r.cls, StunClass.SuccessResponse, `error ${errorCodeOf(r)}`);
    } finally {
      await c.close();
    }
  });

  it('an RFC 5389 client (no algorithm attributes) is served with MD5 and MESSAGE-INTEGRITY', async () => {
    const c = new TestTurnClient({ address: '127.0.0.1', port }, 'alice', 'wonderland');
    await c.open();
    try {
      const r = await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(r.cls, StunClass.SuccessResponse, `error ${errorCodeOf(r)}`);
      assert.ok(verifyIntegrity(r, longTermKey('alice', REALM, 'wonderland')));
      assert.equal(asked[asked.length - 1], PasswordAlgorithm.MD5);
      // a stale nonce: 438 with a fresh nonce; the client retries and succeeds
      skew += 61_000;
      const refresh = await c.request(StunMethod.Refresh, [{ type: Attr.Lifetime, value: 600 }]);
      assert.equal(refresh.cls, StunClass.SuccessResponse, `error ${errorCodeOf(refresh)}`);
      assert.equal(attributeValue(refresh, Attr.Lifetime), 600);
    } finally {
      await c.close();
    }
  });

  it('turnutils_uclient authenticates against a server that offers password algorithms', async () => {
    const uclient = requireBinary('turnutils_uclient', 'coturn');
    const peerPort = await freePort();
    const peer = startProcess(requireBinary('turnutils_peer', 'coturn'), ['-L', '127.0.0.1', '-p', String(peerPort)]);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = await run(uclient, [
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
        '20',
        '127.0.0.1',
      ]);
      const s = uclientSummary(r.stdout + r.stderr);
      assert.ok(s, (r.stdout + r.stderr).slice(-1500));
      assert.equal(s.lost, 0);
      assert.equal(s.received, 40);
    } finally {
      await peer.stop();
    }
  });
});
