// The stateful proxy (RFC 3261 16) on a real transaction layer driven by a fake clock; the wire is a
// recorder of what the proxy sends, every message serialised and parsed back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DigestAuthenticator,
  ManualScheduler,
  TransactionLayer,
  challengesFromHeaders,
  computeAuthorization,
  createRequest,
  createResponse,
  formatUri,
  parseMessage,
  serializeDigestCredentials,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '@traverse/sip';
import type { AuthLookup } from '@traverse/auth';
import { InMemoryLocationService, type ContactBindingData } from '../registrar/location-service';
import type { SipSource } from '../transport/sip-transport';
import { LocalAddresses } from './local-addresses';
import { ProxyAuthenticator } from './proxy-auth';
import { SipProxy } from './proxy';
import type { CalleeInfo, InviteOutcome, ProxyCallObserver, ProxyOptions } from './proxy-types';
import { BRANCH_PREFIX, encodeFlowToken, flowTokenMac, loopHash, type FlowToken, type Hop } from './routing';
import type { ResolvedTarget, SipTargetResolver } from './target-resolver';
import { ProxiedRegistrations } from './registration-proxy';

const ME = '192.0.2.1';
const DOMAIN = 'example.com';

function wire<T extends SipMessage>(m: T): T {
  const r = parseMessage(m.toBuffer());
  assert.ok(r.ok, `parses back: ${m.toString()}`);
  return r.value as T;
}

interface Sent {
  msg: SipMessage;
  hop: Hop;
}

class Calls implements ProxyCallObserver {
  events: string[] = [];
  max = 10;
  active = new Set<string>();
  admit(): boolean {
    return this.active.size < this.max;
  }
  has(callId: string): boolean {
    return this.active.has(callId);
  }
  started(req: SipRequest, _s: SipSource, callee: CalleeInfo): void {
    this.active.add(req.callId);
    this.events.push(`started ${callee.userId} ${callee.publicAddress ?? '-'} ${callee.external ? 'external' : 'local'}`);
  }
  answered(): void {
    this.events.push('answered');
  }
  refreshed(): void {
    this.events.push('refreshed');
  }
  failed(req: SipRequest, o: InviteOutcome): void {
    this.active.delete(req.callId);
    this.events.push(`failed ${o.status} ${o.origin} ${o.cause ?? '-'}`);
  }
  refused(_req: SipRequest, _s: SipSource, o: InviteOutcome): void {
    this.events.push(`refused ${o.status} ${o.cause ?? '-'}`);
  }
  ack(): void {
    this.events.push('ack');
  }
  bye(req: SipRequest): void {
    this.active.delete(req.callId);
    this.events.push('bye');
  }
}

class FakeResolver implements SipTargetResolver {
  answers = new Map<string, ResolvedTarget[]>();
  async resolve(uri: { host: string }): Promise<ResolvedTarget[]> {
    return this.answers.get(uri.host) ?? [];
  }
}

const OPTIONS: ProxyOptions = {
  mode: 'forward',
  recurseOnRedirect: true,
  forking: 'parallel',
  sequentialForkingTimeMs: 10_000,
  homeRouting: false,
  domainRegistrationPolicy: [],
  homeProxy: '',
  alwaysRecordRoute: true,
  maxForwards: 70,
  timerCMs: 180_000,
};

function setup(
  o: Partial<ProxyOptions> = {},
  extra: { auth?: 'full'; userExists?: (u: string) => AuthLookup; failTo?: string; deadFlows?: string[]; relaySecret?: Buffer; routeToNode?: (node: string, flow: FlowToken) => string | undefined; registrations?: ProxiedRegistrations; prefixes?: string[] } = {},
) {
  const clock = new ManualScheduler(1_000_000);
  const layer = new TransactionLayer({ scheduler: clock });
  const location = new InMemoryLocationService(() => clock.now());
  const sent: Sent[] = [];
  const upstream: SipResponse[] = [];
  const transport = {
    send(msg: SipMessage, hop: Hop): boolean {
      if (extra.failTo !== undefined && hop.address === extra.failTo) return false;
      sent.push({ msg: wire(msg), hop });
      return true;
    },
    channelTo(hop: Hop) {
      return { reliable: hop.transport !== 'UDP', send: (m: SipMessage) => transport.send(m, hop) };
    },
  };
  const local = new LocalAddresses({ udpPort: 5060, tcpPort: 5060, tlsPort: 5061, publicAddress: '', usePublicAddress: false, domains: [DOMAIN], interfaceAddresses: ['127.0.0.1', ME] });
  const calls = new Calls();
  const resolver = new FakeResolver();
  const authenticator = new DigestAuthenticator({ realm: DOMAIN, secret: 'k', algorithms: ['MD5'] });
  const auth =
    extra.auth === 'full'
      ? new ProxyAuthenticator({ securityLevel: 'full', authenticator, credentials: () => ({ kind: 'password', password: 'secret' }), trusted: () => false, location, now: () => clock.now() })
      : undefined;
  const optionsAnswered: string[] = [];
  const proxy = new SipProxy(
    { ...OPTIONS, ...o },
    {
      transport,
      layer,
      location,
      local,
      resolver,
      nodeName: 'n1',
      registrarEnabled: true,
      domains: [DOMAIN],
      isLocalDomain: (u) => u.host.toLowerCase() === DOMAIN,
      ...(extra.userExists ? { userExists: (u: string) => extra.userExists!(u) } : {}),
      ...(auth ? { auth } : {}),
      calls,
      flowAlive: (f) => !(extra.deadFlows ?? []).includes(f),
      ...(extra.relaySecret ? { relaySecret: extra.relaySecret } : {}),
      ...(extra.routeToNode ? { routeToNode: extra.routeToNode } : {}),
      ...(extra.registrations ? { registrations: extra.registrations, relayNeeded: () => true } : {}),
      telRouting: { prefixes: extra.prefixes ?? [], domains: [DOMAIN] },
      answerOptions: (tx) => {
        optionsAnswered.push(tx.request.callId);
        tx.reply(200);
      },
    },
  );
  const source = (address = '198.51.100.7', port = 5062, transport: 'UDP' | 'TCP' = 'UDP'): SipSource => ({
    transport,
    address,
    port,
    local: { address: ME, port: 5060 },
    flow: transport === 'UDP' ? `udp:5060:${address}:${port}` : 'tcp-1',
  });
  /** What SipCore does with a request from a transport. */
  function receive(req: SipRequest, src = source()): void {
    const r = wire(req);
    // the transport stamps received/rport
    const top = r.topVia!;
    if (top.params.has('rport') || top.host !== src.address) {
      const params = new Map(top.params);
      params.set('received', src.address);
      if (top.params.has('rport')) params.set('rport', String(src.port));
      r.removeTopVia();
      r.addVia({ ...top, params, received: src.address, rport: top.params.has('rport') ? src.port : undefined });
    }
    if (layer.receiveRequest(r) !== undefined) return;
    if (r.method === 'ACK') {
      proxy.ack(r);
      return;
    }
    const created = layer.createServer(r, { reliable: false, send: (m) => (upstream.push(wire(m as SipResponse)), true) });
    assert.ok(created.ok);
    const tx = created.value;
    if (r.method === 'CANCEL') {
      const invite = layer.matchCancel(r);
      tx.reply(invite !== undefined ? 200 : 481);
      if (invite !== undefined && !invite.answered && !proxy.cancel(invite)) invite.reply(487);
      return;
    }
    if (r.method === 'REGISTER') proxy.register(r, tx, src);
    else proxy.handle(r, tx, src);
  }
  /** A downstream element answers a request the proxy sent. */
  function answer(to: SipRequest, status: number, opts: Parameters<typeof createResponse>[2] = {}): SipResponse {
    const res = wire(createResponse(to, status, { toTag: 'callee', copyRecordRoute: status < 300 && status > 100, ...opts }));
    if (!layer.receiveResponse(res)) proxy.strayResponse(res);
    return res;
  }
  async function register(user: string, contact: string, d: Partial<ContactBindingData> = {}): Promise<void> {
    await location.update(`sip:${user}@${DOMAIN}`, {
      upsert: [{ aor: `sip:${user}@${DOMAIN}`, contact, expiresAt: clock.now() + 3_600_000, q: 1, node: 'n1', callId: 'reg', cseq: 1, transport: 'UDP', ...d }],
      remove: [],
    });
  }
  const requests = (method: string) => sent.filter((s) => s.msg.kind === 'request' && s.msg.method === method) as Array<{ msg: SipRequest; hop: Hop }>;
  return { clock, layer, location, sent, upstream, proxy, calls, resolver, receive, answer, register, requests, source, optionsAnswered };
}

