// NAT traversal of a node started with ./traverse start: SIPp registers from 127.0.0.1 with a
// Contact on a private address (10.0.0.5) as a client behind NAT does; the node sees it behind
// NAT, lists it in the Proxy Registrations table (GET /api/sip/proxy-registrations), keeps the
// binding open with OPTIONS keep-alives (from its public address: sip.usePublicAddress with
// node.publicAddress), and removes the registration when the client stops answering them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequest } from '@traverse/sip';
import { httpsRequest, waitFor } from '@traverse/testing';
import { startSipNode, type SipNode } from './helpers';
import { UdpSipClient, startSipp, type SippProcess } from './transport-helpers';
import { WsSipClient } from './ws-client';
import { proxyRegistrations } from './proxy-helpers';

const DOMAIN = 'example.com';
const PUBLIC = '192.0.2.10';

/** The status line of the answer to one REGISTER without credentials, sent over UDP with a Contact on `contactHost` (default: the client's own address). */
async function registerOnce(port: number, user: string, contactHost?: string): Promise<string> {
  const c = await UdpSipClient.open();
  try {
    const req = createRequest({
      method: 'REGISTER',
      uri: `sip:${DOMAIN}`,
      from: { uri: `sip:${user}@${DOMAIN}`, tag: `${user}1` },
      to: { uri: `sip:${user}@${DOMAIN}` },
      via: { transport: 'UDP', host: '127.0.0.1', port: c.port },
      contact: `<sip:${user}@${contactHost ?? `127.0.0.1:${c.port}`}>`,
      headers: [['Expires', '60']],
    });
    c.send(req, port);
    const res = await c.response(req.topVia?.branch, 5_000);
    return `${res.status} ${res.reason}`;
  } finally {
    c.close();
  }
}

