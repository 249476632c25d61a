import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CALL_END_REASONS,
  CallAnswered,
  CallEnded,
  CallStarted,
  CLUSTER_EVENTS,
  ConfigurationChanged,
  EventCleared,
  EventRaised,
  MediaEngineLost,
  MediaEngineUp,
  NatBindingCreated,
  NatBindingReleased,
  RegistrationAdded,
  RegistrationExpired,
  RegistrationRefreshed,
  RegistrationRemoved,
  TunnelClientConnected,
  TunnelClientDisconnected,
  bindingKey,
  type ContactBindingData,
} from '../cluster-events';
import { defineEvent, EventRegistry, type ClusterEvent } from '../events';
import { KeySpace } from '../keys';
import { Projector, type StreamEntry } from '../projector';
import { LocationService } from './location-service';
import { CallTable, ConfigurationModel, EventTable, MediaEngines, NatBindings, TunnelClients } from './tables';

const SHARDS = 4;
const keys = new KeySpace('t', SHARDS);
const registry = new EventRegistry().register(...CLUSTER_EVENTS);

function models() {
  return [
    new LocationService(SHARDS),
    new NatBindings(SHARDS),
    new CallTable(SHARDS, 8),
    new TunnelClients(SHARDS),
    new MediaEngines(SHARDS),
    new EventTable(5),
    new ConfigurationModel(),
  ] as const;
}
function projector() {
  const ms = models();
  return { p: new Projector(registry, ms, SHARDS), ms };
}

/** Turns events into stream entries with increasing ids, per shard, as Redis would. */
function toEntries(events: ClusterEvent[], startMs = 1000): { shard: number; entry: StreamEntry }[] {
  let ms = startMs;
  return events.map((e) => {
    const shard = keys.shardOf((e.constructor as unknown as { aggregateOf(d: unknown): string }).aggregateOf(e.data));
    ms++;
    return { shard, entry: [`${ms}-0`, registry.encode(e, 'n1', ms)] };
  });
}
function feed(p: Projector, items: { shard: number; entry: StreamEntry }[]): void {
  for (const { shard, entry } of items) p.applyEntries(shard, [entry]);
}
function state(p: Projector): unknown[] {
  return Array.from({ length: SHARDS }, (_, s) => p.snapshotShard(s));
}

const reg = (i: number, over: Partial<ContactBindingData> = {}): ContactBindingData => ({
  aor: `sip:u${i % 7}@x`,
  contact: `sip:u${i}@10.0.0.${i % 200}`,
  expiresAt: 10_000 + i,
  q: 0.5 + (i % 5) / 10,
  node: `n${i % 3}`,
  callId: `c${i}`,
  cseq: i,
  ...(i % 2 ? { instance: `urn:uuid:${i % 4}`, regId: i % 2 } : {}),
  ...over,
});

