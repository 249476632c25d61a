// The SIP proxy of nodes started with ./traverse start, driven by SIPp callers and callees over UDP,
// TCP and TLS (through a TLS relay: Debian's SIPp has no TLS): what the callee receives (Record-Route,
// Via with received/rport, Max-Forwards), CANCEL, busy, not found, unavailable, 3xx recursion on
// and off, redirect mode and proxy authentication; then the calls O&M API with the end reasons.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '@traverse/testing';
import type { SipNode } from './helpers';
import { DOMAIN, calls, closedCall, receivedRequest, receivedResponse, startProxyNode, startSipp, tlsRelay } from './proxy-helpers';

const callId = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;

/** Registers user@example.com with a contact on 127.0.0.1:port. */
async function register(n: SipNode, user: string, port: number, transport: 'udp' | 'tcp' = 'udp'): Promise<void> {
  const r = await (
    await startSipp({ scenario: 'proxy-register.xml', remote: `127.0.0.1:${n.sipPort}`, service: user, keys: { domain: DOMAIN, contact_port: port, contact_transport: transport } })
  ).result();
  assert.equal(r.code, 0, r.log);
}

/** A caller: alice@example.com (or as given) calls callee@domain through the node. */
function caller(n: SipNode, scenario: string, callee: string, id: string, o: { transport?: 'u1' | 't1'; remote?: string; domain?: string; from?: string; fromDomain?: string; auth?: { user: string; password: string } } = {}) {
  return startSipp({
    scenario,
    remote: o.remote ?? `127.0.0.1:${n.sipPort}`,
    transport: o.transport ?? 'u1',
    service: callee,
    callId: id,
    keys: { domain: o.domain ?? DOMAIN, caller: o.from ?? 'alice', caller_domain: o.fromDomain ?? DOMAIN },
    ...(o.auth ? { auth: o.auth } : {}),
  });
}

