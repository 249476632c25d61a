/**
 * turn.passwordAlgorithms on a node started with ./traverse start (signaling on 127.0.0.1, media
 * engine on 127.0.0.2): the front and the engine offer RFC 8489 PASSWORD-ALGORITHMS, an RFC 8489
 * client authenticates with SHA-256 keys (MESSAGE-INTEGRITY-SHA256) through the redirect and gets
 * its allocation, and an RFC 5389 client still gets one with MD5.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Attr, PasswordAlgorithm, TransportProtocol, attributeValue, longTermKey, verifyIntegritySha256 } from '@traverse/stun';
import { StunMethod, TestTurnClient, errorCodeOf, freePorts, startTraverseNode, type TraverseNode } from './helpers';

const A = '127.0.0.1';
const B = '127.0.0.2';
const PASSWORD = 'e2e-sha-secret';

describe('TURN password algorithms (RFC 8489) on a node', { timeout: 180_000 }, () => {
  let node: TraverseNode;
  let p: { front: number; engine: number };

  before(async () => {
    const ports = await freePorts(8);
    p = { front: ports[0], engine: ports[1] };
    node = await startTraverseNode({
      TRAVERSE_NODE__NAME: 'e2e-turn-sha',
      TRAVERSE_AUTH__FIXED_PASSWORD: PASSWORD,
      TRAVERSE_STUN__ADDRESS: A,
      TRAVERSE_STUN__PORT_ONE: String(ports[2]),
      TRAVERSE_STUN__PORT_TWO: String(ports[3]),
      TRAVERSE_STUN__MEDIA_ENGINE_PORT: String(ports[4]),
      TRAVERSE_TURN__ADDRESS: A,
      TRAVERSE_TURN__PORT: String(p.front),
      TRAVERSE_TURN__TLS_PORT: '0',
      TRAVERSE_TURN__MEDIA_ENGINE_PORT: String(p.engine),
      TRAVERSE_TURN__MEDIA_ENGINE_TLS_PORT: '0',
      TRAVERSE_TURN__PASSWORD_ALGORITHMS: 'SHA-256,MD5',
      TRAVERSE_MEDIA_ENGINE__NAME: 'me-sha',
      TRAVERSE_MEDIA_ENGINE__ADDRESS: B,
      TRAVERSE_MEDIA_ENGINE__CONTROL_PORT: String(ports[5]),
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MIN: '41000',
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MAX: '41999',
    });
  });

  after(async () => {
    await node?.stop();
  });

  for (const [name, target] of [
    ['the front', () => ({ address: A, port: p.front })],
    ['the media engine', () => ({ address: B, port: p.engine })],
  ] as const) {
    it(`${name} offers SHA-256 then MD5 in its 401`, async () => {
      const c = new TestTurnClient(target(), 'alice', PASSWORD);
      await c.open();
      try {
        const r = await c.request(StunMethod.Allocate, [{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }], false);
        assert.equal(errorCodeOf(r), 401);
        assert.deepEqual(
          attributeValue(r, Attr.PasswordAlgorithms)?.map((a) => a.algorithm),
          [PasswordAlgorithm.SHA256, PasswordAlgorithm.MD5],
        );
      } finally {
        await c.close();
      }
    });
  }

  it('an RFC 8489 client authenticates with SHA-256 at the front (300 to the engine) and allocates at the engine', async () => {
    const front = new TestTurnClient({ address: A, port: p.front }, 'alice', PASSWORD);
    front.modern = true;
    await front.open();
    try {
      const r = await front.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(errorCodeOf(r), 300);
      assert.deepEqual(attributeValue(r, Attr.AlternateServer), { family: 4, address: B, port: p.engine });
      assert.ok(r.integritySha256Offset >= 0, 'the 300 is protected with MESSAGE-INTEGRITY-SHA256');
      // the key the client used is the SHA-256 one (SHA-256 of alice:realm:password), and it verifies the answer
      const realm = node.logs().find((l) => l.msg === 'TURN server (media engine) started')?.realm as string;
      assert.ok(front.currentKey?.equals(longTermKey('alice', realm, PASSWORD, PasswordAlgorithm.SHA256)), 'a SHA-256 key');
      assert.ok(verifyIntegritySha256(r, front.currentKey!));
    } finally {
      await front.close();
    }
    const engine = new TestTurnClient({ address: B, port: p.engine }, 'alice', PASSWORD);
    engine.modern = true;
    await engine.open();
    try {
      const r = await engine.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(errorCodeOf(r), 0, `allocated (got ${errorCodeOf(r)})`);
      assert.equal(attributeValue(r, Attr.XorRelayedAddress)?.address, B);
      assert.ok(r.integritySha256Offset >= 0);
      // a wrong password with SHA-256 is refused
      const bad = new TestTurnClient({ address: B, port: p.engine }, 'alice', 'wrong');
      bad.modern = true;
      await bad.open();
      try {
        assert.equal(errorCodeOf(await bad.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }])), 401);
      } finally {
        await bad.close();
      }
    } finally {
      await engine.close();
    }
  });

  it('an RFC 5389 client (no PASSWORD-ALGORITHM) still allocates with MD5', async () => {
    const c = new TestTurnClient({ address: B, port: p.engine }, 'bob', PASSWORD);
    await c.open();
    try {
      const r = await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(errorCodeOf(r), 0, `allocated (got ${errorCodeOf(r)})`);
      assert.ok(r.integrityOffset >= 0 && r.integritySha256Offset < 0, 'answered with MESSAGE-INTEGRITY (MD5 key)');
    } finally {
      await c.close();
    }
  });
});