function invite(o: { to?: string; uri?: string; from?: string; callId?: string; route?: string[]; maxForwards?: number; headers?: Array<[string, string]> } = {}): SipRequest {
  return createRequest({
    method: 'INVITE',
    uri: o.uri ?? `sip:bob@${DOMAIN}`,
    from: { uri: o.from ?? `sip:alice@${DOMAIN}`, tag: 'caller' },
    to: { uri: o.to ?? `sip:bob@${DOMAIN}` },
    via: { transport: 'UDP', host: '198.51.100.7', port: 5062, rport: true },
    callId: o.callId ?? 'call-1',
    cseq: 1,
    ...(o.maxForwards !== undefined ? { maxForwards: o.maxForwards } : {}),
    contact: '<sip:alice@198.51.100.7:5062>',
    ...(o.route ? { route: o.route } : {}),
    ...(o.headers ? { headers: o.headers } : {}),
    body: 'v=0\r\n',
    contentType: 'application/sdp',
  });
}

/** An in-dialog request of the callee towards the caller, along the route set of a 2xx. */
function fromCallee(method: string, ok: SipResponse, uri: string, cseq = 1): SipRequest {
  return createRequest({
    method,
    uri,
    from: { uri: `sip:bob@${DOMAIN}`, tag: 'callee' },
    to: { uri: `sip:alice@${DOMAIN}`, tag: 'caller' },
    via: { transport: 'UDP', host: '203.0.113.5', port: 5070 },
    callId: ok.callId,
    cseq,
    route: ok.headerValues('record-route'),
  });
}

