/**
 * STUN and TURN across two nodes sharing one Redis, started with ./traverse start: a signaling-only
 * node on 127.0.0.1 and a media-engine-only node on 127.0.0.2. The engine announces itself
 * (MediaEngineUp with its TURN ports and secondary STUN server); the signaling node's TURN front
 * redirects to it, its primary STUN server sends change-IP answers through the engine's control
 * port, and its allocations API asks the engine over the cluster.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@traverse/testing';
import { freePorts, requireBinary, run, startProcess, startTraverseNode, uclientSummary, type TraverseNode } from './helpers';

const PASSWORD = 'e2e-cluster-secret';

describe('STUN and TURN across a signaling node and a media engine node (one Redis)', () => {
  let redisDir: string;
  let redis: ChildProcess | undefined;
  let sig: TraverseNode;
  let engine: TraverseNode;
  let announced = false;
  let p: Record<'stunOne' | 'stunTwo' | 'stunMe' | 'turn' | 'tls' | 'control' | 'peer', number>;
  const helpers: { stop: () => Promise<void> }[] = [];

  before(async () => {
    const bin = requireBinary('redis-server', 'redis-server');
    redisDir = mkdtempSync(join(tmpdir(), 'traverse-e2e-turn-cluster-'));
    const sock = join(redisDir, 'redis.sock');
    redis = spawn(bin, ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
    await waitFor('redis-server', () => (existsSync(sock) ? true : undefined), 10_000);
    const [stunOne, stunTwo, stunMe, turn, tls, control, peer] = await freePorts(7);
    p = { stunOne, stunTwo, stunMe, turn, tls, control, peer };
    helpers.push(startProcess(requireBinary('turnutils_peer', 'coturn'), ['-L', '127.0.0.1', '-p', String(p.peer)]));
    const common = {
      TRAVERSE_REDIS__MODE: 'standalone',
      TRAVERSE_REDIS__URL: `unix://${sock}`,
      TRAVERSE_AUTH__FIXED_PASSWORD: PASSWORD,
      TRAVERSE_TURN__ALLOWED_PEERS: '127.0.0.1/32',
      TRAVERSE_STUN__PORT_ONE: String(p.stunOne),
      TRAVERSE_STUN__PORT_TWO: String(p.stunTwo),
      TRAVERSE_STUN__MEDIA_ENGINE_PORT: String(p.stunMe),
      // the same TURN ports on both hosts, as in a real deployment
      TRAVERSE_TURN__PORT: String(p.turn),
      TRAVERSE_TURN__TLS_PORT: String(p.tls),
      TRAVERSE_TURN__MEDIA_ENGINE_PORT: String(p.turn),
      TRAVERSE_TURN__MEDIA_ENGINE_TLS_PORT: String(p.tls),
    };
    engine = await startTraverseNode({
      ...common,
      TRAVERSE_NODE__NAME: 'e2e-me',
      TRAVERSE_NODE__ROLES: 'media-engine',
      TRAVERSE_MEDIA_ENGINE__ADDRESS: '127.0.0.2',
      TRAVERSE_MEDIA_ENGINE__CONTROL_PORT: String(p.control),
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MIN: '44100',
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MAX: '44299',
    });
    sig = await startTraverseNode({
      ...common,
      TRAVERSE_NODE__NAME: 'e2e-sig',
      TRAVERSE_NODE__ROLES: 'signaling',
      TRAVERSE_STUN__ADDRESS: '127.0.0.1',
      TRAVERSE_TURN__ADDRESS: '127.0.0.1',
    });
    // the engine is known to the signaling node once the cluster carries its MediaEngineUp
    announced = await waitFor(
      'the media engine announced',
      async () => {
        const list = JSON.parse((await sig.get('/api/turn/media-engines')).body) as Array<{ name: string }>;
        return list.some((e) => e.name === 'e2e-me') ? true : undefined;
      },
      20_000,
      200,
    ).catch(() => false);
  });

  // every case needs the engine the cluster announced: without it they fail, they do not skip

  after(async () => {
    await sig?.stop();
    await engine?.stop();
    await Promise.all(helpers.map((h) => h.stop()));
    redis?.kill();
    if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  });

  it('the signaling node learns the media engine from the cluster', () => {
    assert.ok(announced, 'the signaling node never listed the media engine e2e-me on /api/turn/media-engines');
  });

  it('turnutils_uclient over UDP and TLS is redirected to the engine node and relays without loss', async () => {
    assert.ok(announced, 'the media engine was not announced to the signaling node');
    const uclient = requireBinary('turnutils_uclient', 'coturn');
    for (const flags of [[], ['-t', '-S']]) {
      const port = flags.length ? p.tls : p.turn;
      const r = await run(uclient, [...flags, '-u', 'carol', '-w', PASSWORD, '-p', String(port), '-e', '127.0.0.1', '-r', String(p.peer), '-n', '30', '127.0.0.1'], 60_000);
      const out = r.stdout + r.stderr;
      const s = uclientSummary(out);
      assert.ok(s, out.slice(-2000));
      assert.equal(s.sent, 60, out.slice(-1500));
      assert.equal(s.received, 60);
      assert.equal(s.lost, 0);
      assert.match(out, /error 300 \(Try Alternate\)/);
    }
  });

  it('the RFC 3489 `stun` client is answered from both hosts (change IP through the engine control port): Open', async () => {
    assert.ok(announced, 'the media engine was not announced to the signaling node');
    const r = await run(requireBinary('stun', 'stun-client'), [`127.0.0.1:${p.stunOne}`, '-v'], 30_000);
    const out = r.stdout + r.stderr;
    for (const x of ['test I = 1', 'test II = 1', 'test III = 1', 'test I\\(2\\) = 1']) assert.match(out, new RegExp(x), out.slice(-1500));
    assert.match(out, /Primary: Open/);
  });

  it("the signaling node's allocations API shows a live allocation held by the engine node", async () => {
    assert.ok(announced, 'the media engine was not announced to the signaling node');
    const uclient = run(requireBinary('turnutils_uclient', 'coturn'), ['-u', 'dave', '-w', PASSWORD, '-p', String(p.turn), '-e', '127.0.0.1', '-r', String(p.peer), '-n', '150', '127.0.0.1'], 60_000);
    try {
      const rows = await waitFor(
        'an allocation of dave',
        async () => {
          const body = JSON.parse((await sig.get('/api/turn/allocations?user=dave')).body) as {
            allocations: Array<{ engine: string; node: string; username: string; relayed: Array<{ address: string }> }>;
            engines: Array<{ name: string; answered: boolean; source: string }>;
          };
          return body.allocations.length > 0 ? body : undefined;
        },
        20_000,
        200,
      );
      assert.equal(rows.allocations[0].username, 'dave');
      assert.equal(rows.allocations[0].engine, 'e2e-me');
      assert.equal(rows.allocations[0].node, 'e2e-me');
      assert.equal(rows.allocations[0].relayed[0].address, '127.0.0.2');
      assert.deepEqual(rows.engines, [{ name: 'e2e-me', node: 'e2e-me', source: 'cluster', answered: true }]);
    } finally {
      await uclient;
    }
  });
});
