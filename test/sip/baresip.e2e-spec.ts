// Two real user agents (baresip from Debian) register with a node (digest authentication) and one
// calls the other through the node's proxy: alice over UDP, bob over TLS (the INVITE reaches bob
// on the TLS connection he registered on). Bob answers automatically, alice hangs up, and the call
// is in the closed calls with the end reason NORMAL.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@traverse/testing';
import type { SipNode } from './helpers';
import { DOMAIN, calls, closedCall, startProxyNode } from './proxy-helpers';
import { BaresipUa } from './baresip-ua';

describe('two baresip user agents calling each other through the node', () => {
  let n: SipNode;
  let alice: BaresipUa | undefined;
  let bob: BaresipUa | undefined;

  before(async () => {
    n = await startProxyNode({ TRAVERSE_REGISTRAR__SECURITY_LEVEL: 'full' });
  });

  after(async () => {
    await alice?.stop();
    await bob?.stop();
    if (n) await n.stop();
  });

  it('register, call, answer, hang up: the call ends NORMAL', async () => {
    const password = readFileSync(join(n.dataDir, 'secrets', 'fixed-password'), 'utf8').trim();
    bob = await BaresipUa.start({ user: 'bob', domain: DOMAIN, password, transport: 'tls', outbound: `sip:127.0.0.1:${n.tlsPort};transport=tls`, answer: 'auto' });
    alice = await BaresipUa.start({ user: 'alice', domain: DOMAIN, password, transport: 'udp', outbound: `sip:127.0.0.1:${n.sipPort}`, answer: 'manual' });
    // registered (the UAs register as they start, before their control connection is up)
    const registered = (user: string) => waitFor(`${user} registered`, async () => (await n.registrations(`sip:${user}@${DOMAIN}`))[0], 15_000, 100);
    assert.equal((await registered('bob')).transport, 'TLS');
    assert.equal((await registered('alice')).transport, 'UDP');

    const dial = await alice.command('dial', `sip:bob@${DOMAIN}`);
    assert.ok(dial.ok, dial.data);
    const established = await alice.event('CALL_ESTABLISHED');
    await bob.event('CALL_ESTABLISHED');
    const id = established.id;
    assert.ok(id, 'the call has a Call-ID');
    // the call table is the cluster's: the answer is there once its event is folded (group commit: within milliseconds)
    const row = await waitFor('the call answered in the call table', async () => (await calls(n, 'active')).find((c) => c.callId === id && c.answered !== undefined), 5_000, 50);
    assert.equal(row.caller.userId, `sip:alice@${DOMAIN}`);
    assert.equal(row.callee.userId, `sip:bob@${DOMAIN}`);

    const hangup = await alice.command('hangup');
    assert.ok(hangup.ok, hangup.data);
    await alice.event('CALL_CLOSED');
    await bob.event('CALL_CLOSED');
    const closed = await closedCall(n, id);
    assert.equal(closed.endReason, 'NORMAL');
    assert.equal(closed.successful, true);
  });
});