describe('the proxy forwards a call to a registered user', () => {
  it('record-routes, adds its Via with rport, decrements Max-Forwards, relays 180/200 and routes ACK and BYE by the route set', async () => {
    const h = setup();
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    h.receive(invite());
    const [fwd] = h.requests('INVITE');
    assert.ok(fwd, 'forwarded');
    assert.deepEqual(fwd.hop, { transport: 'UDP', address: '203.0.113.5', port: 5070 });
    const inv = fwd.msg;
    assert.equal(inv.requestUri, 'sip:bob@203.0.113.5:5070');
    assert.equal(inv.maxForwards, 69);
    assert.equal(inv.vias.length, 2);
    assert.equal(inv.topVia!.host, ME);
    assert.ok(inv.topVia!.branch!.startsWith(BRANCH_PREFIX));
    assert.equal(inv.topVia!.rport, null);
    assert.equal(inv.vias[1].received, '198.51.100.7');
    assert.equal(inv.vias[1].rport, 5062);
    assert.deepEqual(inv.headerValues('record-route'), [`<sip:${ME}:5060;lr;ftag=caller>`]);
    assert.equal(inv.body.toString(), 'v=0\r\n');
    h.answer(inv, 180);
    h.answer(inv, 200);
    assert.deepEqual(
      h.upstream.map((r) => r.status),
      [180, 200],
    );
    const ok = h.upstream[1];
    assert.equal(ok.vias.length, 1, 'the proxy Via is removed');
    assert.deepEqual(ok.headerValues('record-route'), [`<sip:${ME}:5060;lr;ftag=caller>`]);
    assert.deepEqual(h.calls.events, [`started sip:bob@${DOMAIN} 203.0.113.5 local`, 'answered']);
    // the caller's ACK and BYE follow the route set (Route: the proxy; Request-URI: the callee's contact)
    const ack = createRequest({
      method: 'ACK',
      uri: 'sip:bob@203.0.113.5:5070',
      from: { uri: `sip:alice@${DOMAIN}`, tag: 'caller' },
      to: { uri: `sip:bob@${DOMAIN}`, tag: 'callee' },
      via: { transport: 'UDP', host: '198.51.100.7', port: 5062 },
      callId: 'call-1',
      cseq: 1,
      route: [`<sip:${ME}:5060;lr;ftag=caller>`],
    });
    h.receive(ack);
    const [fack] = h.requests('ACK');
    assert.ok(fack);
    assert.equal(fack.msg.hasHeader('route'), false, 'its own Route is removed');
    assert.equal(fack.hop.address, '203.0.113.5');
    assert.equal(fack.msg.vias.length, 2);
    // the callee hangs up
    h.receive(fromCallee('BYE', ok, 'sip:alice@198.51.100.7:5062', 2), h.source('203.0.113.5', 5070));
    const [bye] = h.requests('BYE');
    assert.ok(bye);
    assert.equal(bye.msg.requestUri, 'sip:alice@198.51.100.7:5062');
    assert.deepEqual(bye.hop, { transport: 'UDP', address: '198.51.100.7', port: 5062 });
    h.answer(bye.msg, 200);
    assert.equal(h.upstream.at(-1)!.status, 200);
    assert.deepEqual(h.calls.events.slice(2), ['ack', 'bye']);
  });

  it('answers 480 for a user registered nowhere and 404 for a user that does not exist', () => {
    const h = setup({}, { userExists: (u) => (u === 'ghost' ? { kind: 'unknown-user' } : { kind: 'password', password: 'x' }) });
    h.receive(invite());
    assert.equal(h.upstream.at(-1)!.status, 480);
    h.receive(invite({ uri: `sip:ghost@${DOMAIN}`, to: `sip:ghost@${DOMAIN}`, callId: 'call-2' }));
    assert.equal(h.upstream.at(-1)!.status, 404);
    assert.deepEqual(h.calls.events, ['refused 480 -', 'refused 404 -']);
    assert.equal(h.sent.length, 0);
  });

  it('refuses Max-Forwards 0 with 483, answers OPTIONS to itself, and detects a loop with 482', async () => {
    const h = setup();
    h.receive(invite({ maxForwards: 0 }));
    assert.equal(h.upstream.at(-1)!.status, 483);
    const opts = createRequest({ method: 'OPTIONS', uri: `sip:${ME}`, from: { uri: `sip:alice@${DOMAIN}` }, to: { uri: `sip:${ME}` }, via: { transport: 'UDP', host: '198.51.100.7', port: 5062 }, callId: 'o1', maxForwards: 0 });
    h.receive(opts);
    assert.deepEqual(h.optionsAnswered, ['o1']);
    // the same request coming back with this proxy's Via: a loop
    const looping = invite({ callId: 'loop' });
    const hash = loopHash(wire(looping));
    looping.addVia(`SIP/2.0/UDP ${ME}:5060;branch=${BRANCH_PREFIX}${hash}.abc`);
    looping.addVia('SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKother');
    h.receive(looping, h.source('198.51.100.9', 5060));
    assert.equal(h.upstream.at(-1)!.status, 482);
    // with another Request-URI it is a spiral, not a loop
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    const spiral = invite({ callId: 'spiral' });
    spiral.addVia(`SIP/2.0/UDP ${ME}:5060;branch=${BRANCH_PREFIX}00000000.abc`);
    h.receive(spiral, h.source('198.51.100.9', 5060));
    assert.equal(h.requests('INVITE').length, 1);
  });
});

describe('forking', () => {
  it('forks in parallel, forwards the first 2xx and cancels the other branch after its provisional response', async () => {
    const h = setup();
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    await h.register('bob', 'sip:bob@203.0.113.6:5070', { q: 0.5 });
    h.receive(invite());
    const [a, b] = h.requests('INVITE');
    assert.ok(a && b);
    assert.notEqual(a.msg.topVia!.branch, b.msg.topVia!.branch);
    h.answer(b.msg, 180, { toTag: 'b' });
    h.answer(a.msg, 200, { toTag: 'a' });
    const cancels = h.requests('CANCEL');
    assert.equal(cancels.length, 1);
    assert.equal(cancels[0].hop.address, '203.0.113.6');
    assert.equal(cancels[0].msg.topVia!.branch, b.msg.topVia!.branch);
    assert.match(cancels[0].msg.header('reason') ?? '', /cause=200/);
    h.answer(cancels[0].msg, 200);
    h.answer(b.msg, 487, { toTag: 'b' });
    assert.deepEqual(
      h.upstream.map((r) => r.status),
      [180, 200],
    );
    assert.equal(h.proxy.size, 0);
  });

  it('chooses the best final response: 486 over 404, and a 6xx ends the forking', async () => {
    const h = setup();
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    await h.register('bob', 'sip:bob@203.0.113.6:5070');
    h.receive(invite());
    const [a, b] = h.requests('INVITE');
    h.answer(a.msg, 404, { toTag: 'a' });
    assert.equal(h.upstream.length, 0, 'waits for every branch');
    h.answer(b.msg, 486, { toTag: 'b' });
    assert.equal(h.upstream.at(-1)!.status, 486);
    assert.deepEqual(h.calls.events.at(-1), 'failed 486 local-user -');

    const h2 = setup();
    await h2.register('bob', 'sip:bob@203.0.113.5:5070');
    await h2.register('bob', 'sip:bob@203.0.113.6:5070');
    h2.receive(invite());
    const [c, d] = h2.requests('INVITE');
    h2.answer(d.msg, 180, { toTag: 'd' });
    h2.answer(c.msg, 603, { toTag: 'c' });
    assert.equal(h2.requests('CANCEL').length, 1, 'the other branch is cancelled');
    h2.answer(d.msg, 487, { toTag: 'd' });
    assert.deepEqual(
      h2.upstream.map((r) => r.status),
      [180, 603],
    );
  });

  it('forks sequentially by q-value, moving on after the sequential forking time', async () => {
    const h = setup({ forking: 'sequential', sequentialForkingTimeMs: 5000 });
    await h.register('bob', 'sip:bob@203.0.113.6:5070', { q: 0.5 });
    await h.register('bob', 'sip:bob@203.0.113.5:5070', { q: 1 });
    h.receive(invite());
    assert.equal(h.requests('INVITE').length, 1);
    const first = h.requests('INVITE')[0];
    assert.equal(first.hop.address, '203.0.113.5', 'best q first');
    h.answer(first.msg, 180, { toTag: 'a' });
    h.clock.advance(4999);
    assert.equal(h.requests('INVITE').length, 1);
    h.clock.advance(1);
    assert.equal(h.requests('CANCEL').length, 1, 'the first contact rang long enough');
    const second = h.requests('INVITE')[1];
    assert.equal(second.hop.address, '203.0.113.6');
    h.answer(first.msg, 487, { toTag: 'a' });
    h.answer(second.msg, 200, { toTag: 'b' });
    assert.deepEqual(
      h.upstream.map((r) => r.status),
      [180, 200],
    );
  });

  it('moves to the next contact at once when one fails', async () => {
    const h = setup({ forking: 'sequential' });
    await h.register('bob', 'sip:bob@203.0.113.5:5070', { q: 1 });
    await h.register('bob', 'sip:bob@203.0.113.6:5070', { q: 0.5 });
    h.receive(invite());
    h.answer(h.requests('INVITE')[0].msg, 480, { toTag: 'a' });
    assert.equal(h.requests('INVITE').length, 2);
    h.answer(h.requests('INVITE')[1].msg, 486, { toTag: 'b' });
    assert.equal(h.upstream.at(-1)!.status, 486);
  });
});

