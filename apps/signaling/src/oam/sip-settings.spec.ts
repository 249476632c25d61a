// Validation of SIP settings changes against the configuration schema (pure logic).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configLeaves, loadConfig, type TraverseConfig } from '@traverse/config';
import { APPLIED_AT_RUN_TIME, validateSettingsChange } from './sip-settings';

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
