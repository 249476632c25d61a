// A running node keeps String.prototype in V8's fast mode although ioredis, which it loads,
// defines a class that extends String (see restoreFastStringPrototype in libs/runtime). Without
// it every string method call in optimized code, the SIP parser's included, is a generic lookup.
// Checked inside the node started as a user starts it, by a preload that asks V8.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@traverse/testing';
import { ClusterMember } from '../cluster/cluster-node';

const PROBE = `
if ((process.argv[1] || '').endsWith('main.js')) {
  require('node:v8').setFlagsFromString('--allow-natives-syntax');
  const fast = new Function('o', 'return %HasFastProperties(o)');
  const fs = require('node:fs');
  const file = process.env.STRING_PROTOTYPE_PROBE;
  setInterval(() => {
    fs.writeFileSync(file + '.tmp', fast(String.prototype) ? 'fast' : 'slow');
    fs.renameSync(file + '.tmp', file);
  }, 100).unref();
}
`;

describe('a started node', () => {
  let dir: string;
  let node: ClusterMember;
  let state: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'traverse-e2e-strings-'));
    const probe = join(dir, 'probe.cjs');
    state = join(dir, 'state');
    writeFileSync(probe, PROBE);
    node = await ClusterMember.create('e2e-strings', { NODE_OPTIONS: `--require ${probe}`, STRING_PROTOTYPE_PROBE: state });
    await node.start();
  });

  after(async () => {
    if (node.running) await node.stop();
    node.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has String.prototype in fast mode once ready', async () => {
    if (existsSync(state)) unlinkSync(state); // a reading taken after readiness
    await waitFor('the probe', () => (existsSync(state) ? true : undefined), 10_000);
    assert.equal(readFileSync(state, 'utf8'), 'fast');
  });
});