describe('redirects', () => {
  it('recurses on a 3xx: the contacts become targets and the 3xx is not passed on', async () => {
    const h = setup();
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    h.receive(invite());
    const [a] = h.requests('INVITE');
    h.answer(a.msg, 302, { toTag: 'a', headers: [['Contact', '<sip:carol@203.0.113.9:5080>']] });
    const [, b] = h.requests('INVITE');
    assert.ok(b, 'follows the redirect');
    assert.equal(b.msg.requestUri, 'sip:carol@203.0.113.9:5080');
    assert.equal(b.hop.address, '203.0.113.9');
    h.answer(b.msg, 200, { toTag: 'b' });
    assert.deepEqual(
      h.upstream.map((r) => r.status),
      [200],
    );
  });

  it('passes the 3xx upstream when recursion is off', async () => {
    const h = setup({ recurseOnRedirect: false });
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    h.receive(invite());
    h.answer(h.requests('INVITE')[0].msg, 302, { toTag: 'a', headers: [['Contact', '<sip:carol@203.0.113.9:5080>']] });
    assert.equal(h.requests('INVITE').length, 1);
    assert.equal(h.upstream.at(-1)!.status, 302);
    assert.deepEqual(h.upstream.at(-1)!.headerValues('contact'), ['<sip:carol@203.0.113.9:5080>']);
    assert.equal(h.calls.events.at(-1), 'failed 302 local-user -');
  });

  it('in redirect mode answers a request between external parties 302 with its target', () => {
    const h = setup({ mode: 'redirect' });
    h.receive(invite({ uri: 'sip:dave@198.51.100.50', to: 'sip:dave@198.51.100.50', from: 'sip:erin@elsewhere.org' }));
    const r = h.upstream.at(-1)!;
    assert.equal(r.status, 302);
    assert.deepEqual(r.headerValues('contact'), ['<sip:dave@198.51.100.50>']);
    assert.equal(h.sent.length, 0);
  });

  it('in forward mode forwards it to the Request-URI, and a local caller is always forwarded', () => {
    const h = setup();
    h.receive(invite({ uri: 'sip:dave@198.51.100.50', to: 'sip:dave@198.51.100.50', from: 'sip:erin@elsewhere.org' }));
    assert.equal(h.requests('INVITE')[0].hop.address, '198.51.100.50');
    const r = setup({ mode: 'redirect' });
    r.receive(invite({ uri: 'sip:dave@198.51.100.50', to: 'sip:dave@198.51.100.50' }));
    assert.equal(r.requests('INVITE').length, 1, 'from a local user');
  });
});

describe('CANCEL and timers', () => {
  it('cancels the branches on the caller CANCEL and answers the INVITE with the 487 that comes back', async () => {
    const h = setup();
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    const inv = invite();
    h.receive(inv);
    const [a] = h.requests('INVITE');
    h.answer(a.msg, 180);
    const cancel = createRequest({
      method: 'CANCEL',
      uri: inv.requestUri,
      from: { uri: `sip:alice@${DOMAIN}`, tag: 'caller' },
      to: { uri: `sip:bob@${DOMAIN}` },
      via: { transport: 'UDP', host: '198.51.100.7', port: 5062, branch: inv.topVia!.branch!, rport: true },
      callId: 'call-1',
      cseq: 1,
    });
    h.receive(cancel);
    assert.equal(h.upstream.at(-1)!.status, 200, 'the CANCEL is answered');
    const [c] = h.requests('CANCEL');
    assert.ok(c, 'the branch is cancelled');
    h.answer(c.msg, 200);
    h.answer(a.msg, 487);
    assert.deepEqual(
      h.upstream.filter((r) => r.cseq.method === 'INVITE').map((r) => r.status),
      [180, 487],
    );
    assert.equal(h.calls.events.at(-1), 'failed 487 local-user cancelled');
  });

  it('answers 408 when a branch never answers (timer B), and cancels a ringing branch at timer C', async () => {
    const h = setup();
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    h.receive(invite());
    h.clock.advance(32_000);
    assert.equal(h.upstream.at(-1)!.status, 408);
    assert.equal(h.calls.events.at(-1), 'failed 408 local-user timeout');

    const c = setup({ timerCMs: 181_000 });
    await c.register('bob', 'sip:bob@203.0.113.5:5070');
    c.receive(invite());
    c.answer(c.requests('INVITE')[0].msg, 180);
    c.clock.advance(181_000);
    assert.equal(c.requests('CANCEL').length, 1);
  });

  it('refuses an INVITE over the max concurrent calls with 503', async () => {
    const h = setup();
    h.calls.max = 0;
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    h.receive(invite());
    assert.equal(h.upstream.at(-1)!.status, 503);
    assert.equal(h.upstream.at(-1)!.reason, 'Maximum Calls Reached');
    assert.equal(h.calls.events.at(-1), 'refused 503 max-calls');
    assert.equal(h.sent.length, 0);
  });
});