describe('the SIP proxy of a node (SIPp over UDP, TCP and TLS)', () => {
  let n: SipNode;

  before(async () => {
    n = await startProxyNode();
  });

  after(async () => {
    if (n) await n.stop();
  });

  it('proxies a call over UDP with Record-Route, its Via with rport, and the caller Via stamped with received/rport', async () => {
    const uas = await startSipp({ scenario: 'proxy-uas.xml', service: 'bob' });
    await register(n, 'bob', uas.port);
    const id = callId('udp');
    const uac = await caller(n, 'proxy-uac.xml', 'bob', id);
    const [a, b] = await Promise.all([uac.result(), uas.result()]);
    assert.equal(a.code, 0, a.log);
    assert.equal(b.code, 0, b.log);
    const invite = receivedRequest(b.messages, 'INVITE');
    assert.ok(invite, b.log);
    assert.equal(invite.requestUri, `sip:bob@127.0.0.1:${uas.port};transport=udp`, 'the Request-URI is the registered contact');
    assert.equal(invite.maxForwards, 69);
    assert.equal(invite.vias.length, 2);
    const [top, callerVia] = invite.vias;
    assert.equal(`${top.transport} ${top.host}:${top.port}`, `UDP 127.0.0.1:${n.sipPort}`);
    assert.match(top.branch ?? '', /^z9hG4bK/);
    assert.equal(top.rport, null, 'the proxy asks for rport');
    assert.equal(callerVia.received, '127.0.0.1');
    assert.equal(callerVia.rport, uac.port);
    const rr = invite.headerValues('record-route');
    assert.equal(rr.length, 1);
    assert.match(rr[0], new RegExp(`^<sip:127\\.0\\.0\\.1:${n.sipPort};lr;ftag=`));
    // the caller's ACK and BYE reached the callee through the proxy
    const bye = receivedRequest(b.messages, 'BYE');
    assert.ok(bye);
    assert.equal(bye.vias.length, 2);
    assert.equal(bye.hasHeader('route'), false, 'the proxy removed its Route');
    assert.ok(receivedRequest(b.messages, 'ACK'));
    const closed = await closedCall(n, id);
    assert.equal(closed.endReason, 'NORMAL');
    assert.equal(closed.successful, true);
    assert.equal(closed.caller.userId, `sip:alice@${DOMAIN}`);
    assert.equal(closed.callee.userId, `sip:bob@${DOMAIN}`);
    assert.equal(closed.caller.publicAddress, '127.0.0.1');
    assert.ok(closed.answered !== undefined && closed.ended !== undefined);
    assert.equal(
      (await calls(n, 'active')).some((c) => c.callId === id),
      false,
    );
  });

  it('proxies a call over TCP (caller and callee), record-routing with transport=tcp', async () => {
    const uas = await startSipp({ scenario: 'proxy-uas.xml', service: 'tina', transport: 't1' });
    await register(n, 'tina', uas.port, 'tcp');
    const id = callId('tcp');
    const uac = await caller(n, 'proxy-uac.xml', 'tina', id, { transport: 't1' });
    const [a, b] = await Promise.all([uac.result(), uas.result()]);
    assert.equal(a.code, 0, a.log);
    assert.equal(b.code, 0, b.log);
    const invite = receivedRequest(b.messages, 'INVITE');
    assert.ok(invite);
    assert.equal(invite.topVia?.transport, 'TCP');
    assert.deepEqual(invite.headerValues('record-route').length, 1);
    assert.match(invite.headerValues('record-route')[0], new RegExp(`^<sip:127\\.0\\.0\\.1:${n.sipPort};transport=tcp;lr;`));
    assert.equal((await closedCall(n, id)).endReason, 'NORMAL');
  });

  it('proxies a call from a TLS caller to a UDP callee with a double Record-Route', async () => {
    const relay = await tlsRelay(n);
    try {
      const uas = await startSipp({ scenario: 'proxy-uas.xml', service: 'uma' });
      await register(n, 'uma', uas.port);
      const id = callId('tls');
      const uac = await caller(n, 'proxy-uac.xml', 'uma', id, { transport: 't1', remote: `127.0.0.1:${relay.port}` });
      const [a, b] = await Promise.all([uac.result(), uas.result()]);
      assert.equal(a.code, 0, a.log);
      assert.equal(b.code, 0, b.log);
      const invite = receivedRequest(b.messages, 'INVITE');
      assert.ok(invite);
      const rr = invite.headerValues('record-route');
      assert.equal(rr.length, 2, rr.join(' | '));
      assert.match(rr[0], new RegExp(`^<sip:127\\.0\\.0\\.1:${n.sipPort};lr;`), 'the callee side: UDP');
      assert.match(rr[1], new RegExp(`^<sip:127\\.0\\.0\\.1:${n.tlsPort};transport=tls;lr;`), 'the caller side: TLS');
      const ok = receivedResponse(a.messages, 200);
      assert.ok(ok);
      assert.equal(ok.listValues('record-route').length, 2, 'the callee copied both');
      assert.equal((await closedCall(n, id)).endReason, 'NORMAL');
    } finally {
      await relay.close();
    }
  });

  it('passes the caller CANCEL on: the callee is cancelled and the call ends CALLER_CANCELLED', async () => {
    const uas = await startSipp({ scenario: 'proxy-uas-cancel.xml', service: 'carl' });
    await register(n, 'carl', uas.port);
    const id = callId('cancel');
    const [a, b] = await Promise.all([(await caller(n, 'proxy-uac-cancel.xml', 'carl', id)).result(), uas.result()]);
    assert.equal(a.code, 0, a.log);
    assert.equal(b.code, 0, b.log);
    const closed = await closedCall(n, id);
    assert.equal(closed.endReason, 'CALLER_CANCELLED');
    assert.equal(closed.successful, false);
  });

  it('relays 486 Busy Here: USER_BUSY', async () => {
    const uas = await startSipp({ scenario: 'proxy-uas-busy.xml', service: 'dora' });
    await register(n, 'dora', uas.port);
    const id = callId('busy');
    const [a, b] = await Promise.all([(await caller(n, 'proxy-uac-busy.xml', 'dora', id)).result(), uas.result()]);
    assert.equal(a.code, 0, a.log);
    assert.equal(b.code, 0, b.log);
    const closed = await closedCall(n, id);
    assert.equal(closed.endReason, 'USER_BUSY');
    assert.equal(closed.sipStatus, 486);
  });

  it('relays 404 Not Found from the callee: SIP_USER_NOT_FOUND', async () => {
    const uas = await startSipp({ scenario: 'proxy-uas-notfound.xml', service: 'finn' });
    await register(n, 'finn', uas.port);
    const id = callId('notfound');
    const [a, b] = await Promise.all([(await caller(n, 'proxy-uac-notfound.xml', 'finn', id)).result(), uas.result()]);
    assert.equal(a.code, 0, a.log);
    assert.equal(b.code, 0, b.log);
    assert.equal((await closedCall(n, id)).endReason, 'SIP_USER_NOT_FOUND');
  });

  it('answers 480 for a user registered nowhere: USER_TEMPORARILY_UNAVAILABLE', async () => {
    const id = callId('nobody');
    const a = await (await caller(n, 'proxy-uac-unavailable.xml', 'nobody', id)).result();
    assert.equal(a.code, 0, a.log);
    const closed = await closedCall(n, id);
    assert.equal(closed.endReason, 'USER_TEMPORARILY_UNAVAILABLE');
    assert.equal(closed.sipStatus, 480);
  });

  it('recurses on a 302: the proxy calls the new contact and the caller sees only the 200', async () => {
    const carol = await startSipp({ scenario: 'proxy-uas.xml', service: 'carol' });
    const bob = await startSipp({ scenario: 'proxy-uas-redirect.xml', service: 'gus', keys: { redirect_user: 'carol', redirect_port: carol.port } });
    await register(n, 'gus', bob.port);
    const id = callId('recurse');
    const uac = await caller(n, 'proxy-uac.xml', 'gus', id);
    const [a, b, c] = await Promise.all([uac.result(), bob.result(), carol.result()]);
    assert.equal(a.code, 0, a.log);
    assert.equal(b.code, 0, b.log);
    assert.equal(c.code, 0, c.log);
    assert.equal(receivedRequest(c.messages, 'INVITE')?.requestUri, `sip:carol@127.0.0.1:${carol.port}`);
    assert.equal(receivedResponse(a.messages, 302), undefined, 'the 302 is not passed on');
    assert.equal((await closedCall(n, id)).endReason, 'NORMAL');
  });
});