describe('NAT traversal on a node (clients behind NAT, keep-alives, Proxy Registrations)', () => {
  let n: SipNode;
  let password: string;
  const sipps: SippProcess[] = [];

  const table = (aor?: string) => proxyRegistrations(n, aor);

  before(async () => {
    n = await startSipNode({
      TRAVERSE_REGISTRAR__DOMAINS: DOMAIN,
      TRAVERSE_NODE__PUBLIC_ADDRESS: PUBLIC,
      TRAVERSE_SIP__NAT_KEEP_ALIVE_INTERVAL: '5',
      TRAVERSE_SIP__NAT_KEEP_ALIVE_FAILURES: '1',
      TRAVERSE_SIP__T1_MS: '50',
      TRAVERSE_SIP__T2_MS: '400',
    });
    password = readFileSync(join(n.dataDir, 'secrets', 'fixed-password'), 'utf8').trim();
  });

  after(async () => {
    for (const s of sipps) if (s.run.child.exitCode === null) s.run.child.kill();
    if (n) await n.stop();
  });

  it('sees a client registering with a private Contact from another address as behind NAT, and lists it as a proxy registration', async () => {
    const s = await startSipp(n, 'nat-register-stay.xml', { user: 'alice', password, keys: { domain: DOMAIN, expires: 300 }, extraArgs: ['-aa', '-d', '60000'], timeout: '90s' });
    sipps.push(s);
    const rows = await waitFor('the proxy registration', async () => {
      const r = await table(`sip:alice@${DOMAIN}`);
      return r.length > 0 ? r : undefined;
    }, 20_000, 100);
    const row = rows[0];
    assert.equal(row.sipUri, `sip:alice@${DOMAIN}`);
    assert.equal(row.contact, 'sip:alice@10.0.0.5:5060');
    assert.equal(row.publicAddress, `127.0.0.1:${s.port}`);
    assert.equal(row.privateAddress, '10.0.0.5:5060');
    assert.equal(row.protocol, 'UDP');
    assert.equal(row.relay, true, 'media.relay all-nat relays for clients behind NAT');
    assert.equal(row.node, 'e2e-sip');
    assert.equal(row.rate, 300, 'until it re-registers: the time granted');
    assert.ok(row.expires > 290 && row.expires <= 300, `expires ${row.expires}`);
    assert.equal(row.registered, row.lastSeen);
    const reg = await n.registrations(`sip:alice@${DOMAIN}`);
    assert.equal(reg[0]?.behindNat, true);
  });

  it('keeps the binding open with OPTIONS sent from its public address to the client, counting the answers', async () => {
    const row = await waitFor('an answered keep-alive', async () => {
      const r = (await table(`sip:alice@${DOMAIN}`))[0];
      return r !== undefined && (r.keepAlive?.answered ?? 0) >= 1 ? r : undefined;
    }, 30_000, 200);
    assert.equal(row.keepAlive?.failures, 0);
    assert.ok(row.keepAlive?.lastAnswered);
    assert.ok(((await n.metric(/^traverse_sip_nat_keepalives_total\{(?=[^}]*method="options")(?=[^}]*outcome="answered")/)) ?? 0) >= 1);
    // SIPp's log holds the OPTIONS it got: to the contact, from the node's public address
    const s = sipps[0];
    s.run.child.kill('SIGTERM');
    const done = await s.done;
    assert.match(done.log, /^OPTIONS sip:alice@10\.0\.0\.5:5060 SIP\/2\.0/m, done.log);
    assert.match(done.log, new RegExp(`^Via: SIP/2\\.0/UDP ${PUBLIC.replace(/\./g, '\\.')}:${n.sipPort};branch=z9hG4bK`, 'm'));
  });

  it('removes the registration of a client that stops answering its keep-alives', async () => {
    const s = await startSipp(n, 'nat-register-stay.xml', { user: 'bob', password, keys: { domain: DOMAIN, expires: 300 }, extraArgs: ['-d', '60000'], timeout: '90s' });
    sipps.push(s);
    await waitFor('bob registered', async () => ((await n.registrations(`sip:bob@${DOMAIN}`)).length === 1 ? true : undefined), 20_000, 100);
    assert.equal((await table(`sip:bob@${DOMAIN}`)).length, 1);
    await waitFor('bob removed', async () => ((await n.registrations(`sip:bob@${DOMAIN}`)).length === 0 ? true : undefined), 40_000, 200);
    // the row goes with the binding's release, an event of its own that follows the removal (up to a commit window later)
    await waitFor('bob gone from Proxy Registrations', async () => ((await table(`sip:bob@${DOMAIN}`)).length === 0 ? true : undefined), 5_000, 50);
    assert.deepEqual(await table(`sip:bob@${DOMAIN}`), []);
    assert.ok(((await n.metric(/^traverse_sip_nat_unreachable_total/)) ?? 0) >= 1);
    assert.match(n.node.stdout(), /client behind NAT unreachable: registration removed/);
    s.run.child.kill();
  });

  it('keeps a WebSocket client (reachable only over its connection) with OPTIONS on that connection, and removes it when the connection closes', async () => {
    const c = await WsSipClient.connect(`ws://127.0.0.1:${n.wsPort}/`, { user: 'carol', domain: DOMAIN });
    try {
      assert.equal((await c.register(password)).status, 200);
      const row = (await table(`sip:carol@${DOMAIN}`))[0];
      assert.equal(row?.protocol, 'WS');
      assert.equal(row.privateAddress, undefined, 'a WebSocket client names no address of its own');
      const ping = await c.wait('a keep-alive OPTIONS', () => c.requests.find((r) => r.method === 'OPTIONS'), 20_000);
      assert.equal(ping.requestUri, c.contact);
      assert.equal(ping.topVia?.transport, 'WS');
      await waitFor('the answer counted', async () => (((await table(`sip:carol@${DOMAIN}`))[0]?.keepAlive?.answered ?? 0) >= 1 ? true : undefined), 10_000, 100);
    } finally {
      c.close();
    }
    // its connection gone, nothing reaches it: the registration goes with it
    await waitFor('carol removed', async () => ((await n.registrations(`sip:carol@${DOMAIN}`)).length === 0 ? true : undefined), 10_000, 100);
    // the row goes with the binding's release, an event of its own that follows the removal (up to a commit window later)
    await waitFor('carol gone from Proxy Registrations', async () => ((await table(`sip:carol@${DOMAIN}`)).length === 0 ? true : undefined), 5_000, 50);
    assert.deepEqual(await table(`sip:carol@${DOMAIN}`), []);
  });

  it('answers a client behind NAT 403 at once when registrations across NAT are refused, and still challenges one that is not', async () => {
    const refuse = (on: boolean) => httpsRequest(`${n.base}/api/sip/settings`, n.ca, 'PUT', { registrar: { rejectAcrossNat: on } });
    const r = await refuse(true);
    assert.equal(r.status, 200, r.body);
    try {
      assert.equal(await registerOnce(n.sipPort, 'erin', '10.0.0.5:5060'), '403 Registration Across NAT Not Allowed');
      assert.equal(await registerOnce(n.sipPort, 'frank'), '401 Unauthorized');
    } finally {
      assert.equal((await refuse(false)).status, 200);
    }
    // allowed again: the client behind NAT is challenged like any other
    assert.equal(await registerOnce(n.sipPort, 'erin', '10.0.0.5:5060'), '401 Unauthorized');
  });

  it('releases the proxy registration when the operator unregisters the user', async () => {
    const c = await WsSipClient.connect(`ws://127.0.0.1:${n.wsPort}/`, { user: 'dave', domain: DOMAIN });
    try {
      assert.equal((await c.register(password)).status, 200);
      assert.equal((await table(`sip:dave@${DOMAIN}`)).length, 1);
      const r = await httpsRequest(`${n.base}/api/registrations/${encodeURIComponent(`sip:dave@${DOMAIN}`)}`, n.ca, 'DELETE');
      assert.equal(r.status, 200, r.body);
      await waitFor('the row gone', async () => ((await table(`sip:dave@${DOMAIN}`)).length === 0 ? true : undefined), 10_000, 100);
    } finally {
      c.close();
    }
  });
});