describe('routing', () => {
  it('follows a loose route set beyond itself without retargeting, and converts for a strict next hop', () => {
    const h = setup();
    h.receive(invite({ route: [`<sip:${ME};lr>`, '<sip:198.51.100.60;lr>'] }));
    const [a] = h.requests('INVITE');
    assert.equal(a.hop.address, '198.51.100.60');
    assert.equal(a.msg.requestUri, `sip:bob@${DOMAIN}`);
    assert.deepEqual(a.msg.headerValues('route'), ['<sip:198.51.100.60;lr>']);
    h.receive(invite({ callId: 'c2', route: [`<sip:${ME};lr>`, '<sip:198.51.100.61>', '<sip:198.51.100.62;lr>'] }));
    const [, b] = h.requests('INVITE');
    assert.equal(b.msg.requestUri, 'sip:198.51.100.61');
    assert.equal(b.hop.address, '198.51.100.61');
    assert.deepEqual(b.msg.listValues('route'), ['<sip:198.51.100.62;lr>', `<sip:bob@${DOMAIN}>`]);
  });

  it('restores the Request-URI a strict router replaced with its Record-Route (16.4)', () => {
    const h = setup();
    const bye = createRequest({
      method: 'BYE',
      uri: `sip:${ME}:5060;lr;ftag=caller`,
      from: { uri: `sip:alice@${DOMAIN}`, tag: 'caller' },
      to: { uri: `sip:bob@${DOMAIN}`, tag: 'callee' },
      via: { transport: 'UDP', host: '198.51.100.7', port: 5062 },
      callId: 'strict',
      route: ['<sip:bob@203.0.113.5:5070>'],
    });
    h.receive(bye);
    const [b] = h.requests('BYE');
    assert.ok(b);
    assert.equal(b.msg.requestUri, 'sip:bob@203.0.113.5:5070');
    assert.equal(b.msg.hasHeader('route'), false);
    assert.equal(b.hop.address, '203.0.113.5');
  });

  it('sends to a registered client behind NAT on its public address and records the flow for in-dialog requests', async () => {
    const h = setup();
    await h.register('bob', 'sip:bob@10.0.0.5:5070', { received: '203.0.113.77:40001', behindNat: true });
    h.receive(invite());
    const [a] = h.requests('INVITE');
    assert.deepEqual(a.hop, { transport: 'UDP', address: '203.0.113.77', port: 40001 });
    assert.equal(a.msg.requestUri, 'sip:bob@10.0.0.5:5070');
    const rr = a.msg.headerValues('record-route')[0];
    assert.match(rr, /;tvd=udp~203\.0\.113\.77~40001~s/);
    h.answer(a.msg, 200);
    // the caller's BYE to the private contact goes to the NAT binding
    const bye = createRequest({
      method: 'BYE',
      uri: 'sip:bob@10.0.0.5:5070',
      from: { uri: `sip:alice@${DOMAIN}`, tag: 'caller' },
      to: { uri: `sip:bob@${DOMAIN}`, tag: 'callee' },
      via: { transport: 'UDP', host: '198.51.100.7', port: 5062 },
      callId: 'call-1',
      cseq: 2,
      route: [rr],
    });
    h.receive(bye);
    assert.deepEqual(h.requests('BYE')[0].hop, { transport: 'UDP', address: '203.0.113.77', port: 40001 });
  });

  it('double record-routes when the callee is reached on another transport', async () => {
    const h = setup();
    await h.register('bob', 'sip:bob@203.0.113.5:5070;transport=tcp', { transport: 'TCP', received: '203.0.113.5:50123' });
    h.receive(invite());
    const [a] = h.requests('INVITE');
    assert.deepEqual(a.hop, { transport: 'TCP', address: '203.0.113.5', port: 50123 });
    const rr = a.msg.headerValues('record-route');
    assert.equal(rr.length, 2);
    assert.match(rr[0], new RegExp(`^<sip:${ME}:5060;transport=tcp;lr;`));
    assert.match(rr[1], new RegExp(`^<sip:${ME}:5060;lr;`));
    assert.equal(a.msg.topVia!.transport, 'TCP');
  });

  it('answers 430 for an outbound binding whose flow is gone', async () => {
    const h = setup({}, { deadFlows: ['tcp-9'] });
    await h.register('bob', 'sip:bob@203.0.113.5:5070;transport=tcp', { transport: 'TCP', received: '203.0.113.5:50123', flow: 'tcp-9', instance: '<urn:uuid:1>', regId: 1 });
    h.receive(invite());
    assert.equal(h.upstream.at(-1)!.status, 430);
    assert.equal(h.calls.events.at(-1), 'failed 430 here flow-failed');
  });

  it('routes requests of non-local users to their home proxy when home routing is on', () => {
    const h = setup({ homeRouting: true, homeProxy: '198.51.100.80:5070' });
    h.receive(invite({ uri: 'sip:dave@198.51.100.50', to: 'sip:dave@198.51.100.50', from: 'sip:erin@elsewhere.org' }));
    const [a] = h.requests('INVITE');
    assert.deepEqual(a.hop, { transport: 'UDP', address: '198.51.100.80', port: 5070 });
    assert.equal(a.msg.requestUri, 'sip:dave@198.51.100.50');
    assert.deepEqual(a.msg.headerValues('route'), ['<sip:198.51.100.80:5070;lr>']);
  });

  it('tries the next server of a domain on a transport error and on 503 (RFC 3263)', async () => {
    const h = setup({}, { failTo: '198.51.100.91' });
    h.resolver.answers.set('far.example', [
      { transport: 'udp', address: '198.51.100.91', port: 5060 },
      { transport: 'udp', address: '198.51.100.92', port: 5060 },
      { transport: 'udp', address: '198.51.100.93', port: 5060 },
    ]);
    h.receive(invite({ uri: 'sip:zed@far.example', to: 'sip:zed@far.example' }));
    await new Promise((r) => setImmediate(r));
    const [a] = h.requests('INVITE');
    assert.equal(a.hop.address, '198.51.100.92');
    h.answer(a.msg, 503, { toTag: 'x' });
    const [, b] = h.requests('INVITE');
    assert.equal(b.hop.address, '198.51.100.93');
    assert.notEqual(b.msg.topVia!.branch, a.msg.topVia!.branch);
    h.answer(b.msg, 503, { toTag: 'y' });
    assert.equal(h.upstream.at(-1)!.status, 500, 'a 503 is not passed upstream');
    assert.equal(h.calls.events.at(-1), 'failed 503 external -');
  });

  it('forwards a 2xx retransmission that outlived its transaction to the next Via', async () => {
    const h = setup();
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    h.receive(invite());
    const [a] = h.requests('INVITE');
    h.answer(a.msg, 200);
    h.clock.advance(40_000);
    const before = h.sent.length;
    h.answer(a.msg, 200);
    const fwd = h.sent[before];
    assert.ok(fwd, 'forwarded statelessly');
    assert.equal(fwd.msg.kind, 'response');
    assert.deepEqual(fwd.hop, { transport: 'UDP', address: '198.51.100.7', port: 5062 });
  });
});