describe('location service', () => {
  it('adds, refreshes, removes and orders bindings by q', () => {
    const { p, ms } = projector();
    const loc = ms[0];
    feed(
      p,
      toEntries([
        new RegistrationAdded(reg(1, { aor: 'sip:a@x', contact: 'sip:a@1', q: 0.5, expiresAt: 5000 })),
        new RegistrationAdded(reg(2, { aor: 'sip:a@x', contact: 'sip:a@2', q: 1, expiresAt: 5000, instance: undefined, regId: undefined })),
        new RegistrationRefreshed(reg(1, { aor: 'sip:a@x', contact: 'sip:a@1', q: 0.5, expiresAt: 9000, cseq: 9 })),
      ]),
    );
    const got = loc.lookup('sip:a@x', 0);
    assert.deepEqual(
      got.map((b) => b.contact),
      ['sip:a@2', 'sip:a@1'],
    );
    assert.equal(got[1].cseq, 9);
    assert.equal(loc.size, 2);
    assert.deepEqual(
      loc.lookup('sip:a@x', 6000).map((b) => b.contact),
      ['sip:a@1'],
      'past expiry is not served even before the expired event',
    );
    feed(p, toEntries([new RegistrationRemoved({ aor: 'sip:a@x', key: 'sip:a@2', reason: 'unregistered' })], 2000));
    assert.equal(loc.size, 1);
    feed(p, toEntries([new RegistrationRemoved({ aor: 'sip:a@x', reason: 'forced' })], 3000));
    assert.equal(loc.size, 0);
    assert.equal(loc.aorCount, 0);
  });

  it('keys bindings by instance/reg-id (RFC 5626), else instance, else contact', () => {
    assert.equal(bindingKey({ contact: 'sip:a@1', instance: 'urn:uuid:1', regId: 2 }), 'urn:uuid:1#2');
    assert.equal(bindingKey({ contact: 'sip:a@1', instance: 'urn:uuid:1' }), 'urn:uuid:1');
    assert.equal(bindingKey({ contact: 'sip:a@1' }), 'sip:a@1');
  });

  it('applies an expiry only to the state it was decided on: a later refresh wins', () => {
    const { p, ms } = projector();
    const loc = ms[0];
    const [add] = toEntries([new RegistrationAdded(reg(3, { aor: 'sip:b@x', expiresAt: 1500 }))]);
    feed(p, [add]);
    const due = loc.dueForExpiry(2000);
    assert.equal(due.length, 1);
    assert.equal(due[0].lastEvent, add.entry[0]);
    // A refresh lands before the expiry decided on the older state.
    feed(p, toEntries([new RegistrationRefreshed(reg(3, { aor: 'sip:b@x', expiresAt: 99_000 }))], 5000));
    feed(p, toEntries([new RegistrationExpired({ aor: 'sip:b@x', key: due[0].key, basedOn: due[0].lastEvent })], 6000));
    assert.equal(loc.size, 1);
    assert.equal(loc.dueForExpiry(2000).length, 0, 'the refreshed binding is no longer due');
    const again = loc.dueForExpiry(100_000);
    feed(p, toEntries([new RegistrationExpired({ aor: 'sip:b@x', key: again[0].key, basedOn: again[0].lastEvent })], 7000));
    assert.equal(loc.size, 0);
  });

  it('agrees with a plain Map<AOR, Map<key, binding>> under random adds, refreshes and removals', () => {
    type Op = { kind: 'add' | 'remove' | 'removeAll'; aor: number; contact: number };
    const arbOp: fc.Arbitrary<Op> = fc.record({
      kind: fc.constantFrom('add', 'add', 'remove', 'removeAll'),
      aor: fc.integer({ min: 0, max: 3 }),
      contact: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 60 }), (ops) => {
        const loc = new LocationService(SHARDS);
        const p = new Projector(registry, [loc], SHARDS);
        const ref = new Map<string, Map<string, number>>();
        let ms = 0;
        for (const op of ops) {
          const aor = `sip:r${op.aor}@x`;
          const contact = `sip:c${op.contact}@x`;
          let ev: ClusterEvent;
          if (op.kind === 'add') {
            ev = new RegistrationAdded({ aor, contact, expiresAt: 1e12, q: 1, node: 'n', callId: 'c', cseq: ms });
            if (!ref.has(aor)) ref.set(aor, new Map());
            ref.get(aor)!.set(contact, ms);
          } else if (op.kind === 'remove') {
            ev = new RegistrationRemoved({ aor, key: contact, reason: 'unregistered' });
            ref.get(aor)?.delete(contact);
            if (ref.get(aor)?.size === 0) ref.delete(aor);
          } else {
            ev = new RegistrationRemoved({ aor, reason: 'forced' });
            ref.delete(aor);
          }
          feed(p, toEntries([ev], 1000 + ms++));
        }
        let total = 0;
        for (let a = 0; a < 4; a++) {
          const aor = `sip:r${a}@x`;
          const got = new Map(loc.lookup(aor, 0).map((b) => [b.contact, b.cseq]));
          assert.deepEqual(got, ref.get(aor) ?? new Map());
          total += got.size;
        }
        assert.equal(loc.size, total);
        assert.equal(loc.aorCount, ref.size);
        assert.equal([...loc.all()].length, total);
      }),
      { numRuns: 300 },
    );
  });

  it('finds due expiries without scanning every binding', () => {
    const loc = new LocationService(SHARDS);
    const p = new Projector(registry, [loc], SHARDS);
    feed(
      p,
      toEntries(Array.from({ length: 1000 }, (_, i) => new RegistrationAdded(reg(i, { aor: `sip:z${i}@x`, expiresAt: 1000 * (i + 1) })))),
    );
    assert.equal(loc.dueForExpiry(10_500).length, 10);
    assert.equal(loc.dueForExpiry(10_500, 3).length, 3);
  });
});

