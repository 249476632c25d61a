import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema, type Role } from '@traverse/config';
import { advertisedAddress, overlaps, secondaryStunPlan, turnRealm, turnSharing } from './addresses';

const config = (over: Record<string, unknown> = {}) => configSchema.parse(over);
const both: Role[] = ['signaling', 'media-engine'];

describe('how the two roles share a host', () => {
  it('one process on one address (the defaults) shares the TURN listeners and runs no secondary STUN server', () => {
    const c = config();
    assert.deepEqual(turnSharing(c, both), { plain: true, tls: true });
    assert.equal(secondaryStunPlan(c, both).run, false);
    assert.match(secondaryStunPlan(c, both).why ?? '', /mediaEngine\.address/);
  });

  it('two addresses: separate listeners and a secondary STUN server', () => {
    const c = config({ stun: { address: '127.0.0.1' }, turn: { address: '127.0.0.1' }, mediaEngine: { address: '127.0.0.2' } });
    assert.deepEqual(turnSharing(c, both), { plain: false, tls: false });
    assert.deepEqual(secondaryStunPlan(c, both), { run: true });
  });

  it('different ports on one address do not share; a role alone never shares', () => {
    assert.deepEqual(turnSharing(config({ turn: { mediaEnginePort: 3561 } }), both), { plain: false, tls: true });
    assert.deepEqual(turnSharing(config({ turn: { mediaEngineTlsPort: 0 } }), both), { plain: true, tls: false });
    assert.deepEqual(turnSharing(config(), ['signaling']), { plain: false, tls: false });
    assert.deepEqual(secondaryStunPlan(config(), ['media-engine']), { run: true });
    assert.equal(secondaryStunPlan(config({ stun: { enabled: false } }), ['media-engine']).run, false);
  });

  it('wildcards overlap everything; the advertised address prefers the public one', () => {
    assert.equal(overlaps('', '127.0.0.2'), true);
    assert.equal(overlaps('0.0.0.0', '10.0.0.1'), true);
    assert.equal(overlaps('127.0.0.1', '127.0.0.2'), false);
    assert.equal(advertisedAddress('203.0.113.9', '0.0.0.0'), '203.0.113.9');
    assert.equal(advertisedAddress('media.example.com', '127.0.0.2'), '127.0.0.2');
    assert.match(advertisedAddress('', ''), /^\d+\.\d+\.\d+\.\d+$/);
  });

  it('TURN uses the realm of SIP digest', () => {
    assert.equal(turnRealm(config({ auth: { realm: 'r.example' }, registrar: { domains: ['d.example'] } })), 'r.example');
    assert.equal(turnRealm(config({ registrar: { domains: ['d.example'] } })), 'd.example');
    assert.equal(turnRealm(config()), 'traverse');
  });
});
