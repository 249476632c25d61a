// Three traverse nodes started as a user starts them (`./traverse start`), sharing one Redis:
// first a standalone redis-server, then a 3-master Redis Cluster, both started by the suite.
// Registrations made with SIPp on one node are served by the others; the master is killed with
// SIGKILL and no registration is lost, another node takes the lease, the killed node restarts,
// rebuilds its state and rejoins; a registration expires exactly once across the cluster; a
// digest nonce issued by one node is accepted by another.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedisClient, startRedisCluster, startRedisServer, type RedisConnectionOptions } from '@traverse/redis';
import { KeySpace } from '@traverse/cluster';
import { challengesFromHeaders, computeAuthorization, parseMessage, serializeDigestCredentials, type SipResponse } from '@traverse/sip';
import { httpsRequest, waitFor } from '@traverse/testing';
import { ClusterMember, type ClusterView } from './cluster-node';
import { BaresipUa } from '../sip/baresip-ua';
import { sipp } from '../sip/helpers';

const PASSWORD = 'cluster-e2e-secret';
const DOMAIN = 'cluster.test';
const LEASE_MS = 1500;
const SHARDS = 16;

/** Registers one user with SIPp (REGISTER, 401, REGISTER with digest authentication, 200) on a node. */
async function registerUser(node: ClusterMember, user: string, expires: number): Promise<void> {
  const r = await sipp(node, 'register-auth.xml', { user, password: PASSWORD, keys: { domain: DOMAIN, expires } });
  assert.equal(r.code, 0, `${r.log}\n--- node ${node.name}\n${node.log().slice(-3000)}`);
}

/** Registers users on a node, ten SIPp runs at a time. */
async function registerUsers(node: ClusterMember, users: string[], expires = 3600): Promise<void> {
  for (let i = 0; i < users.length; i += 10) await Promise.all(users.slice(i, i + 10).map((u) => registerUser(node, u, expires)));
}