describe('authentication', () => {
  it('challenges an INVITE with 407 and forwards it with valid credentials, without them', async () => {
    const h = setup({}, { auth: 'full' });
    await h.register('bob', 'sip:bob@203.0.113.5:5070');
    h.receive(invite());
    const challenge = h.upstream.at(-1)!;
    assert.equal(challenge.status, 407);
    assert.equal(h.calls.events.length, 0, 'a challenge is no call');
    const ch = challengesFromHeaders(challenge.headerValues('proxy-authenticate'))[0];
    const cred = computeAuthorization(ch, { username: 'alice', password: 'secret', method: 'INVITE', uri: `sip:bob@${DOMAIN}` });
    assert.ok(cred.ok);
    const again = invite({ headers: [['Proxy-Authorization', serializeDigestCredentials(cred.value)]] });
    again.setHeader('CSeq', '2 INVITE');
    h.receive(again);
    const [a] = h.requests('INVITE');
    assert.ok(a, 'forwarded');
    assert.equal(a.msg.hasHeader('proxy-authorization'), false, 'its own credentials are consumed');
    const bad = computeAuthorization(ch, { username: 'alice', password: 'wrong', method: 'INVITE', uri: `sip:bob@${DOMAIN}` });
    assert.ok(bad.ok);
    h.receive(invite({ callId: 'c3', headers: [['Proxy-Authorization', serializeDigestCredentials(bad.value)]] }));
    assert.equal(h.upstream.at(-1)!.status, 403);
    assert.equal(h.calls.events.at(-1), 'refused 403 auth-failed');
  });

  it('answers an OPTIONS for the node itself without a challenge', () => {
    const h = setup({}, { auth: 'full' });
    h.receive(createRequest({ method: 'OPTIONS', uri: `sip:${ME}`, from: { uri: `sip:alice@${DOMAIN}` }, to: { uri: `sip:${ME}` }, via: { transport: 'UDP', host: '198.51.100.7', port: 5062 }, callId: 'ping' }));
    assert.deepEqual(h.optionsAnswered, ['ping']);
    assert.equal(h.upstream.at(-1)!.status, 200);
  });
});

describe('flows held by another node of the cluster', () => {
  const secret = Buffer.from('cluster relay secret');

  it('routes a call for a client behind NAT on another node through that node, with a signed flow token', async () => {
    const h = setup({}, { relaySecret: secret, routeToNode: (node, flow) => (node === 'n2' ? `<sip:198.51.100.200:5060;transport=tcp;lr;tvf=${encodeFlowToken(flow)}>` : undefined) });
    await h.register('bob', 'sip:bob@10.0.0.5:5070', { node: 'n2', received: '203.0.113.77:40001', behindNat: true });
    h.receive(invite());
    const [a] = h.requests('INVITE');
    assert.deepEqual(a.hop, { transport: 'TCP', address: '198.51.100.200', port: 5060 });
    const route = a.msg.headerValues('route')[0];
    const flow: FlowToken = { transport: 'UDP', address: '203.0.113.77', port: 40001, strict: true };
    assert.equal(route, `<sip:198.51.100.200:5060;transport=tcp;lr;tvf=${encodeFlowToken(flow)}~${flowTokenMac(flow, secret)}>`);
    assert.equal(a.msg.requestUri, 'sip:bob@10.0.0.5:5070');
  });

  it('answers 430 when the node holding the flow is gone', async () => {
    const h = setup({}, { relaySecret: secret, routeToNode: () => undefined });
    await h.register('bob', 'sip:bob@10.0.0.5:5070', { node: 'n2', received: '203.0.113.77:40001', behindNat: true });
    h.receive(invite());
    assert.equal(h.upstream.at(-1)!.status, 430);
  });

  it('sends a relayed request to the flow without authenticating it again or counting a call; a forged token is not trusted', () => {
    const h = setup({}, { auth: 'full', relaySecret: secret });
    const flow: FlowToken = { transport: 'UDP', address: '203.0.113.77', port: 40001, strict: true };
    const signed = `${encodeFlowToken(flow)}~${flowTokenMac(flow, secret)}`;
    h.receive(invite({ uri: 'sip:bob@10.0.0.5:5070', route: [`<sip:${ME};lr;tvf=${signed}>`] }), h.source('198.51.100.200', 5060));
    const [a] = h.requests('INVITE');
    assert.ok(a, `forwarded: ${h.upstream.map((r) => r.status).join()}`);
    assert.deepEqual(a.hop, { transport: 'UDP', address: '203.0.113.77', port: 40001 });
    assert.match(a.msg.headerValues('record-route')[0], /;tvd=udp~203\.0\.113\.77~40001~s/);
    assert.deepEqual(h.calls.events, [], 'the relaying node follows the call');
    h.receive(invite({ callId: 'forged', uri: 'sip:bob@10.0.0.5:5070', route: [`<sip:${ME};lr;tvf=${encodeFlowToken(flow)}~AAAAAAAAAAAAAAAA>`] }), h.source('198.51.100.201', 5060));
    assert.equal(h.upstream.at(-1)!.status, 407);
    assert.equal(h.requests('INVITE').length, 1);
  });
});