describe('call table, clients, media engines, event table, configuration', () => {
  it('keeps active and closed calls with the seed end reasons', () => {
    const { p, ms } = projector();
    const calls = ms[2];
    const party = { userId: 'sip:a@x', publicAddress: '198.51.100.1', country: 'NO' };
    feed(
      p,
      toEntries([
        new CallStarted({ callId: 'k1', node: 'n1', caller: party, callee: { userId: 'sip:b@x' }, startedAt: 1 }),
        new CallStarted({ callId: 'k2', node: 'n2', caller: party, callee: { userId: 'sip:c@x' }, startedAt: 2 }),
        new CallAnswered({ callId: 'k1', answeredAt: 3 }),
        new CallEnded({ callId: 'k2', endedAt: 4, reason: 'USER_BUSY', sipStatus: 486 }),
      ]),
    );
    assert.deepEqual(
      calls.active().map((c) => c.callId),
      ['k1'],
    );
    assert.equal(calls.active()[0].answeredAt, 3);
    assert.equal(calls.countOn('n1'), 1);
    assert.equal(calls.activeCount, 1);
    const closed = calls.closed();
    assert.equal(closed[0].endReason, 'USER_BUSY');
    assert.equal(closed[0].successful, false);
    assert.equal(CALL_END_REASONS.length, 43);
    // Closed calls are bounded.
    feed(
      p,
      toEntries(
        Array.from({ length: 40 }, (_, i) => [
          new CallStarted({ callId: `m${i}`, node: 'n1', caller: party, callee: party, startedAt: i }),
          new CallEnded({ callId: `m${i}`, endedAt: 100 + i, reason: 'NORMAL' }),
        ]).flat(),
        5000,
      ),
    );
    assert.ok(calls.closed().length <= 8);
    assert.equal(calls.closed()[0].successful, true);
  });

  it('tracks tunnel clients, media engines, NAT bindings, the event table and configuration', () => {
    const { p, ms } = projector();
    const [, nat, , clients, engines, table, config] = ms;
    feed(
      p,
      toEntries([
        new TunnelClientConnected({
          clientId: 'rt1',
          userId: 'sip:a@x',
          country: 'NO',
          region: 'Oslo',
          version: '5.1',
          publicAddress: '198.51.100.1:4000',
          transport: 'tls',
          node: 'n1',
          connectedAt: 1,
        }),
        new TunnelClientConnected({
          clientId: 'rt2',
          userId: 'sip:b@x',
          publicAddress: '198.51.100.2:4000',
          transport: 'tcp',
          node: 'n2',
          connectedAt: 2,
        }),
        new TunnelClientDisconnected({ clientId: 'rt1', reason: 'closed' }),
        new MediaEngineUp({ name: 'me1', address: '10.0.0.5', node: 'n1' }),
        new MediaEngineLost({ name: 'me1', reason: 'timeout' }),
        new NatBindingCreated({ id: 'b1', transport: 'udp', publicAddress: '198.51.100.1:5060', node: 'n1', expiresAt: 10_000 }),
        new NatBindingCreated({ id: 'b2', transport: 'udp', publicAddress: '198.51.100.2:5060', node: 'n1', expiresAt: 10_000 }),
        new NatBindingReleased({ id: 'b2', reason: 'gone' }),
        ...Array.from(
          { length: 7 },
          (_, i) => new EventRaised({ name: `E${i}`, severity: 'warning', info: `i${i}`, node: 'n1', raisedAt: i }),
        ),
        new EventCleared({ name: 'E6', node: 'n1', clearedAt: 9 }),
        new ConfigurationChanged({ path: 'cluster.redirect', value: true, by: 'admin' }),
        new ConfigurationChanged({ path: 'cluster.redirect', value: false }),
      ]),
    );
    assert.deepEqual(
      clients.list().map((c) => c.clientId),
      ['rt2'],
    );
    assert.equal(engines.list()[0].up, false);
    assert.deepEqual(
      nat.list(0).map((b) => b.id),
      ['b1'],
    );
    assert.equal(table.list().length, 5);
    assert.equal(table.list()[0].number, 7);
    assert.equal(table.open().length, 4);
    assert.equal(config.get('cluster.redirect'), false);
    assert.equal(config.entry('cluster.redirect')!.revision, 2);
  });
});

