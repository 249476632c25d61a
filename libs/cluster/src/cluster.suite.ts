// The core integration suite, run against standalone Redis and against a 3-master Redis Cluster.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CallEnded,
  CallStarted,
  ConfigurationChanged,
  EventRaised,
  RegistrationAdded,
  RegistrationRefreshed,
  TunnelClientConnected,
  type ContactBindingData,
} from './cluster-events';
import type { ClusterNode } from './cluster-node';
import { ClusterError } from './errors';
import { EventStore } from './event-store';
import { EventRegistry } from './events';
import { Projector, type StreamEntry } from './projector';
import { LocationService } from './read-models/location-service';
import { CallTable, ConfigurationModel, EventTable, MediaEngines, NatBindings, TunnelClients } from './read-models/tables';
import { makeNode, stateOf, uniquePrefix, waitUntil, type RedisFixture } from './spec-support';
import { CLUSTER_EVENTS } from './cluster-events';
import { waitFor } from '@traverse/testing';
import { compareStreamIds } from './keys';
import { BATCH_APPEND } from './lua';

export function registration(i: number, over: Partial<ContactBindingData> = {}): ContactBindingData {
  return {
    aor: `sip:user${i}@example.net`,
    contact: `sip:user${i}@192.0.2.${i % 250}:5060;transport=tcp`,
    expiresAt: Date.now() + 3_600_000,
    q: 1,
    instance: `urn:uuid:00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
    regId: 1,
    node: 'a',
    flow: `tcp:${i}`,
    callId: `cid-${i}`,
    cseq: 1,
    ...over,
  };
}

/** Full replay of the streams from the start, by a bare projector (no snapshot). */
async function fullReplay(n: ClusterNode): Promise<unknown[]> {
  const shards = n.keys.shards;
  const p = new Projector(
    new EventRegistry().register(...CLUSTER_EVENTS),
    [
      new LocationService(shards),
      new NatBindings(shards),
      new CallTable(shards),
      new TunnelClients(shards),
      new MediaEngines(shards),
      new EventTable(),
      new ConfigurationModel(),
    ],
    shards,
  );
  for (let s = 0; s < shards; s++) {
    const entries = (await n.redis.call('XRANGE', n.keys.stream(s), '-', '+')) as StreamEntry[];
    p.applyEntries(s, entries);
  }
  return Array.from({ length: shards }, (_, s) => p.snapshotShard(s));
}

async function converged(nodes: ClusterNode[]): Promise<void> {
  const target = nodes[0];
  const tail = await target.store.info();
  await waitUntil(() => nodes.every((n) => tail.every((t) => n.projector.positions[t.shard] === t.lastId)), 10_000, 'convergence');
}

export function coreSuite(title: string, fixture: () => Promise<RedisFixture>): void {
  describe(title, { timeout: 120_000 }, () => {
    let redis: RedisFixture;
    const nodes: ClusterNode[] = [];
    const node = async (prefix: string, name: string, extra: Parameters<typeof makeNode>[3] = {}) => {
      const n = makeNode(redis, prefix, name, extra);
      nodes.push(n);
      await n.start();
      return n;
    };
    before(async () => {
      redis = await fixture();
    });
    after(async () => {
      await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
      await redis.stop();
    });

    it('appends events on one node and every node folds them (the emitter too)', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const b = await node(p, 'b');
      const r = await a.publish(new RegistrationAdded(registration(1)));
      await Promise.all([a.waitFor(r), b.waitFor(r)]);
      const got = b.location.lookup('sip:user1@example.net');
      assert.equal(got.length, 1);
      assert.equal(got[0].node, 'a');
      assert.equal(got[0].lastEvent, r.id);
      assert.equal(a.location.lookup('sip:user1@example.net').length, 1);
      // Stored events carry type, version, node and time; the aggregate picks the shard.
      const [entry] = (await a.redis.call('XRANGE', a.keys.stream(r.shard), r.id, r.id)) as StreamEntry[];
      const e = a.registry.decode(r.shard, entry[0], entry[1])!;
      assert.equal(e.type, 'registration.added');
      assert.equal(e.version, 1);
      assert.equal(e.node, 'a');
      assert.ok(Math.abs(e.time - Date.now()) < 5000);
      assert.equal(r.shard, a.keys.shardOf('sip:user1@example.net'));
    });

    it("the emitter folds its own appends when they are answered, after what the group's script read of their stream", async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const folded: string[] = [];
      a.onEvent((e) => folded.push(e.id));
      // a reads nothing from its streams for now: what it folds comes from the answers to its appends
      const reader = (a as unknown as { reader: { stop(): Promise<void>; start(): void } }).reader;
      await reader.stop();
      const aor = 'sip:user1@example.net';
      const r1 = await a.publish(new RegistrationAdded(registration(1)));
      assert.equal(a.projector.positions[r1.shard], r1.id, 'folded when the append was answered');
      assert.equal(a.location.lookup(aor)[0].lastEvent, r1.id);
      // another writer's entry lands in the shard before a's next append: a folds it first, then its own
      const other = a.registry.encode(new RegistrationRefreshed(registration(1, { cseq: 2, node: 'b' })), 'b');
      const otherId = (await a.redis.call('XADD', a.keys.stream(r1.shard), '*', ...other)) as string;
      const r2 = await a.publish(new RegistrationRefreshed(registration(1, { cseq: 3 })));
      assert.deepEqual(folded, [r1.id, otherId, r2.id], 'in stream order');
      assert.equal(a.location.lookup(aor)[0].cseq, 3);
      // the reader, back, folds nothing twice
      reader.start();
      const r3 = await a.publish(new RegistrationRefreshed(registration(1, { cseq: 4 })));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(folded, [r1.id, otherId, r2.id, r3.id]);
      assert.equal(a.location.lookup(aor)[0].lastEvent, r3.id);
    });

    it("leaves a group's own entries to the stream reader when the script's read of their stream was cut short", async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const shard = a.keys.shardOf('sip:user1@example.net');
      const calls: string[] = [];
      let pos = (await a.store.infoOf(shard)).lastId;
      const store = new EventStore(a.redis, a.keys, a.registry, 'x', {
        readCount: 1,
        own: {
          position: (s) => (s === shard ? pos : '0-0'),
          apply: (_, entries) => {
            for (const [id] of entries) calls.push(`apply ${id}`);
            pos = entries[entries.length - 1][0];
          },
          fold: (_, after, entries) => calls.push(`fold ${after} ${entries.map(([id]) => id).join(' ')}`),
        },
      });
      const others = [2, 3].map((c) => a.registry.encode(new RegistrationRefreshed(registration(1, { cseq: c, node: 'b' })), 'b'));
      const ids: string[] = [];
      for (const f of others) ids.push((await a.redis.call('XADD', a.keys.stream(shard), '*', ...f)) as string);
      const r = await store.append(new RegistrationRefreshed(registration(1, { cseq: 4 })));
      assert.deepEqual(calls, [`apply ${ids[0]}`], 'one entry read, and the own entry not folded after it');
      calls.length = 0;
      const r2 = await store.append(new RegistrationRefreshed(registration(1, { cseq: 5 })));
      assert.deepEqual(calls, [`apply ${ids[1]}`], 'the next group reads on');
      assert.ok(compareStreamIds(r.id, r2.id) < 0);
    });

    it('a burst of groups: each waits for the one before it that reads its stream, reads none of its entries back, and folds its own', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const shard = a.keys.shardOf('sip:user1@example.net');
      let pos = (await a.store.infoOf(shard)).lastId;
      const read: string[] = [];
      const folded: string[] = [];
      const misplaced: string[] = [];
      const store = new EventStore(a.redis, a.keys, a.registry, 'x', {
        commitWindowMs: 0,
        maxBatch: 16,
        own: {
          position: (s) => (s === shard ? pos : '0-0'),
          apply: (_, entries) => {
            for (const [id] of entries) read.push(id);
            pos = entries[entries.length - 1][0];
          },
          fold: (_, after, entries) => {
            if (after !== pos) misplaced.push(`${entries[0][0]} after ${after}, folded up to ${pos}`);
            for (const [id] of entries) folded.push(id);
            pos = entries[entries.length - 1][0];
          },
        },
      });
      const rs = await Promise.all(Array.from({ length: 500 }, (_, i) => store.append(new RegistrationRefreshed(registration(1, { cseq: i + 2 })))));
      assert.deepEqual(read, [], 'no group read back what an earlier one appended');
      assert.deepEqual(misplaced, [], 'each group folds its entries right after what is folded');
      assert.deepEqual(folded, rs.map((r) => r.id), 'every entry folded by its own group, in the order appended');
      for (let i = 1; i < rs.length; i++) assert.ok(compareStreamIds(rs[i - 1].id, rs[i].id) < 0);
    });

    it('read models converge on two consumers fed by two emitters', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const b = await node(p, 'b');
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 300; i++) {
        const emitter = i % 2 ? a : b;
        work.push(emitter.publish(new RegistrationAdded(registration(i, { node: emitter.nodeName }))));
        if (i % 3 === 0) work.push(emitter.publish(new RegistrationRefreshed(registration(i, { node: emitter.nodeName, cseq: 2 }))));
        if (i % 10 === 0) {
          work.push(
            emitter.publish(
              new CallStarted({
                callId: `call-${i}`,
                node: emitter.nodeName,
                caller: { userId: `sip:user${i}@example.net` },
                callee: { userId: 'sip:x@example.net' },
                startedAt: Date.now(),
              }),
            ),
          );
          work.push(emitter.publish(new CallEnded({ callId: `call-${i}`, endedAt: Date.now(), reason: 'NORMAL' })));
        }
      }
      work.push(
        a.publish(new EventRaised({ name: 'ME_LOST', severity: 'severe', info: 'media engine lost', node: 'a', raisedAt: Date.now() })),
      );
      work.push(
        b.publish(
          new TunnelClientConnected({
            clientId: 'rt-1',
            userId: 'sip:u@x',
            publicAddress: '198.51.100.1:1234',
            transport: 'tls',
            node: 'b',
            connectedAt: Date.now(),
          }),
        ),
      );
      await Promise.all(work);
      await converged([a, b]);
      assert.deepEqual(stateOf(a), stateOf(b));
      assert.equal(a.location.size, 300);
      assert.equal(b.calls.closed().length, 30);
      assert.equal(b.eventTable.list()[0].name, 'ME_LOST');
      assert.equal(a.tunnelClients.get('rt-1')?.node, 'b');
    });

    it('group commit: appends within the window are written together, in order per shard, and every node folds them', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a', { commitWindowMs: 30 });
      const b = await node(p, 'b');
      const aor = 'sip:user7@example.net';
      // the group scripts this node sends (other nodes alive on the shared server send scripts of their own)
      let groupScripts = 0;
      const call = a.redis.call.bind(a.redis) as (...args: unknown[]) => Promise<unknown>;
      (a.redis as unknown as { call: (...args: unknown[]) => Promise<unknown> }).call = (...args) => {
        if (args[0] === 'EVAL' && args[1] === BATCH_APPEND.lua) groupScripts++;
        return call(...args);
      };
      // one AOR refreshed 20 times (its order must hold) and 40 other AORs over every shard
      const sameAor = Array.from({ length: 20 }, (_, i) => a.publish(new RegistrationRefreshed(registration(7, { cseq: i + 1 }))));
      const others = Array.from({ length: 40 }, (_, i) => a.publish(new RegistrationAdded(registration(100 + i))));
      const rs = await Promise.all([...sameAor, ...others]);
      const ids = rs.slice(0, 20).map((r) => r.id);
      for (let i = 1; i < ids.length; i++) assert.ok(compareStreamIds(ids[i - 1], ids[i]) < 0, `ids in append order: ${ids[i - 1]} < ${ids[i]}`);
      assert.equal(new Set(rs.map((r) => `${r.shard} ${r.id}`)).size, 60, 'every append got its own entry');
      await Promise.all(rs.map((r) => b.waitFor(r)));
      assert.equal(b.location.lookup(aor)[0].cseq, 20, 'the last refresh wins on the other node');
      assert.equal(a.location.lookup(aor)[0].cseq, 20);
      assert.equal(b.location.size, 41);
      if (!(a.redis as { isCluster?: boolean }).isCluster) {
        assert.ok(groupScripts <= 2, `60 appends in one window took ${groupScripts} scripts`);
      }
      // the stored entries decode as single appends do
      const [entry] = (await a.redis.call('XRANGE', a.keys.stream(rs[0].shard), ids[19], ids[19])) as StreamEntry[];
      assert.equal(a.registry.decode(rs[0].shard, entry[0], entry[1])?.type, 'registration.refreshed');
    });

    it('group commit: an append made while the node writes nothing goes at once; appends right after it wait for the window together', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a', { commitWindowMs: 3000 });
      const first = a.publish(new RegistrationAdded(registration(200)));
      const waited = await Promise.race([first.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 1500).unref())]);
      assert.equal(waited, false, 'the first append did not wait for the 3000 ms window');
      const t0 = Date.now();
      const rs = await Promise.all([a.publish(new RegistrationAdded(registration(201))), a.publish(new RegistrationAdded(registration(202)))]);
      assert.ok(Date.now() - t0 >= 2000, `the appends right after it waited for the window (${Date.now() - t0} ms)`);
      assert.equal(a.location.size, 3);
      assert.notEqual(`${rs[0].shard} ${rs[0].id}`, `${rs[1].shard} ${rs[1].id}`);
    });

    it('publishTogether: the events of one change are folded by every node in one batch, whatever the window', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a', { commitWindowMs: 0 });
      const b = await node(p, 'b');
      const seen: string[][] = [];
      let batch: string[] = [];
      b.configuration.onChange((path) => {
        if (batch.length === 0) queueMicrotask(() => (seen.push(batch), (batch = [])));
        batch.push(path);
      });
      const paths = ['sip.maxExpires', 'sip.minExpires', 'sip.defaultExpires', 'sip.forking'];
      const rs = await a.publishTogether(paths.map((path, i) => new ConfigurationChanged({ path, value: i, by: 'test' })));
      assert.equal(rs.length, 4);
      await Promise.all(rs.map((r) => b.waitFor(r)));
      assert.deepEqual(seen, [paths], 'one batch with the four keys, in order');
      assert.deepEqual(b.configuration.all(), { 'sip.maxExpires': 0, 'sip.minExpires': 1, 'sip.defaultExpires': 2, 'sip.forking': 3 });
      // an unknown event class is refused as a rejected promise, and nothing is written
      class Stray extends ConfigurationChanged {}
      await assert.rejects(a.publishTogether([new ConfigurationChanged({ path: 'x', value: 1 }), new Stray({ path: 'y', value: 2 })]));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(b.configuration.get('x'), undefined);
    });

    it('snapshot + tail rebuild equals full replay, and trimming keeps what readers need', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const batch = (from: number, to: number) =>
        Promise.all(
          Array.from({ length: to - from }, (_, k) => a.publish(new RegistrationAdded(registration(from + k, { cseq: from + k })))),
        );
      await batch(0, 400);
      await converged([a]);
      const s1 = await a.snapshotNow();
      assert.equal(s1.trimmed, 0, 'nothing is trimmed while only one snapshot generation exists');
      await batch(400, 700);
      await a.publish(new ConfigurationChanged({ path: 'sip.registrar.maxExpires', value: 7200 }));
      await converged([a]);
      const replay = await fullReplay(a);
      assert.deepEqual(stateOf(a), replay);
      // Second generation: now everything below the first snapshot may go.
      const before = (await a.store.info()).reduce((n, i) => n + i.length, 0);
      await a.snapshotNow();
      const after = (await a.store.info()).reduce((n, i) => n + i.length, 0);
      await batch(700, 800);
      await converged([a]);
      // A node starting now rebuilds from snapshot + tail and equals the running node (= full replay).
      const c = await node(p, 'c');
      await converged([a, c]);
      assert.deepEqual(stateOf(c), stateOf(a));
      assert.equal(c.location.size, 800);
      assert.equal(c.configuration.get('sip.registrar.maxExpires'), 7200);
      assert.ok(after <= before, `trim kept ${after} of ${before}`);
      // Trimming happened, and never above the older snapshot: every event after it is still there.
      let deleted = 0;
      for (let s = 0; s < a.keys.shards; s++) {
        const meta = await a.snapshots.meta(s);
        const info = await a.store.infoOf(s);
        if (!meta.prevPos) continue;
        if (info.maxDeletedId !== '0-0') deleted++;
        assert.ok(
          compareStreamIds(info.maxDeletedId, meta.prevPos) <= 0,
          `shard ${s}: deleted up to ${info.maxDeletedId}, older snapshot at ${meta.prevPos}`,
        );
        const rest = (await a.redis.call('XRANGE', a.keys.stream(s), `(${meta.prevPos}`, '+')) as StreamEntry[];
        const prevSnap = await a.snapshots.load(s, 'previous');
        assert.ok(prevSnap, 'previous snapshot kept');
        // The previous snapshot + what is left of the stream still rebuilds the shard exactly.
        const pr = new Projector(
          new EventRegistry().register(...CLUSTER_EVENTS),
          [
            new LocationService(a.keys.shards),
            new NatBindings(a.keys.shards),
            new CallTable(a.keys.shards),
            new TunnelClients(a.keys.shards),
            new MediaEngines(a.keys.shards),
            new EventTable(),
            new ConfigurationModel(),
          ],
          a.keys.shards,
        );
        pr.restoreShard(s, prevSnap);
        pr.applyEntries(s, rest);
        assert.deepEqual(pr.snapshotShard(s), a.projector.snapshotShard(s));
      }
      assert.ok(deleted > 0, 'some shard was trimmed');
    });

    it('trimming stays below the position of a live node that lags behind', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const lag = await node(p, 'lag');
      await a.publish(new RegistrationAdded(registration(1)));
      await converged([a, lag]);
      // The lagging node stops reading but keeps heartbeating its (old) positions.
      await (lag as unknown as { reader: { stop(): Promise<void> } }).reader.stop();
      const held = [...lag.projector.positions];
      await Promise.all(Array.from({ length: 200 }, (_, i) => a.publish(new RegistrationAdded(registration(i + 10)))));
      await converged([a]);
      await lag.membership.beat();
      await a.snapshotNow();
      await Promise.all(Array.from({ length: 200 }, (_, i) => a.publish(new RegistrationAdded(registration(i + 500)))));
      await converged([a]);
      await a.snapshotNow();
      let lagged = 0;
      for (let s = 0; s < a.keys.shards; s++) {
        const info = await a.store.infoOf(s);
        // Nothing after the lagging node's position was deleted.
        assert.ok(
          compareStreamIds(info.maxDeletedId, held[s]) <= 0,
          `shard ${s}: deleted up to ${info.maxDeletedId}, lagging node at ${held[s]}`,
        );
        if (compareStreamIds(info.lastId, held[s]) > 0) lagged++;
      }
      assert.ok(lagged > 0, 'the lagging node really lags');
      // Once it reads again it catches up without a gap.
      (lag as unknown as { reader: { start(): void } }).reader.start();
      await converged([a, lag]);
      assert.deepEqual(stateOf(lag), stateOf(a));
    });

    it('a node cut off while trimming passed it reloads the snapshot and converges', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const cut = await node(p, 'cut');
      await a.publish(new RegistrationAdded(registration(1)));
      await converged([a, cut]);
      const internals = cut as unknown as { reader: { stop(): Promise<void>; start(): void }; checkGaps(): Promise<void> };
      await internals.reader.stop();
      await cut.membership.stop(true); // not up any more: trimming does not wait for it
      await a.membership.refresh();
      for (let round = 0; round < 3; round++) {
        await Promise.all(Array.from({ length: 200 }, (_, i) => a.publish(new RegistrationAdded(registration(1000 * round + i)))));
        await converged([a]);
        await a.snapshotNow();
      }
      const infos = await a.store.info();
      assert.ok(
        infos.some((i) => compareStreamIds(i.maxDeletedId, cut.projector.positions[i.shard]) > 0),
        'trimming passed the cut-off node',
      );
      await internals.checkGaps();
      internals.reader.start();
      await converged([a, cut]);
      assert.deepEqual(stateOf(cut), stateOf(a));
    });

    it('the master snapshots a changed shard once its new events pay for it: a few changes to a big shard wait past the age limit', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a', { shards: 1, snapshotCheckMs: 50, snapshotMaxAgeMs: 300, snapshotMinEvents: 1000, snapshotRowsPerEvent: 4 });
      await waitUntil(() => a.isMaster, 5000, 'a master');
      const snapshotAt = async () => (await a.snapshots.meta(0)).pos;
      const snapshotPast = (pos: string | undefined, what: string) =>
        waitFor(what, async () => {
          const now = await snapshotAt();
          return now !== pos ? now : undefined;
        }, 5000, 20);
      const publish = (from: number, to: number, cseq: number) =>
        Promise.all(Array.from({ length: to - from }, (_, k) => a.publish(new RegistrationRefreshed(registration(from + k, { cseq })))));
      // 40 AORs: 40 new events for 40 rows, due at the first check
      await publish(0, 40, 1);
      await converged([a]);
      const first = await snapshotPast(undefined, 'the first snapshot');
      assert.equal(first, a.projector.positions[0]);
      assert.equal(a.projector.shardRows(0), 40);
      // 5 refreshes: 5 events x 4 rows each < 40 rows; no snapshot, well past the max age (300 ms)
      await publish(0, 5, 2);
      await converged([a]);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await snapshotAt(), first, 'a snapshot of 40 rows for 5 new events');
      // 5 more: 10 x 4 >= 40, and older than the max age: the next check takes it
      await publish(5, 10, 2);
      await converged([a]);
      assert.equal(await snapshotPast(first, 'the second snapshot'), a.projector.positions[0]);
      assert.equal(a.projector.shardRows(0), 40);
    });

    it('emits a registration expiry exactly once with 3 competing nodes', async () => {
      const p = uniquePrefix();
      const [a, b, c] = [await node(p, 'a'), await node(p, 'b'), await node(p, 'c')];
      const soon = Date.now() + 300;
      const rs = await Promise.all(
        Array.from({ length: 150 }, (_, i) => a.publish(new RegistrationAdded(registration(i, { expiresAt: soon })))),
      );
      // One of them is refreshed before the expiry is decided: it must survive.
      const refreshed = await a.publish(new RegistrationRefreshed(registration(7, { expiresAt: Date.now() + 3_600_000, cseq: 2 })));
      await Promise.all([...rs, refreshed].flatMap((r) => [a.waitFor(r), b.waitFor(r), c.waitFor(r)]));
      await new Promise((r) => setTimeout(r, 350));
      const emitted = await Promise.all([a.sweepExpiries(), b.sweepExpiries(), c.sweepExpiries(), a.sweepExpiries(), b.sweepExpiries()]);
      assert.equal(
        emitted.reduce((x, y) => x + y, 0),
        149,
      );
      await converged([a, b, c]);
      let expired = 0;
      for (let s = 0; s < a.keys.shards; s++) {
        const entries = (await a.redis.call('XRANGE', a.keys.stream(s), '-', '+')) as StreamEntry[];
        expired += entries.filter((e) => e[1][1].startsWith('registration.expired|')).length;
      }
      assert.equal(expired, 149);
      for (const n of [a, b, c]) {
        assert.equal(n.location.size, 1);
        assert.equal(n.location.lookup('sip:user7@example.net').length, 1);
      }
    });

    it('elects one master, fails over within the lease time, and fences the old master out', async () => {
      const p = uniquePrefix();
      const leaseMs = 1000;
      const ns = [await node(p, 'a', { leaseMs }), await node(p, 'b', { leaseMs }), await node(p, 'c', { leaseMs })];
      await waitUntil(() => ns.filter((n) => n.isMaster).length === 1, 5000, 'a master');
      const old = ns.find((n) => n.isMaster)!;
      const oldToken = old.election.token!;
      await waitUntil(() => ns.every((n) => n.status().master?.name === old.nodeName), 3000, 'master known');
      assert.equal(ns[0].status().master?.address, `${old.nodeName}.example.net`);
      // The master dies without releasing anything.
      const killedAt = Date.now();
      await old.kill();
      const rest = ns.filter((n) => n !== old);
      await waitUntil(() => rest.some((n) => n.isMaster), leaseMs + 500, 'a new master');
      const took = Date.now() - killedAt;
      assert.ok(
        took <= leaseMs + 250,
        `new master after ${took} ms (lease ${leaseMs} ms; 250 ms allowed for scheduling on a loaded machine)`,
      );
      const nm = rest.find((n) => n.isMaster)!;
      assert.ok(nm.election.token! > oldToken);
      await waitUntil(() => rest.filter((n) => n.isMaster).length === 1, 1000, 'single master');
      // Give the new master a moment to raise the fences, then the old master's write is refused.
      const ok = await nm.publishAsMaster(new ConfigurationChanged({ path: 'x', value: 1 }));
      assert.ok(ok.id);
      await waitUntil(() => rest.every((n) => n.configuration.get('x') === 1), 3000, 'config applied');
      for (let s = 0; s < nm.keys.shards; s++) {
        await assert.rejects(
          nm.store.appendFenced(new ConfigurationChanged({ path: 'y', value: 2 }), oldToken),
          (e: unknown) => e instanceof ClusterError && e.code === 'STALE_FENCING_TOKEN',
        );
      }
      await assert.rejects(
        rest.find((n) => !n.isMaster)!.publishAsMaster(new ConfigurationChanged({ path: 'z', value: 3 })),
        (e: unknown) => e instanceof ClusterError && e.code === 'NOT_MASTER',
      );
    });

    it("serves the registrar's location service: a REGISTER's changes are visible when update() resolves", async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const b = await node(p, 'b');
      const aor = 'sip:bob@example.net';
      const removed: string[] = [];
      b.locationService.onRemoved((x, why) => removed.push(`${x.contact}:${why}`));
      const first = await a.locationService.update(aor, {
        upsert: [registration(1, { aor, contact: 'sip:bob@10.0.0.1', instance: undefined, regId: undefined })],
        remove: [],
      });
      assert.equal(first.length, 1);
      const regAt = first[0].registeredAt;
      const second = await a.locationService.update(aor, {
        upsert: [
          registration(1, { aor, contact: 'sip:bob@10.0.0.1', instance: undefined, regId: undefined, cseq: 2 }),
          registration(2, { aor, contact: 'sip:bob@10.0.0.2', instance: undefined, regId: undefined, q: 0.5 }),
        ],
        remove: [],
      });
      assert.deepEqual(
        second.map((x) => [x.contact, x.cseq]),
        [
          ['sip:bob@10.0.0.1', 2],
          ['sip:bob@10.0.0.2', 1],
        ],
      );
      assert.equal(second[0].registeredAt, regAt, 'a refresh keeps the first registration time');
      const third = await a.locationService.update(aor, { upsert: [], remove: ['sip:bob@10.0.0.1'] });
      assert.deepEqual(
        third.map((x) => x.contact),
        ['sip:bob@10.0.0.2'],
      );
      assert.equal(await a.locationService.remove(aor, undefined, 'forced'), 1);
      await waitUntil(() => b.locationService.lookup(aor).length === 0 && removed.length === 2, 3000, 'removal on b');
      assert.deepEqual(removed, ['sip:bob@10.0.0.1:unregistered', 'sip:bob@10.0.0.2:forced']);
      assert.equal(a.locationService.size, 0);
    });

    it('membership: Servers table, status and global current calls', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a', { localCalls: () => 3 });
      const b = await node(p, 'b', { localCalls: () => 4 });
      await a.membership.beat();
      await b.membership.beat();
      await a.membership.refresh();
      const t = a.membership.table;
      assert.deepEqual(
        t.map((s) => [s.name, s.address, s.status]),
        [
          ['a', 'a.example.net', 'up'],
          ['b', 'b.example.net', 'up'],
        ],
      );
      assert.equal(a.status().globalCalls, 7);
      assert.equal(a.status().localCalls, 3);
      await b.stop();
      await a.membership.refresh();
      assert.equal(a.membership.get('b')?.status, 'down');
      assert.equal(a.status().globalCalls, 3);
    });

    it('routes to the node owning the flow, delivers to its inbox, and answers flow-gone when it is down', async () => {
      const p = uniquePrefix();
      const a = await node(p, 'a');
      const b = await node(p, 'b');
      const r = await b.publish(new RegistrationAdded(registration(42, { node: 'b', flow: 'tls:9' })));
      // both nodes route from their own read models: wait until each has folded the event
      await Promise.all([a.waitFor(r), b.waitFor(r)]);
      await a.membership.refresh();
      const key = a.location.lookup('sip:user42@example.net')[0].key;
      assert.deepEqual(a.router.route('sip:user42@example.net', key).kind, 'remote');
      assert.equal(a.router.ownerOf('sip:user42@example.net', key), 'b');
      assert.equal(b.router.route('sip:user42@example.net', key).kind, 'local');
      const got: string[] = [];
      b.router.handle('sip.forward', (m) => {
        got.push(m.body.toString());
        return `handled by b for ${m.from}`;
      });
      const reply = await a.router.request('b', 'sip.forward', Buffer.from('INVITE sip:user42@example.net SIP/2.0\r\n\r\n'));
      assert.equal(reply.body.toString(), 'handled by b for a');
      assert.equal(got.length, 1);
      await b.kill();
      await waitUntil(
        () => (void a.membership.refresh(), a.router.route('sip:user42@example.net', key).kind === 'flow-gone'),
        3000,
        'flow gone',
      );
      // The registration itself is not lost: the binding is still there.
      assert.equal(a.location.lookup('sip:user42@example.net').length, 1);
      await assert.rejects(a.router.send('b', 'sip.forward', 'x'), (e: unknown) => e instanceof ClusterError && e.code === 'FLOW_GONE');
    });
  });
}