describe('registrations proxied to another domain', () => {
  const secret = Buffer.from('cluster relay secret');
  const REMOTE = 'remote.test';

  function register(o: { user?: string; domain?: string; uri?: string; contact?: string; expires?: number; supported?: string; cseq?: number } = {}): SipRequest {
    const domain = o.domain ?? REMOTE;
    const user = o.user ?? 'alice';
    return createRequest({
      method: 'REGISTER',
      uri: o.uri ?? `sip:${domain}`,
      from: { uri: `sip:${user}@${domain}`, tag: 'reg' },
      to: { uri: `sip:${user}@${domain}` },
      via: { transport: 'UDP', host: '10.0.0.5', port: 5060, rport: true },
      callId: `reg-${user}`,
      cseq: o.cseq ?? 1,
      contact: o.contact ?? `<sip:${user}@10.0.0.5:5060>`,
      headers: [['Expires', String(o.expires ?? 600)], ...(o.supported ? ([['Supported', o.supported]] as Array<[string, string]>) : [])],
    });
  }

  function proxied(policy: string[] = []) {
    const table = new ProxiedRegistrations(() => undefined, () => h.clock.now());
    const h = setup({ domainRegistrationPolicy: policy }, { auth: 'full', relaySecret: secret, registrations: table });
    h.resolver.answers.set(REMOTE, [{ transport: 'udp', address: '203.0.113.9', port: 5060 }]);
    return { ...h, table };
  }
  const tick = () => new Promise((r) => setImmediate(r));
  const clientFlow: FlowToken = { transport: 'UDP', address: '198.51.100.7', port: 5062, strict: true };
  const token = `${encodeFlowToken(clientFlow)}~${flowTokenMac(clientFlow, secret)}`;

  it('forwards a REGISTER for another domain to its registrar with a Path of this node (the UA supports path), unchallenged here; the 2xx makes a proxy registration', async () => {
    const h = proxied();
    h.receive(register({ supported: 'path' }));
    await tick();
    const [a] = h.requests('REGISTER');
    assert.ok(a, `forwarded: ${h.upstream.map((r) => r.status).join()}`);
    assert.deepEqual(a.hop, { transport: 'UDP', address: '203.0.113.9', port: 5060 });
    assert.equal(a.msg.requestUri, `sip:${REMOTE}`);
    assert.deepEqual(a.msg.headerValues('path'), [`<sip:${ME}:5060;lr;tvr=${token}>`]);
    assert.equal(a.msg.header('contact'), '<sip:alice@10.0.0.5:5060>', 'the contact is left alone');
    // the home registrar challenges; the 401 goes to the client
    h.answer(a.msg, 401, { toTag: 'r', headers: [['WWW-Authenticate', 'Digest realm="remote.test", nonce="n1"']] });
    assert.equal(h.upstream.at(-1)!.status, 401);
    assert.equal(h.table.size, 0);
    h.receive(register({ supported: 'path', cseq: 2 }));
    await tick();
    const b = h.requests('REGISTER')[1];
    h.answer(b.msg, 200, { toTag: 'r', headers: [['Contact', '<sip:alice@10.0.0.5:5060>;expires=300'], ['Contact', '<sip:alice@192.0.2.200>;expires=900'], ['Path', b.msg.headerValues('path')[0]]] });
    assert.equal(h.upstream.at(-1)!.status, 200);
    const [e] = h.table.list();
    assert.equal(h.table.size, 1, 'another device of the AOR is not ours');
    assert.equal(e.aor, `sip:alice@${REMOTE}`);
    assert.equal(e.contact, 'sip:alice@10.0.0.5:5060');
    assert.equal(e.publicAddress, '198.51.100.7:5062');
    assert.equal(e.privateAddress, '10.0.0.5:5060');
    assert.equal(e.behindNat, true);
    assert.equal(e.relay, true);
    assert.equal(e.via, 'path');
    assert.equal(e.expiresAt, h.clock.now() + 300_000);
    // unregistering removes it
    h.receive(register({ supported: 'path', cseq: 3, expires: 0 }));
    await tick();
    h.answer(h.requests('REGISTER')[2].msg, 200, { toTag: 'r', headers: [['Contact', '<sip:alice@192.0.2.200>;expires=880']] });
    assert.equal(h.table.size, 0);
  });

  it('rewrites the contacts to this node for a UA without path support, and gives the client its own contacts back in the 2xx', async () => {
    const h = proxied();
    h.receive(register());
    await tick();
    const [a] = h.requests('REGISTER');
    assert.deepEqual(a.msg.headerValues('path'), []);
    const contact = a.msg.contacts();
    assert.ok(contact.ok && !contact.value.star);
    const u = contact.value.contacts[0].uri;
    assert.ok(u.kind === 'sip');
    assert.equal(u.host, ME);
    assert.equal(u.port, 5060);
    assert.equal(u.user, 'alice');
    assert.equal(u.params.get('tvr'), token);
    h.answer(a.msg, 200, { toTag: 'r', headers: [['Contact', `${a.msg.header('contact')};expires=120`]] });
    const ok = h.upstream.at(-1)!;
    assert.equal(ok.status, 200);
    assert.equal(ok.header('contact'), '<sip:alice@10.0.0.5:5060>;expires=120');
    assert.equal(h.table.list()[0]?.via, 'contact');
    // the registrar sends a call to the rewritten contact: it reaches the client's NAT binding, with the client's own contact as Request-URI, not challenged
    h.receive(invite({ uri: formatContactUri(a.msg), to: `sip:alice@${REMOTE}`, from: 'sip:bob@remote.test', callId: 'to-alice' }), h.source('203.0.113.9', 5060));
    const [inv] = h.requests('INVITE');
    assert.ok(inv, `forwarded: ${h.upstream.map((r) => r.status).join()}`);
    assert.deepEqual(inv.hop, { transport: 'UDP', address: '198.51.100.7', port: 5062 });
    assert.equal(inv.msg.requestUri, 'sip:alice@10.0.0.5:5060');
    assert.match(inv.msg.headerValues('record-route')[0], /;tvd=udp~198\.51\.100\.7~5062~s/);
    // the registration expires with what the registrar granted
    h.clock.advance(121_000);
    h.table.tick(h.clock.now());
    assert.equal(h.table.size, 0);
  });

  it('after the client\'s NAT rebinds, a rewritten registration removes the binding the registrar holds under the old flow (refresh and unregister)', async () => {
    const h = proxied();
    const contactsOf = (r: SipRequest) => {
      const c = r.contacts();
      assert.ok(c.ok && !c.value.star);
      return c.value.contacts.map((x) => ({ tvr: x.uri.kind === 'sip' ? x.uri.params.get('tvr') : undefined, expires: x.expires, uri: formatUri(x.uri) }));
    };
    h.receive(register());
    await tick();
    const [a] = h.requests('REGISTER');
    h.answer(a.msg, 200, { toTag: 'r', headers: [['Contact', `${a.msg.header('contact')};expires=600`]] });
    const first = contactsOf(a.msg);
    assert.deepEqual(first.map((c) => c.tvr), [token]);
    // the same flow re-registers: one contact, nothing to remove
    h.receive(register({ cseq: 2 }));
    await tick();
    const b = h.requests('REGISTER')[1];
    assert.deepEqual(contactsOf(b.msg).map((c) => c.tvr), [token]);
    h.answer(b.msg, 200, { toTag: 'r', headers: [['Contact', `${b.msg.header('contact')};expires=600`]] });
    // the NAT rebinds: the refresh comes from another port
    h.receive(register({ cseq: 3 }), h.source('198.51.100.7', 40123));
    await tick();
    const c = h.requests('REGISTER')[2];
    const moved = contactsOf(c.msg);
    assert.equal(moved.length, 2, JSON.stringify(moved));
    assert.notEqual(moved[0].tvr, token, 'the new flow\'s token');
    assert.equal(moved[0].expires, undefined);
    assert.deepEqual({ uri: moved[1].uri, expires: moved[1].expires }, { uri: first[0].uri, expires: 0 }, 'the old binding, to be removed');
    h.answer(c.msg, 200, { toTag: 'r', headers: [['Contact', `<${moved[0].uri}>;expires=600`]] });
    assert.equal(h.upstream.at(-1)!.header('contact'), '<sip:alice@10.0.0.5:5060>;expires=600', 'the client sees its own contact once');
    const [e] = h.table.list();
    assert.equal(h.table.size, 1);
    assert.equal(e.publicAddress, '198.51.100.7:40123');
    // it rebinds again and unregisters: both go, the one of the last flow and the one the registrar holds
    h.receive(register({ cseq: 4, expires: 0 }), h.source('198.51.100.7', 40555));
    await tick();
    const d = h.requests('REGISTER')[3];
    const gone = contactsOf(d.msg);
    assert.equal(gone.length, 2, JSON.stringify(gone));
    assert.equal(gone[1].uri, moved[0].uri);
    assert.equal(gone[1].expires, 0);
    h.answer(d.msg, 200, { toTag: 'r' });
    assert.equal(h.table.size, 0);
  });

  it('delivers a request arriving on its Path to the client on its recorded source; a forged token is challenged like any request', async () => {
    const h = proxied();
    h.receive(invite({ uri: 'sip:alice@10.0.0.5:5060', to: `sip:alice@${REMOTE}`, from: 'sip:bob@remote.test', route: [`<sip:${ME}:5060;lr;tvr=${token}>`] }), h.source('203.0.113.9', 5060));
    const [a] = h.requests('INVITE');
    assert.ok(a, `forwarded: ${h.upstream.map((r) => r.status).join()}`);
    assert.deepEqual(a.hop, { transport: 'UDP', address: '198.51.100.7', port: 5062 });
    assert.equal(a.msg.requestUri, 'sip:alice@10.0.0.5:5060');
    h.receive(invite({ callId: 'forged', uri: 'sip:alice@10.0.0.5:5060', route: [`<sip:${ME}:5060;lr;tvr=${encodeFlowToken(clientFlow)}~AAAAAAAAAAAAAAAA>`] }), h.source('203.0.113.9', 5060));
    assert.equal(h.upstream.at(-1)!.status, 407);
    assert.equal(h.requests('INVITE').length, 1);
  });

  it('refuses a REGISTER for a domain the Domain Registration Policy does not list with 403, sending nothing', async () => {
    const h = proxied(['Remote.Test']);
    h.receive(register({ domain: 'other.test' }));
    await tick();
    assert.equal(h.upstream.at(-1)!.status, 403);
    assert.equal(h.upstream.at(-1)!.reason, 'Domain Not Allowed By Registration Policy');
    assert.equal(h.sent.length, 0);
    h.receive(register());
    await tick();
    assert.equal(h.requests('REGISTER').length, 1, 'a listed domain (case aside) is proxied');
  });

  it('sends REGISTER sip:<this node> to the registrar of the AOR domain, and answers 416 to a REGISTER with a tel: Request-URI', async () => {
    const h = proxied();
    h.receive(register({ uri: `sip:${ME}` }));
    await tick();
    assert.equal(h.requests('REGISTER')[0]?.msg.requestUri, `sip:${REMOTE}`);
    h.receive(register({ uri: 'tel:+4930123', cseq: 2 }));
    assert.equal(h.upstream.at(-1)!.status, 416);
  });
});