describe('projector', () => {
  const arbEvent: fc.Arbitrary<ClusterEvent> = fc.oneof(
    fc.integer({ min: 0, max: 40 }).map((i) => new RegistrationAdded(reg(i))),
    fc.integer({ min: 0, max: 40 }).map((i) => new RegistrationRefreshed(reg(i, { expiresAt: 20_000 + i }))),
    fc
      .integer({ min: 0, max: 40 })
      .map((i) => new RegistrationRemoved({ aor: reg(i).aor, key: bindingKey(reg(i)), reason: 'unregistered' })),
    fc
      .integer({ min: 0, max: 10 })
      .map((i) => new CallStarted({ callId: `c${i}`, node: 'n1', caller: { userId: 'a' }, callee: { userId: 'b' }, startedAt: i })),
    fc
      .tuple(fc.integer({ min: 0, max: 10 }), fc.constantFrom(...CALL_END_REASONS))
      .map(([i, r]) => new CallEnded({ callId: `c${i}`, endedAt: 50 + i, reason: r })),
    fc.integer({ min: 0, max: 5 }).map((i) => new EventRaised({ name: `E${i}`, severity: 'info', info: '', node: 'n1', raisedAt: i })),
    fc.integer({ min: 0, max: 5 }).map((i) => new ConfigurationChanged({ path: `p${i}`, value: i })),
    fc
      .integer({ min: 0, max: 5 })
      .map(
        (i) =>
          new TunnelClientConnected({ clientId: `t${i}`, userId: 'u', publicAddress: 'x', transport: 'tls', node: 'n1', connectedAt: i }),
      ),
  );

  it('snapshot at any point + the tail equals full replay (through JSON, as stored)', () => {
    fc.assert(
      fc.property(fc.array(arbEvent, { maxLength: 80 }), fc.nat(), (events, cut) => {
        const items = toEntries(events);
        const k = items.length ? cut % (items.length + 1) : 0;
        const full = projector().p;
        feed(full, items);
        const first = projector().p;
        feed(first, items.slice(0, k));
        const snaps = Array.from({ length: SHARDS }, (_, s) => JSON.parse(JSON.stringify(first.snapshotShard(s))));
        const rebuilt = projector().p;
        snaps.forEach((s, i) => rebuilt.restoreShard(i, s));
        // The tail overlaps the snapshot: already-applied entries are skipped by position.
        feed(rebuilt, items);
        assert.deepEqual(state(rebuilt), state(full));
      }),
      { numRuns: 150 },
    );
  });

  it('skips unknown types and newer versions, upcasts older ones', () => {
    const V2 = defineEvent<{ aor: string; label: string }>('test.thing', 2, {
      aggregate: (d) => d.aor,
      upcasters: { 1: (d: { aor: string; name: string }) => ({ aor: d.aor, label: d.name }) },
    });
    const reg2 = new EventRegistry().register(V2);
    const old = reg2.decode(0, '1-0', ['h', 'test.thing|1|x|5', 'd', JSON.stringify({ aor: 'k', name: 'N' })]);
    assert.deepEqual(old?.data, { aor: 'k', label: 'N' });
    assert.equal(old?.version, 2);
    assert.equal(old?.node, 'x');
    assert.equal(old?.time, 5);
    assert.equal(old?.aggregate, 'k');
    assert.equal(reg2.decode(0, '4-0', ['h', 'garbage', 'd', '{}']), undefined);
    assert.equal(reg2.decode(0, '5-0', ['h', 'test.thing|2|x|5', 'd', '{not json']), undefined);
    assert.equal(reg2.decode(0, '2-0', ['h', 'test.thing|3|x|5', 'd', '{}']), undefined);
    assert.equal(reg2.decode(0, '3-0', ['h', 'other.thing|1|x|5', 'd', '{}']), undefined);
    assert.equal(V2.name, 'TestThing');
    assert.throws(() => defineEvent('BadName', 1, { aggregate: () => '' }));
    assert.throws(() => reg2.encode(new RegistrationAdded(reg(1)), 'x'), /not registered/);
    const inst = reg2.instantiate(old);
    assert.ok(inst instanceof V2);
    assert.equal(inst.meta?.id, '1-0');
  });

  it('resolves waiters when their event is folded', async () => {
    const { p } = projector();
    const items = toEntries([new RegistrationAdded(reg(1))]);
    const w = p.waitFor(items[0].shard, items[0].entry[0]);
    feed(p, items);
    await w;
    await p.waitFor(items[0].shard, '1-0');
  });
});

describe('snapshot serialisation', () => {
  it('writes large row lists in slices, yields between them, and equals JSON.stringify', async () => {
    const { DeferredRows, serializeSnapshot } = await import('./read-model');
    const items = Array.from({ length: 10_001 }, (_, i) => ({ a: i, b: `s${i}` }));
    const calls = { active: [{ id: 1, answeredAt: undefined as number | undefined }] };
    const state = {
      f: 2,
      pos: '5-0',
      models: { location: { v: 1, rows: new DeferredRows(items, (x) => [x.a, x.b]) }, calls, empty: new DeferredRows([], (x) => x) },
    };
    let ranBetween = false;
    setImmediate(() => (ranBetween = true));
    const pending = serializeSnapshot(state, 1000);
    calls.active[0].answeredAt = 7; // mutated after the snapshot was taken: must not show
    const text = Buffer.concat(await pending).toString();
    assert.deepEqual(JSON.parse(text), {
      f: 2,
      pos: '5-0',
      models: { location: { v: 1, rows: items.map((x) => [x.a, x.b]) }, calls: { active: [{ id: 1 }] }, empty: [] },
    });
    assert.ok(ranBetween, 'other work ran while serialising');
  });
});
