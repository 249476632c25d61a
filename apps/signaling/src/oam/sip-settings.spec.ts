// Validation of SIP settings changes against the configuration schema (pure logic).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configLeaves, loadConfig, type TraverseConfig } from '@traverse/config';
import { ConfigurationModel, type StoredEvent } from '@traverse/cluster';
import { APPLIED_AT_RUN_TIME, isSettingsKey, mergeClusterSettings, validateSettingsChange } from './sip-settings';

function defaults(): TraverseConfig {
  const r = loadConfig({ env: {} });
  assert.ok(r.ok);
  return r.config;
}

describe('validateSettingsChange', () => {
  it('takes a partial change and names the keys that change', () => {
    const v = validateSettingsChange(defaults(), { sip: { t1Ms: 100, rateLimit: 50 }, registrar: { minExpires: 120 } });
    assert.ok(v.ok);
    assert.deepEqual(v.changed, ['sip.t1Ms', 'sip.rateLimit', 'registrar.minExpires']);
    assert.equal(v.next.sip.t1Ms, 100);
    assert.equal(v.next.sip.t2Ms, 4000, 'keys left out keep their value');
    assert.equal(v.next.registrar.maxExpires, 3600);
  });

  it('reports no change for values equal to the current ones', () => {
    const v = validateSettingsChange(defaults(), { sip: { t1Ms: 500 } });
    assert.ok(v.ok);
    assert.deepEqual(v.changed, []);
  });

  it('refuses the whole change with every reason: range, type, cross-key rules, unknown keys and sections', () => {
    const current = defaults();
    const v = validateSettingsChange(current, { sip: { t1Ms: 5000, t2Ms: 1000, udpPort: 70000, natKeepAlive: 'smoke', bogus: 1 }, registrar: { minExpires: 'soon' } });
    assert.ok(!v.ok);
    const text = v.errors.join('\n');
    assert.match(text, /^sip\.udpPort: .*65535/m);
    assert.match(text, /^sip\.natKeepAlive: /m);
    assert.match(text, /^sip\.bogus: unknown setting/m);
    assert.match(text, /^registrar\.minExpires: expected number/m);
    const cross = validateSettingsChange(current, { sip: { t1Ms: 5000 } });
    assert.ok(!cross.ok);
    assert.match(cross.errors.join('\n'), /^sip\.t2Ms: must not be below t1Ms \(5000\)/m);
    const bounds = validateSettingsChange(current, { registrar: { minExpires: 7200 } });
    assert.ok(!bounds.ok);
    assert.match(bounds.errors.join('\n'), /^registrar\.minExpires: must not exceed maxExpires/m);
    const section = validateSettingsChange(current, { turn: { port: 1 }, sip: 5 });
    assert.ok(!section.ok);
    assert.deepEqual(section.errors, ['turn: not a SIP settings section (sip, registrar)', 'sip: expected an object']);
    assert.ok(!validateSettingsChange(current, [1]).ok);
    assert.equal(current.sip.t1Ms, 500, 'the running configuration is untouched');
  });

  it('applies at run time only keys that exist in the configuration', () => {
    const leaves = new Set(configLeaves().map((l) => l.path));
    for (const k of APPLIED_AT_RUN_TIME) assert.ok(leaves.has(k), k);
  });
});

function changed(id: number, path: string, value: unknown, by?: string, node = 'node-a'): StoredEvent {
  return { id: `${id}-0`, shard: 3, node, time: 1_700_000_000_000 + id, type: 'configuration.changed', version: 1, aggregate: 'configuration', data: { path, value, ...(by ? { by } : {}) } };
}

describe('cluster SIP settings: fold and merge over the node configuration', () => {
  it('names only keys of the two sections as settings keys', () => {
    assert.ok(isSettingsKey('registrar.maxExpires'));
    assert.ok(isSettingsKey('sip.t1Ms'));
    assert.ok(!isSettingsKey('turn.port'));
    assert.ok(!isSettingsKey('sip'));
    assert.ok(!isSettingsKey('sip.'));
    assert.ok(!isSettingsKey('sip.rateLimit.x'));
  });

  it('folds the changes in stream order: the last value of a key wins, with when, where and who', () => {
    const model = new ConfigurationModel();
    model.apply(changed(1, 'registrar.maxExpires', 7200, '127.0.0.1'));
    model.apply(changed(2, 'sip.t1Ms', 250));
    model.apply(changed(3, 'registrar.defaultExpires', 600));
    model.apply(changed(4, 'registrar.maxExpires', 1800, 'ops (10.0.0.1)', 'node-b'));
    assert.deepEqual(model.all(), { 'registrar.maxExpires': 1800, 'sip.t1Ms': 250, 'registrar.defaultExpires': 600 });
    const e = model.entry('registrar.maxExpires');
    assert.equal(e?.revision, 2);
    assert.equal(e?.by, 'ops (10.0.0.1)');
    assert.equal(e?.node, 'node-b');
    assert.equal(e?.changedAt, 1_700_000_000_004);
    // a snapshot restored on another node gives the same settings
    const other = new ConfigurationModel();
    other.restore(3, JSON.parse(JSON.stringify(model.snapshot(3))));
    assert.deepEqual(other.all(), model.all());
    const m = mergeClusterSettings(defaults(), other.all());
    assert.ok(m.ok);
    assert.equal(m.next.registrar.maxExpires, 1800);
    assert.equal(m.next.sip.t1Ms, 250);
  });

  it('puts the cluster values over the node configuration and names the keys that differ from it', () => {
    const base = defaults();
    base.registrar.maxExpires = 7200; // from the node's file
    const m = mergeClusterSettings(base, { 'registrar.maxExpires': 1800, 'registrar.defaultExpires': 600, 'sip.t1Ms': 500, 'sip.udpPort': 5070 });
    assert.ok(m.ok);
    assert.equal(m.next.registrar.maxExpires, 1800, 'the cluster wins over the file');
    assert.deepEqual(m.changed, ['sip.udpPort', 'registrar.maxExpires', 'registrar.defaultExpires']);
    assert.equal(m.next.sip.tcpPort, base.sip.tcpPort, 'keys the cluster did not change keep the node value');
    assert.equal(base.registrar.maxExpires, 7200, 'the node configuration is untouched');
  });

  it('ignores keys this node does not know and refuses a set that breaks a cross-key rule with the node values', () => {
    const base = defaults();
    const unknown = mergeClusterSettings(base, { 'sip.fromTheFuture': 1, 'turn.port': 3, 'registrar.minExpires': 90 });
    assert.ok(unknown.ok);
    assert.deepEqual(unknown.ignored, ['sip.fromTheFuture', 'turn.port']);
    assert.deepEqual(unknown.changed, ['registrar.minExpires']);
    base.registrar.maxExpires = 100;
    const refused = mergeClusterSettings(base, { 'registrar.minExpires': 120 });
    assert.ok(!refused.ok);
    assert.match(refused.errors.join('\n'), /registrar\.minExpires: must not exceed maxExpires/);
    const badValue = mergeClusterSettings(defaults(), { 'sip.t1Ms': 'soon' });
    assert.ok(!badValue.ok);
  });
});