describe('the SIP proxy with recursion off and redirect mode', () => {
  let n: SipNode;

  before(async () => {
    n = await startProxyNode({ TRAVERSE_SIP__RECURSE_ON_REDIRECT: 'false', TRAVERSE_SIP__PROXY_MODE: 'redirect' });
  });

  after(async () => {
    if (n) await n.stop();
  });

  it('passes a 302 of the callee to the caller when recursion is off', async () => {
    const uas = await startSipp({ scenario: 'proxy-uas-redirect.xml', service: 'hal', keys: { redirect_user: 'carol', redirect_port: 5999 } });
    await register(n, 'hal', uas.port);
    const id = callId('norecurse');
    const [a, b] = await Promise.all([(await caller(n, 'proxy-uac-redirected.xml', 'hal', id)).result(), uas.result()]);
    assert.equal(a.code, 0, a.log);
    assert.equal(b.code, 0, b.log);
    assert.deepEqual(receivedResponse(a.messages, 302)?.headerValues('contact'), ['<sip:carol@127.0.0.1:5999>']);
    const closed = await closedCall(n, id);
    assert.equal(closed.endReason, 'INVITE_REJECTED');
    assert.equal(closed.sipStatus, 302);
  });

  it('answers a request between two external parties 302 with its target in redirect mode', async () => {
    const target = await freePort();
    const id = callId('redirect');
    const a = await (await caller(n, 'proxy-uac-redirected.xml', 'dave', id, { domain: `127.0.0.1:${target}`, from: 'erin', fromDomain: 'elsewhere.org' })).result();
    assert.equal(a.code, 0, a.log);
    assert.deepEqual(receivedResponse(a.messages, 302)?.headerValues('contact'), [`<sip:dave@127.0.0.1:${target}>`]);
    assert.equal((await closedCall(n, id)).sipStatus, 302);
  });
});

describe('the SIP proxy authenticating callers (security level full)', () => {
  let n: SipNode;
  let password: string;

  before(async () => {
    n = await startProxyNode({ TRAVERSE_REGISTRAR__SECURITY_LEVEL: 'full' });
    password = readFileSync(join(n.dataDir, 'secrets', 'fixed-password'), 'utf8').trim();
  });

  after(async () => {
    if (n) await n.stop();
  });

  it('challenges the INVITE with 407 and forwards it with valid credentials; the call is recorded once', async () => {
    const uas = await startSipp({ scenario: 'proxy-uas.xml', service: 'ivy' });
    const id = callId('auth');
    const uac = await caller(n, 'proxy-uac-auth.xml', 'ivy', id, { domain: `127.0.0.1:${uas.port}`, auth: { user: 'alice', password } });
    const [a, b] = await Promise.all([uac.result(), uas.result()]);
    assert.equal(a.code, 0, a.log);
    assert.equal(b.code, 0, b.log);
    const invite = receivedRequest(b.messages, 'INVITE');
    assert.ok(invite);
    assert.equal(invite.hasHeader('proxy-authorization'), false, 'the proxy consumed its credentials');
    const closed = await closedCall(n, id);
    assert.equal(closed.endReason, 'NORMAL');
    assert.equal((await calls(n, 'closed')).filter((c) => c.callId === id).length, 1);
  });
});
