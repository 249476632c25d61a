// SIP over WebSocket and secure WebSocket (RFC 7118) against a node started with ./traverse start:
// WebSocket clients register with digest authentication, appear in the Registered SIP Users
// table, and a MESSAGE from one reaches the other through the node on the connection it opened.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startSipNode, type SipNode } from './helpers';
import { WsSipClient } from './ws-client';

const DOMAIN = 'example.com';

describe('SIP over WebSocket on a node (RFC 7118)', () => {
  let n: SipNode;
  let password: string;
  let publicCert: string;
  const clients: WsSipClient[] = [];

  before(async () => {
    n = await startSipNode({ TRAVERSE_REGISTRAR__DOMAINS: DOMAIN });
    password = readFileSync(join(n.dataDir, 'secrets', 'fixed-password'), 'utf8').trim();
    publicCert = readFileSync(join(n.dataDir, 'certs', 'public-cert.pem'), 'utf8');
  });

  after(async () => {
    for (const c of clients) c.close();
    if (n) await n.stop();
  });

  it('refuses a WebSocket handshake without the "sip" subprotocol', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${n.wsPort}/`, ['chat']);
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => undefined);
    });
    ws.terminate();
    assert.equal(status, 400);
  });

  it('registers a WebSocket client with digest authentication', async () => {
    const alice = await WsSipClient.connect(`ws://127.0.0.1:${n.wsPort}/`, { user: 'alice', domain: DOMAIN });
    clients.push(alice);
    const res = await alice.register(password);
    assert.equal(res.status, 200);
    assert.match(res.headerValues('contact').join(','), new RegExp(alice.host.replace('.', '\\.')));
    const rows = await n.registrations(alice.aor);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].transport, 'WS');
    assert.equal(rows[0].contact, alice.contact);
    assert.match(rows[0].publicAddress, /^127\.0\.0\.1:\d+$/);
    assert.equal(rows[0].userAgent, 'traverse WebSocket test client');
  });

  it('registers over secure WebSocket with the public certificate', async () => {
    const bob = await WsSipClient.connect(`wss://127.0.0.1:${n.wssPort}/`, { user: 'bob', domain: DOMAIN, ca: publicCert });
    clients.push(bob);
    const res = await bob.register(password);
    assert.equal(res.status, 200);
    const rows = await n.registrations(bob.aor);
    assert.equal(rows[0]?.transport, 'WSS');
  });

  it('routes a MESSAGE from one WebSocket client to another over the connection it opened', async () => {
    const [alice, bob] = clients;
    const res = await bob.message(alice.aor, 'hello over WebSocket', password);
    assert.equal(res.status, 200);
    const got = await alice.wait('the MESSAGE', () => alice.requests.find((r) => r.method === 'MESSAGE'));
    assert.equal(got.body.toString(), 'hello over WebSocket');
    assert.equal(got.topVia?.transport, 'WS', 'the node names WS in its Via toward the client');
    assert.equal(got.requestUri, alice.contact);
  });

  it('counts the messages of both transports in the metrics', async () => {
    assert.ok(((await n.metric(/^traverse_sip_messages_received_total\{(?=[^}]*transport="WS")(?=[^}]*kind="request")/)) ?? 0) >= 2);
    assert.ok(((await n.metric(/^traverse_sip_messages_received_total\{(?=[^}]*transport="WSS")(?=[^}]*kind="request")/)) ?? 0) >= 2);
  });
});
