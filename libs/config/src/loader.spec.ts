import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, redactConfig } from './loader';
import { configLeaves } from './reference';

function tmpFile(name: string, text: string): { path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'traverse-config-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return { path, done: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('configuration', () => {
  it('has the seed defaults with no file and no environment', () => {
    const r = loadConfig({ env: {} });
    assert.ok(r.ok);
    const c = r.config;
    assert.equal(c.sip.udpPort, 5060);
    assert.equal(c.sip.tlsPort, 5061);
    assert.equal(c.sip.maxUdpPacketSize, 1300);
    assert.equal(c.stun.portOne, 3478);
    assert.equal(c.stun.portTwo, 34501);
    assert.equal(c.stun.mediaEnginePort, 34501);
    assert.equal(c.turn.port, 3560);
    assert.equal(c.oam.port, 8181);
    assert.deepEqual([c.tunnel.httpsPort, c.tunnel.tlsPort, c.tunnel.httpPort], [443, 444, 80]);
    assert.deepEqual([c.mediaEngine.relayPortMin, c.mediaEngine.relayPortMax], [45100, 45900]);
    assert.equal(c.redis.mode, 'embedded');
    assert.deepEqual(c.node.roles, ['signaling', 'media-engine']);
    assert.equal(c.auth.databaseMode, 'none');
    assert.equal(c.auth.mode, 'fixed');
  });

  it('reads a YAML file and lets the environment override it', () => {
    const f = tmpFile('t.yaml', 'sip:\n  udpPort: 5070\n  maxUdpPacketSize: 1400\nregistrar:\n  domains: [example.org]\n');
    try {
      const r = loadConfig({ argv: ['--config', f.path], env: { TRAVERSE_SIP__UDP_PORT: '5080', TRAVERSE_NODE__ROLES: 'signaling' } });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.config.sip.udpPort, 5080);
      assert.equal(r.config.sip.maxUdpPacketSize, 1400);
      assert.deepEqual(r.config.registrar.domains, ['example.org']);
      assert.deepEqual(r.config.node.roles, ['signaling']);
      assert.equal(r.file, f.path);
    } finally {
      f.done();
    }
  });

  it('names the key, its source and the problem for every invalid value', () => {
    const r = loadConfig({ env: { TRAVERSE_SIP__UDP_PORT: 'abc', TRAVERSE_OAM__PORT: '70000', TRAVERSE_NOPE: '1' } });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.ok(r.errors.includes('sip.udpPort (from TRAVERSE_SIP__UDP_PORT): expected number, got "abc"'), r.errors.join('\n'));
    assert.ok(r.errors.some((e) => e.startsWith('oam.port (from TRAVERSE_OAM__PORT): ') && e.includes('65535')), r.errors.join('\n'));
    assert.ok(r.errors.some((e) => e.startsWith('TRAVERSE_NOPE: no such configuration key')));
  });

  it('refuses unknown keys and cross-field contradictions in a file', () => {
    const f = tmpFile('t.yaml', 'sip:\n  udpPrt: 5070\nregistrar:\n  minExpires: 600\n  maxExpires: 60\nredis:\n  mode: standalone\n');
    try {
      const r = loadConfig({ argv: ['--config', f.path], env: {} });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.ok(r.errors.some((e) => e.startsWith('sip.udpPrt: unknown configuration key')), r.errors.join('\n'));
      assert.ok(r.errors.some((e) => e.startsWith('registrar.minExpires') && e.includes('maxExpires')), r.errors.join('\n'));
      assert.ok(r.errors.some((e) => e.startsWith('redis.url') && e.includes('standalone')), r.errors.join('\n'));
    } finally {
      f.done();
    }
  });

  it('reports a missing or malformed file', () => {
    const r = loadConfig({ env: { TRAVERSE_CONFIG: '/nonexistent/traverse.yaml' } });
    assert.deepEqual(r, { ok: false, errors: ['config file /nonexistent/traverse.yaml: not found'] });
    const f = tmpFile('bad.yaml', 'sip: [unclosed\n');
    try {
      const b = loadConfig({ argv: ['--config', f.path], env: {} });
      assert.equal(b.ok, false);
      if (!b.ok) assert.match(b.errors[0], /^config file .*bad\.yaml: /);
    } finally {
      f.done();
    }
  });

  it('maps every leaf to an environment variable and back', () => {
    const leaves = configLeaves();
    assert.ok(leaves.length > 60);
    const seen = new Set<string>();
    for (const l of leaves) {
      assert.ok(l.description.length > 5, `${l.path} has a description`);
      assert.ok(!seen.has(l.env), `${l.env} unique`);
      seen.add(l.env);
    }
    const r = loadConfig({ env: { TRAVERSE_EVENTS__MAIL_RECIPIENTS: 'a@example.org, b@example.org', TRAVERSE_LOG__FILE__ENABLED: 'no' } });
    assert.ok(r.ok);
    assert.deepEqual(r.config.events.mailRecipients, ['a@example.org', 'b@example.org']);
    assert.equal(r.config.log.file.enabled, false);
  });

  it('redacts secrets', () => {
    const r = loadConfig({ env: { TRAVERSE_AUTH__FIXED_PASSWORD: 'hunter2', TRAVERSE_REDIS__MODE: 'standalone', TRAVERSE_REDIS__URL: 'redis://u:pw@h:1' } });
    assert.ok(r.ok);
    const red = JSON.stringify(redactConfig(r.config));
    assert.ok(!red.includes('hunter2') && !red.includes(':pw@'));
    assert.equal(r.config.auth.fixedPassword, 'hunter2');
  });
});
