// The SIP settings of the O&M API are the cluster's: two nodes started as a user starts them
// (`./traverse start`) over one Redis started by the suite. A change on node A is seen by GET on
// node B and in force there (a SIPp REGISTER asking more than the new maximum expiry gets the new
// maximum on B, although B's own configuration says more: the cluster wins), keys needing a
// restart are kept and in force after it, everything survives a restart of both nodes, and a bad
// change changes nothing anywhere.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer } from '@traverse/redis';
import { httpsRequest, waitFor } from '@traverse/testing';
import { ClusterMember } from '../cluster/cluster-node';
import { sipp } from './helpers';

const PASSWORD = 'settings-cluster-secret';
const DOMAIN = 'settings.test';

interface SettingChangeRow {
  value: unknown;
  changedAt: string;
  changedBy?: string;
  node: string;
  revision: number;
}
interface SettingsPage {
  sip: Record<string, unknown>;
  registrar: Record<string, unknown>;
  changes: Record<string, SettingChangeRow>;
  lastChange?: SettingChangeRow & { key: string };
  pendingRestart: Record<string, unknown>;
}

describe('SIP settings shared by the cluster', () => {
  let dir: string;
  let stopRedis: (() => Promise<void>) | undefined;
  let a: ClusterMember;
  let b: ClusterMember;

  const settings = (n: ClusterMember) => n.get<SettingsPage>('/api/sip/settings');
  const put = (n: ClusterMember, body: unknown) => httpsRequest(`${n.base}/api/sip/settings`, n.ca, 'PUT', body);
  /** REGISTER asking 7200 s; resolves with the expiry the registrar granted. */
  const granted = async (n: ClusterMember, user: string): Promise<number> => {
    const run = await sipp(n, 'register-auth.xml', { user, password: PASSWORD, keys: { domain: DOMAIN, expires: 7200 } });
    assert.equal(run.code, 0, `${run.log}\n--- node ${n.name}\n${n.log().slice(-3000)}`);
    const m = /granted expires=(\d+)/.exec(run.log);
    assert.ok(m, run.log);
    return Number(m[1]);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'traverse-settings-cluster-'));
    const redis = await startRedisServer({ dir, persistence: true });
    stopRedis = () => redis.stop();
    const shared = {
      TRAVERSE_REDIS__MODE: 'standalone',
      TRAVERSE_REDIS__URL: redis.url,
      TRAVERSE_REDIS__KEY_PREFIX: 'settings-e2e',
      TRAVERSE_NODE__ROLES: 'signaling',
      TRAVERSE_AUTH__FIXED_PASSWORD: PASSWORD,
      TRAVERSE_REGISTRAR__DOMAINS: DOMAIN,
      TRAVERSE_CLUSTER__HEARTBEAT_MS: '250',
      TRAVERSE_CLUSTER__LEASE_MS: '1500',
      TRAVERSE_CLUSTER__NODE_ADDRESS: '127.0.0.1',
    };
    a = await ClusterMember.create('node-a', shared);
    // node B's own configuration allows longer registrations than the cluster will
    b = await ClusterMember.create('node-b', { ...shared, TRAVERSE_REGISTRAR__MAX_EXPIRES: '7200' });
    await Promise.all([a.start(), b.start()]);
  });

  after(async () => {
    for (const n of [a, b]) {
      if (!n) continue;
      await n.stop().catch(() => undefined);
      n.remove();
    }
    await stopRedis?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts from each node configuration with no change made', async () => {
    const [sa, sb] = await Promise.all([settings(a), settings(b)]);
    assert.equal(sa.registrar.maxExpires, 3600);
    assert.equal(sb.registrar.maxExpires, 7200);
    assert.deepEqual(sa.changes, {});
    assert.deepEqual(sb.changes, {});
    assert.equal(await granted(b, 'carol'), 7200);
  });

  it('refuses a bad change with 400 and every reason, changing nothing on any node', async () => {
    const r = await put(a, { registrar: { maxExpires: 1800, minExpires: 5000 }, sip: { t1Ms: 250, bogus: 1 } });
    assert.equal(r.status, 400, r.body);
    const message = (JSON.parse(r.body) as { message: string[] }).message.join('\n');
    assert.match(message, /registrar\.minExpires: must not exceed maxExpires/);
    assert.match(message, /sip\.bogus: unknown setting/);
    // give node B the time it would need to fold a change, then look
    await new Promise((res) => setTimeout(res, 500));
    for (const n of [a, b]) {
      const s = await settings(n);
      assert.deepEqual(s.changes, {}, n.name);
      assert.equal(s.sip.t1Ms, 500, n.name);
      assert.equal(s.registrar.minExpires, 60, n.name);
    }
    assert.equal((await settings(b)).registrar.maxExpires, 7200);
  });

  it('makes a change on node A the cluster\'s: seen by GET on node B and in force there', async () => {
    const r = await put(a, { registrar: { maxExpires: 1800, defaultExpires: 600, domains: [DOMAIN, 'example.net'] }, sip: { t1Ms: 400 } });
    assert.equal(r.status, 200, r.body);
    const change = JSON.parse(r.body) as { applied: string[]; restartRequired: string[]; settings: SettingsPage };
    assert.deepEqual(change.applied, ['sip.t1Ms', 'registrar.maxExpires', 'registrar.defaultExpires']);
    assert.deepEqual(change.restartRequired, ['registrar.domains']);
    // answered once folded on node A: in force there
    assert.equal(change.settings.registrar.maxExpires, 1800);
    assert.equal(change.settings.changes['registrar.maxExpires']?.node, 'node-a');
    assert.match(change.settings.changes['registrar.maxExpires']?.changedBy ?? '', /127\.0\.0\.1/);
    assert.deepEqual(change.settings.registrar.domains, [DOMAIN], 'a key that needs a restart is not in force yet');
    assert.deepEqual(change.settings.pendingRestart, { 'registrar.domains': [DOMAIN, 'example.net'] });

    const sb = await waitFor('node B in line', async () => {
      const s = await settings(b);
      return s.registrar.maxExpires === 1800 ? s : undefined;
    }, 10_000, 100);
    assert.equal(sb.sip.t1Ms, 400);
    const row = sb.changes['registrar.maxExpires'];
    assert.ok(row, JSON.stringify(sb.changes));
    assert.equal(row.value, 1800);
    assert.equal(row.node, 'node-a');
    assert.match(row.changedBy ?? '', /127\.0\.0\.1/);
    assert.ok(Math.abs(Date.parse(row.changedAt) - Date.now()) < 60_000, row.changedAt);
    assert.ok(sb.lastChange);
    assert.deepEqual(sb.pendingRestart, { 'registrar.domains': [DOMAIN, 'example.net'] });
    assert.equal(await granted(b, 'dave'), 1800, 'node B grants the new maximum, over its own configuration');
    assert.equal(await granted(a, 'erin'), 1800);
  });

  it('keeps the change across a restart of both nodes, with the keys that needed it in force', async () => {
    await Promise.all([a.stop(), b.stop()]);
    await Promise.all([a.start(), b.start()]);
    for (const n of [a, b]) {
      const s = await settings(n);
      assert.equal(s.registrar.maxExpires, 1800, n.name);
      assert.equal(s.sip.t1Ms, 400, n.name);
      assert.deepEqual(s.registrar.domains, [DOMAIN, 'example.net'], n.name);
      assert.deepEqual(s.pendingRestart, {}, n.name);
      assert.equal(s.changes['registrar.maxExpires']?.node, 'node-a');
    }
    assert.equal(await granted(b, 'frank'), 1800);
    // the domain that needed the restart is served now
    const run = await sipp(a, 'register-auth.xml', { user: 'grace', password: PASSWORD, keys: { domain: 'example.net', expires: 300 } });
    assert.equal(run.code, 0, run.log);
  });

  it('a change on node B after the restart reaches node A', async () => {
    const r = await put(b, { registrar: { maxExpires: 900 } });
    assert.equal(r.status, 200, r.body);
    await waitFor('node A in line', async () => ((await settings(a)).registrar.maxExpires === 900 ? true : undefined), 10_000, 100);
    const s = await settings(a);
    assert.equal(s.changes['registrar.maxExpires']?.node, 'node-b');
    assert.equal(s.changes['registrar.maxExpires']?.revision, 2);
    assert.equal(s.lastChange?.key, 'registrar.maxExpires');
    assert.equal(await granted(a, 'heidi'), 900);
  });
});
