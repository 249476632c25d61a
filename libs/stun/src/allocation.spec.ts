import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AllocationTable, ReservationTable, TransportAddress, grantLifetime, turnErrorStunCode } from './index';

const client = (port: number, address = '198.51.100.7'): TransportAddress => ({ family: 4, address, port });
const relayed: TransportAddress[] = [{ family: 4, address: '203.0.113.1', port: 50000 }];
const init = (port: number, username = 'alice') => ({
  listener: 1,
  transport: 'udp' as const,
  client: client(port),
  username,
  realm: 'r',
  relayed,
  lifetimeSeconds: 600,
});

describe('allocation table', () => {
  it('creates, finds by 5-tuple, refuses a second allocation on the same 5-tuple (437)', () => {
    const t = new AllocationTable();
    const a = t.create(init(1000), 0);
    assert.ok(a.ok);
    assert.equal(t.find(1, '198.51.100.7', 1000), a.value);
    assert.equal(t.find(2, '198.51.100.7', 1000), undefined);
    assert.equal(t.find(1, '198.51.100.7', 1001), undefined);
    const again = t.create(init(1000), 0);
    assert.equal(again.ok ? '' : turnErrorStunCode(again.error.code), 437);
  });

  it('enforces the per-user quota (486) and the total quota (508), and frees on delete', () => {
    const t = new AllocationTable({ maxPerUser: 2, maxTotal: 3 });
    assert.ok(t.create(init(1), 0).ok);
    assert.ok(t.create(init(2), 0).ok);
    const third = t.create(init(3), 0);
    assert.equal(third.ok ? 0 : turnErrorStunCode(third.error.code), 486);
    assert.ok(t.create(init(4, 'bob'), 0).ok);
    const full = t.create(init(5, 'carol'), 0);
    assert.equal(full.ok ? 0 : turnErrorStunCode(full.error.code), 508);
    const a1 = t.find(1, '198.51.100.7', 1)!;
    assert.ok(t.delete(a1));
    assert.equal(t.delete(a1), false);
    assert.equal(t.countForUser('alice'), 1);
    assert.ok(t.create(init(6), 0).ok);
  });

  it('expires allocations at their lifetime; refresh extends it and 0 deletes', () => {
    const t = new AllocationTable();
    const a = t.create(init(1), 0);
    assert.ok(a.ok);
    assert.deepEqual(t.sweep(599_999), []);
    assert.equal(a.value.refresh(1200, 500_000), 1200);
    assert.deepEqual(t.sweep(1_000_000), []);
    assert.equal(t.sweep(1_700_000).length, 1);
    assert.equal(t.size, 0);
    assert.equal(grantLifetime(0, t.limits), 0);
    assert.equal(grantLifetime(undefined, t.limits), 600);
    assert.equal(grantLifetime(30, t.limits), 600);
    assert.equal(grantLifetime(99999, t.limits), 3600);
  });

  it('permissions last 300 s, are per IP (any port), refreshed by CreatePermission', () => {
    const t = new AllocationTable();
    const a = t.create(init(1), 0);
    assert.ok(a.ok);
    const al = a.value;
    assert.equal(al.hasPermission('192.0.2.9', 0), false);
    assert.ok(al.installPermission('192.0.2.9', 0).ok);
    assert.equal(al.hasPermission('192.0.2.9', 299_999), true);
    assert.equal(al.hasPermission('192.0.2.9', 300_000), false);
    assert.ok(al.installPermission('192.0.2.9', 250_000).ok);
    assert.equal(al.hasPermission('192.0.2.9', 549_999), true);
  });

  it('channel bindings: 600 s, install a permission, refuse conflicts, keep number and peer reserved during cool-down', () => {
    const t = new AllocationTable();
    const a = t.create(init(1), 0);
    assert.ok(a.ok);
    const al = a.value;
    const peer = { family: 4 as const, address: '192.0.2.9', port: 7000 };
    const b = al.bindChannel(0x4000, peer, 0);
    assert.ok(b.ok);
    assert.equal(al.hasPermission('192.0.2.9', 1000), true);
    assert.equal(al.channel(0x4000, 1000)?.peer.port, 7000);
    assert.equal(al.channelForPeer('192.0.2.9', 7000, 1000), 0x4000);
    const other = al.bindChannel(0x4000, { ...peer, port: 7001 }, 1000);
    assert.equal(other.ok ? 0 : turnErrorStunCode(other.error.code), 400);
    const second = al.bindChannel(0x4001, peer, 1000);
    assert.equal(second.ok ? 0 : turnErrorStunCode(second.error.code), 400);
    assert.equal(al.bindChannel(0x3fff, { ...peer, port: 1 }, 0).ok, false);
    // expiry: unusable after 600 s, still reserved during the 300 s cool-down, free afterwards
    assert.equal(al.channel(0x4000, 600_000), undefined);
    assert.equal(al.channelForPeer('192.0.2.9', 7000, 600_000), 0);
    assert.equal(al.bindChannel(0x4000, { ...peer, port: 7001 }, 700_000).ok, false);
    assert.ok(al.bindChannel(0x4000, { ...peer, port: 7001 }, 900_001).ok);
    // re-binding the same pair refreshes
    assert.ok(al.bindChannel(0x4000, { ...peer, port: 7001 }, 1_000_000).ok);
    assert.ok(al.channel(0x4000, 1_599_999));
  });

  it('caps permissions and channels per allocation (508)', () => {
    const t = new AllocationTable({ maxPermissionsPerAllocation: 2, maxChannelsPerAllocation: 1 });
    const a = t.create(init(1), 0);
    assert.ok(a.ok);
    assert.ok(a.value.installPermission('192.0.2.1', 0).ok);
    assert.ok(a.value.installPermission('192.0.2.2', 0).ok);
    const p = a.value.installPermission('192.0.2.3', 0);
    assert.equal(p.ok ? 0 : turnErrorStunCode(p.error.code), 508);
    assert.ok(a.value.installPermission('192.0.2.3', 300_000).ok, 'expired ones are swept to make room');
    assert.ok(a.value.bindChannel(0x4000, { family: 4, address: '192.0.2.3', port: 1 }, 300_000).ok);
    const c = a.value.bindChannel(0x4001, { family: 4, address: '192.0.2.3', port: 2 }, 300_000);
    assert.equal(c.ok ? 0 : turnErrorStunCode(c.error.code), 508);
  });

  it('model check: the table agrees with a naive model under random operations', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('create' as const), port: fc.integer({ min: 1, max: 6 }), user: fc.constantFrom('a', 'b') }),
            fc.record({ op: fc.constant('delete' as const), port: fc.integer({ min: 1, max: 6 }) }),
            fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 400_000 }) }),
          ),
          { maxLength: 40 },
        ),
        (ops) => {
          const t = new AllocationTable({ maxPerUser: 2, maxTotal: 4 });
          const model = new Map<number, { user: string; exp: number }>();
          let now = 0;
          for (const o of ops) {
            if (o.op === 'create') {
              const r = t.create({ ...init(o.port, o.user) }, now);
              const exists = model.has(o.port);
              const users = [...model.values()].filter((m) => m.user === o.user).length;
              const expectOk = !exists && model.size < 4 && users < 2;
              assert.equal(r.ok, expectOk);
              if (r.ok) model.set(o.port, { user: o.user, exp: now + 600_000 });
            } else if (o.op === 'delete') {
              const a = t.find(1, '198.51.100.7', o.port);
              assert.equal(!!a, model.has(o.port));
              if (a) t.delete(a);
              model.delete(o.port);
            } else {
              now += o.ms;
              const gone = t
                .sweep(now)
                .map((a) => a.client.port)
                .sort();
              const expected = [...model.entries()]
                .filter(([, m]) => now >= m.exp)
                .map(([p]) => p)
                .sort();
              assert.deepEqual(gone, expected);
              for (const p of expected) model.delete(p);
            }
            assert.equal(t.size, model.size);
          }
        },
      ),
    );
  });
});

describe('reservations (EVEN-PORT R)', () => {
  it('hands a reserved port to one RESERVATION-TOKEN within 30 s only', () => {
    const r = new ReservationTable();
    const tok = Buffer.from('0102030405060708', 'hex');
    r.reserve(tok, 50001, 0);
    assert.equal(r.take(tok, 1000), 50001);
    assert.equal(r.take(tok, 1000), undefined);
    r.reserve(tok, 50003, 0);
    assert.deepEqual(r.sweep(30_000), [50003]);
    assert.equal(r.size, 0);
  });
});