describe('tel: Request-URIs (RFC 3966)', () => {
  it('routes a number of a local prefix to the local user sip:<number>@<domain>;user=phone', async () => {
    const h = setup({}, { prefixes: ['+4930'] });
    await h.register('+4930123', 'sip:carol@203.0.113.5:5070');
    h.receive(invite({ uri: 'tel:+49-30-123', to: 'tel:+49-30-123' }));
    const [a] = h.requests('INVITE');
    assert.ok(a, `forwarded: ${h.upstream.map((r) => r.status).join()}`);
    assert.equal(a.msg.requestUri, 'sip:carol@203.0.113.5:5070');
  });

  it('answers 404 No Route to Destination for other numbers, and for local numbers of another phone-context', () => {
    const h = setup({}, { prefixes: ['+4930'] });
    h.receive(invite({ uri: 'tel:+4940123' }));
    assert.equal(h.upstream.at(-1)!.status, 404);
    assert.equal(h.upstream.at(-1)!.reason, 'No Route to Destination');
    h.receive(invite({ callId: 'local', uri: 'tel:+4930555;phone-context=elsewhere.example' }));
    h.receive(invite({ callId: 'ctx', uri: 'tel:4930555;phone-context=elsewhere.example' }));
    assert.deepEqual(h.upstream.slice(-2).map((r) => r.status), [480, 404]);
    assert.equal(h.sent.length, 0);
  });
});

function formatContactUri(r: SipRequest): string {
  const c = r.contacts();
  assert.ok(c.ok && !c.value.star);
  return formatUri(c.value.contacts[0].uri);
}