/** A minimal UDP SIP client: sends a request, resolves with the response to it. */
async function udpRequest(port: number, text: string): Promise<SipResponse> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    const local = sock.address().port;
    const msg = Buffer.from(text.replace(/LOCALPORT/g, String(local)));
    return await new Promise<SipResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SIP response within 5 s')), 5000);
      sock.on('message', (b) => {
        const p = parseMessage(b);
        if (p.ok && p.value.kind === 'response') {
          clearTimeout(timer);
          resolve(p.value);
        }
      });
      sock.send(msg, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

function register(user: string, cseq: number, callId: string, authorization?: string): string {
  return [
    `REGISTER sip:${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:LOCALPORT;branch=z9hG4bK-${callId}-${cseq};rport`,
    `From: <sip:${user}@${DOMAIN}>;tag=t-${callId}`,
    `To: <sip:${user}@${DOMAIN}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@127.0.0.1:LOCALPORT>`,
    'Max-Forwards: 70',
    'Expires: 3600',
    ...(authorization ? [`Authorization: ${authorization}`] : []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Waits until every node sees the same master and the given number of servers up. */
async function converged(nodes: ClusterMember[], up: number): Promise<ClusterView[]> {
  return waitFor(
    `the cluster of ${nodes.map((n) => n.name).join(', ')} to agree on a master with ${up} servers up`,
    async () => {
      const views = await Promise.all(nodes.map((n) => n.cluster()));
      const masters = new Set(views.map((v) => v.master?.name));
      const ok =
        views.every((v) => v.master && v.servers.filter((s) => s.status === 'up').length === up) &&
        masters.size === 1 &&
        views.filter((v) => v.isMaster).length === 1;
      return ok ? views : undefined;
    },
    30_000,
    100,
  );
}

async function countEvents(redis: RedisConnectionOptions, prefix: string, type: string, aor: string): Promise<number> {
  const client = createRedisClient(redis);
  try {
    const keys = new KeySpace(prefix, SHARDS);
    let n = 0;
    for (let s = 0; s < SHARDS; s++) {
      const entries = (await client.xrange(keys.stream(s), '-', '+')) as [string, string[]][];
      for (const [, fields] of entries) {
        const h = fields[fields.indexOf('h') + 1] ?? '';
        const d = fields[fields.indexOf('d') + 1] ?? '';
        if (h.startsWith(`${type}|`) && (JSON.parse(d) as { aor?: string }).aor === aor) n++;
      }
    }
    return n;
  } finally {
    client.disconnect();
  }
}

interface Backend {
  name: string;
  start(dir: string): Promise<{ env: Record<string, string>; options: RedisConnectionOptions; stop(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'a standalone redis-server',
    async start(dir) {
      const server = await startRedisServer({ dir, persistence: true });
      const url = server.url;
      return { env: { TRAVERSE_REDIS__MODE: 'standalone', TRAVERSE_REDIS__URL: url }, options: { mode: 'standalone', url }, stop: () => server.stop() };
    },
  },
  {
    name: 'a 3-master Redis Cluster',
    async start(dir) {
      const cluster = await startRedisCluster({ dir, masters: 3 });
      return {
        env: { TRAVERSE_REDIS__MODE: 'cluster', TRAVERSE_REDIS__NODES: JSON.stringify(cluster.nodes) },
        options: { mode: 'cluster', nodes: cluster.nodes },
        stop: () => cluster.stop(),
      };
    },
  },
];

for (const backend of backends) {
  describe(`three nodes started with ./traverse start on ${backend.name}`, { timeout: 300_000 }, () => {
    let dir: string;
    let redis: Awaited<ReturnType<Backend['start']>>;
    const prefix = `e2e${process.pid}${backend === backends[0] ? 's' : 'c'}`;
    const nodes: ClusterMember[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'traverse-cluster-e2e-'));
      redis = await backend.start(dir);
      const shared = {
        ...redis.env,
        TRAVERSE_REDIS__KEY_PREFIX: prefix,
        TRAVERSE_NODE__ROLES: 'signaling',
        TRAVERSE_AUTH__FIXED_PASSWORD: PASSWORD,
        TRAVERSE_REGISTRAR__DOMAINS: DOMAIN,
        TRAVERSE_REGISTRAR__MIN_EXPIRES: '2',
        TRAVERSE_CLUSTER__LEASE_MS: String(LEASE_MS),
        TRAVERSE_CLUSTER__HEARTBEAT_MS: '250',
        TRAVERSE_CLUSTER__SHARDS: String(SHARDS),
        TRAVERSE_CLUSTER__NODE_ADDRESS: '127.0.0.1',
      };
      for (const name of ['node-a', 'node-b', 'node-c']) nodes.push(await ClusterMember.create(name, shared));
      await Promise.all(nodes.map((n) => n.start()));
    });

    after(async () => {
      for (const n of nodes) n.remove();
      await redis?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('serves a registration made on one node from every node, with one master and the Servers table', async () => {
      const [a, , c] = nodes;
      const views = await converged(nodes, 3);
      const master = views[0].master!;
      for (const v of views) assert.deepEqual(v.servers.map((s) => s.name).sort(), ['node-a', 'node-b', 'node-c']);
      for (const n of nodes) {
        const status = await n.get<{ masterServerAddress: string | null; nodeName: string }>('/api/status');
        assert.equal(status.masterServerAddress, master.address);
        assert.equal(status.nodeName, n.name);
      }
      const users = Array.from({ length: 30 }, (_, i) => `user${i}`);
      await registerUsers(a, users);
      const onC = await waitFor('node-c to list the 30 registrations made on node-a', async () => {
        const rows = await c.registrations();
        return rows.length === 30 ? rows : undefined;
      });
      assert.deepEqual(onC.map((r) => r.sipUri).sort(), users.map((u) => `sip:${u}@${DOMAIN}`).sort());
      // the flow to each client belongs to the node the REGISTER came to
      assert.ok(onC.every((r) => r.node === 'node-a'));
    });

    it('accepts on one node the digest answer to a challenge another node sent', async () => {
      const [, b, c] = nodes;
      const first = await udpRequest(b.sipPort, register('roamer', 1, `roam-${prefix}`));
      assert.equal(first.status, 401);
      const challenge = challengesFromHeaders(first.headerValues('www-authenticate'))[0];
      const creds = computeAuthorization(challenge, { username: 'roamer', password: PASSWORD, method: 'REGISTER', uri: `sip:${DOMAIN}` });
      assert.ok(creds.ok);
      const second = await udpRequest(c.sipPort, register('roamer', 2, `roam-${prefix}`, serializeDigestCredentials(creds.value)));
      assert.equal(second.status, 200, `node-c refused node-b's nonce: ${second.status} ${second.reason}`);
      const wrong = computeAuthorization(challenge, { username: 'roamer', password: 'not it', method: 'REGISTER', uri: `sip:${DOMAIN}` });
      assert.ok(wrong.ok);
      const third = await udpRequest(c.sipPort, register('roamer', 3, `roam-${prefix}`, serializeDigestCredentials(wrong.value)));
      assert.equal(third.status, 403);
    });

    it('sends a call that arrives at one node to the callee whose TCP connection another node holds (baresip on both ends)', async () => {
      const [a, b, c] = nodes;
      // bob reaches the cluster through node-b over his own TCP connection; alice calls through node-a
      const bob = await BaresipUa.start({ user: 'bob', domain: DOMAIN, password: PASSWORD, transport: 'tcp', outbound: `sip:127.0.0.1:${b.env.TRAVERSE_SIP__TCP_PORT};transport=tcp`, answer: 'auto', outboundFlow: true });
      const alice = await BaresipUa.start({ user: 'alice', domain: DOMAIN, password: PASSWORD, transport: 'udp', outbound: `sip:127.0.0.1:${a.sipPort}`, answer: 'manual' });
      try {
        const registered = (user: string) =>
          waitFor(`${user} registered, seen by node-c`, async () => (await c.registrations()).find((r) => r.sipUri === `sip:${user}@${DOMAIN}`), 15_000);
        const bobRow = await registered('bob');
        assert.equal(bobRow.node, 'node-b');
        assert.ok(bobRow.regId !== undefined && bobRow.instance !== undefined, `bob registered an RFC 5626 flow: ${JSON.stringify(bobRow)}`);
        assert.equal((await registered('alice')).node, 'node-a');

        const dial = await alice.command('dial', `sip:bob@${DOMAIN}`);
        assert.ok(dial.ok, dial.data);
        const established = await alice.event('CALL_ESTABLISHED', 20_000).catch((e: Error) => {
          throw new Error(`${e.message}\nalice: ${JSON.stringify(alice.events)}\nbob: ${JSON.stringify(bob.events)}\n--- node-a\n${a.log().slice(-4000)}\n--- node-b\n${b.log().slice(-4000)}`);
        });
        await bob.event('CALL_ESTABLISHED');
        const hangup = await alice.command('hangup');
        assert.ok(hangup.ok, hangup.data);
        await bob.event('CALL_CLOSED');
        // the call table is the cluster's: node-c shows the call node-a proxied, ended normally
        const closed = await waitFor('the call closed in node-c\'s call table', async () =>
          (await c.get<{ callId: string; endReason?: string; node: string }[]>('/api/calls/closed')).find((x) => x.callId === established.id),
        );
        assert.equal(closed.endReason, 'NORMAL');
        assert.equal(closed.node, 'node-a');
      } finally {
        await alice.stop();
        await bob.stop();
        // their registrations go with them now (a de-REGISTER or bob's closed flow may still be on its
        // way), so that the tests after this one count only the registrations they expect
        for (const user of ['alice', 'bob']) {
          const r = await httpsRequest(`${c.base}/api/registrations/${encodeURIComponent(`sip:${user}@${DOMAIN}`)}`, c.ca, 'DELETE');
          assert.ok(r.status === 200 || r.status === 404, `unregistering ${user}: ${r.status} ${r.body}`);
        }
        await waitFor('alice and bob gone from every node', async () => {
          for (const n of nodes) if ((await n.registrations()).some((x) => x.sipUri === `sip:alice@${DOMAIN}` || x.sipUri === `sip:bob@${DOMAIN}`)) return undefined;
          return true;
        });
      }
    });

    it('loses no registration when the master is killed -9, elects another within the lease, and the restarted node rebuilds and rejoins', async () => {
      const views = await converged(nodes, 3);
      const before = views[0].master!;
      const victim = nodes.find((n) => n.name === before.name)!;
      const rest = nodes.filter((n) => n !== victim);
      const expected = (await rest[0].registrations()).length;
      assert.ok(expected >= 31, `expected at least the 31 registrations of the earlier tests, got ${expected}`);

      const killedAt = Date.now();
      await victim.kill9();
      const after = await waitFor(
        'another node to take the master lease',
        async () => {
          const vs = await Promise.all(rest.map((n) => n.cluster()));
          const m = vs.find((v) => v.isMaster);
          return m ? m : undefined;
        },
        LEASE_MS * 10,
        20,
      );
      const took = Date.now() - killedAt;
      console.log(`# ${backend.name}: ${after.node} became master ${took} ms after SIGKILL of ${victim.name} (lease ${LEASE_MS} ms)`);
      assert.notEqual(after.node, victim.name);
      assert.ok(after.master!.token > before.token, 'the new lease has a higher fencing token');
      for (const n of rest) assert.equal((await n.registrations()).length, expected, `${n.name} lost registrations`);
      await waitFor('the killed node shown down in the Servers table', async () => {
        const v = await rest[0].cluster();
        return v.servers.find((s) => s.name === victim.name)?.status === 'down' ? true : undefined;
      });

      // the cluster keeps working without it
      await registerUsers(rest[0], ['late1', 'late2', 'late3']);
      await waitFor('the late registrations on the other survivor', async () =>
        (await rest[1].registrations()).length === expected + 3 ? true : undefined,
      );

      // the killed node comes back with its name and data folder, rebuilds and rejoins
      await victim.start();
      const rows = await victim.registrations();
      assert.equal(rows.length, expected + 3, 'the restarted node rebuilt every registration');
      const again = await converged(nodes, 3);
      assert.equal(again[0].master!.name, after.node, 'the restarted node does not take the lease back');
    });

    it('expires a registration that is not refreshed exactly once across the cluster', async () => {
      const [a, b, c] = nodes;
      await registerUsers(b, ['brief'], 2);
      const aor = `sip:brief@${DOMAIN}`;
      await waitFor('the brief registration on node-a', async () => ((await a.registrations()).some((r) => r.sipUri === aor) ? true : undefined));
      await waitFor(
        'the brief registration to expire on every node',
        async () => {
          const lists = await Promise.all([a, b, c].map((n) => n.registrations()));
          return lists.every((l) => !l.some((r) => r.sipUri === aor)) ? true : undefined;
        },
        20_000,
      );
      // every node sweeps its view of due bindings, but the claim lets one expiry event through
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await countEvents(redis.options, prefix, 'registration.expired', aor), 1);
    });

    it('stops every node cleanly on SIGTERM', async () => {
      for (const n of nodes) assert.equal(await n.stop(), 0, `${n.name} did not stop cleanly:\n${n.log().slice(-3000)}`);
    });
  });
}
