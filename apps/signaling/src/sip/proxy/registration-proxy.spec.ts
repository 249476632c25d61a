// The pure parts of registrations proxied to other domains: the Domain Registration Policy, Path
// values and rewritten contacts with their signed flow token, what a registrar's 2xx granted, the
// table of proxied registrations; and tel: URIs of local numbers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequest, createResponse, formatUri, parseUri, type SipUri, type TelUri } from '@traverse/sip';
import {
  ProxiedRegistrations,
  contactKey,
  domainPolicyAllows,
  grantedContacts,
  originalContact,
  pathValue,
  registeredFlow,
  rewrittenContactUri,
  signedToken,
  type ProxiedRegistrationEvent,
  type RegistrationAnswer,
} from './registration-proxy';
import { encodeFlowToken, flowTokenMac, type FlowToken } from './routing';
import { telNumber, telTarget } from './tel';

const sip = (s: string): SipUri => {
  const r = parseUri(s);
  assert.ok(r.ok && r.value.kind === 'sip', s);
  return r.value;
};
const tel = (s: string): TelUri => {
  const r = parseUri(s);
  assert.ok(r.ok && r.value.kind === 'tel', s);
  return r.value;
};

describe('Domain Registration Policy', () => {
  it('lets every domain through when empty', () => {
    assert.equal(domainPolicyAllows([], 'anything.example'), true);
  });
  it('matches listed domains without case or trailing dot, not their subdomains', () => {
    const p = ['Example.NET', 'corp.example.'];
    assert.equal(domainPolicyAllows(p, 'example.net'), true);
    assert.equal(domainPolicyAllows(p, 'EXAMPLE.net.'), true);
    assert.equal(domainPolicyAllows(p, 'corp.example'), true);
    assert.equal(domainPolicyAllows(p, 'sip.example.net'), false);
    assert.equal(domainPolicyAllows(p, 'example.org'), false);
    assert.equal(domainPolicyAllows(p, 'badexample.net'), false);
  });
  it('matches subdomains for *.domain entries, not the domain itself', () => {
    const p = ['*.example.net'];
    assert.equal(domainPolicyAllows(p, 'sip.example.net'), true);
    assert.equal(domainPolicyAllows(p, 'a.b.Example.net'), true);
    assert.equal(domainPolicyAllows(p, 'example.net'), false);
    assert.equal(domainPolicyAllows(p, 'badexample.net'), false);
  });
});

describe('Path values and rewritten contacts', () => {
  const secret = Buffer.from('s');
  const flow: FlowToken = { transport: 'TCP', address: '198.51.100.7', port: 40000, strict: true };
  const token = signedToken(flow, flowTokenMac(flow, secret));

  it('carries the signed flow token; a token whose MAC does not verify is refused', () => {
    assert.equal(pathValue({ host: '192.0.2.1', port: 5060, transport: 'TCP' }, token, false), `<sip:192.0.2.1:5060;transport=tcp;lr;tvr=${token}>`);
    assert.match(pathValue({ host: '[2001:db8::1]', port: 5060, transport: 'UDP' }, token, true), /^<sip:\[2001:db8::1\]:5060;lr;tvr=[^;>]+;ob>$/);
    assert.deepEqual(registeredFlow(token, secret), { ...flow, mac: flowTokenMac(flow, secret) });
    assert.equal(registeredFlow(token, Buffer.from('other')), undefined);
    assert.equal(registeredFlow(encodeFlowToken(flow), secret), undefined);
    assert.equal(registeredFlow('garbage', secret), undefined);
  });

  it('round-trips the original contact through a rewritten one', () => {
    const original = sip('sip:alice@10.0.0.5:5060;transport=tcp;ob');
    const u = rewrittenContactUri(original, { host: '192.0.2.1', port: 5060, transport: 'TCP' }, token);
    assert.equal(u.host, '192.0.2.1');
    assert.equal(u.user, 'alice');
    assert.equal(u.params.get('transport'), 'tcp');
    const back = sip(formatUri(u));
    assert.equal(formatUri(originalContact(back)!), formatUri(original));
    assert.equal(originalContact(sip('sip:alice@192.0.2.1;tvc=!!')), undefined);
    assert.equal(originalContact(sip(`sip:alice@192.0.2.1;tvc=${Buffer.from('mailto:x@y').toString('base64url')}`)), undefined);
  });
});

describe("what a registrar's 2xx granted", () => {
  const req = createRequest({
    method: 'REGISTER',
    uri: 'sip:remote.test',
    from: { uri: 'sip:alice@remote.test', tag: 'a' },
    to: { uri: 'sip:alice@remote.test' },
    via: { transport: 'UDP', host: '10.0.0.5', port: 5060 },
    callId: 'c',
    cseq: 1,
  });
  const mine = [sip('sip:alice@10.0.0.5:5060'), sip('sip:alice@10.0.0.5:5070')];

  it('takes each contact its expires, else the Expires header; contacts it does not list are gone; other devices are not ours', () => {
    const res = createResponse(req, 200, { headers: [['Contact', '<sip:alice@10.0.0.5:5060>;expires=300'], ['Contact', '<sip:alice@192.0.2.200>;expires=900'], ['Expires', '60']] });
    const g = grantedContacts(mine, res, () => undefined);
    assert.deepEqual([...g.entries()].map(([k, v]) => [k, v.expires]), [
      ['sip:alice@10.0.0.5:5060', 300],
      ['sip:alice@10.0.0.5:5070', 0],
    ]);
    const res2 = createResponse(req, 200, { headers: [['Contact', '<sip:alice@10.0.0.5:5070>'], ['Expires', '60']] });
    assert.equal(grantedContacts(mine, res2, () => undefined).get(contactKey(mine[1]))!.expires, 60);
  });

  it('restores rewritten contacts before matching them', () => {
    const res = createResponse(req, 200, { headers: [['Contact', '<sip:alice@192.0.2.1;x=1>;expires=120']] });
    const g = grantedContacts(mine, res, (u) => (u.params.has('x') ? mine[0] : undefined));
    assert.equal(g.get(contactKey(mine[0]))!.expires, 120);
  });
});

describe('the table of proxied registrations', () => {
  function answer(over: Partial<RegistrationAnswer> = {}, expires = 300): RegistrationAnswer {
    return {
      aor: 'sip:alice@remote.test',
      domain: 'remote.test',
      star: false,
      granted: new Map([['sip:alice@10.0.0.5:5060', { uri: sip('sip:alice@10.0.0.5:5060'), expires }]]),
      transport: 'UDP',
      publicAddress: '198.51.100.7:5062',
      privateAddress: '10.0.0.5:5060',
      flow: 'udp:5060:198.51.100.7:5062',
      token: 't',
      behindNat: true,
      via: 'path',
      relay: true,
      ...over,
    };
  }

  it('creates, refreshes (rate: time between registrations), and releases on unregistration, Contact * and expiry, telling the cluster each time', () => {
    let now = 1_000_000;
    const events: ProxiedRegistrationEvent[] = [];
    const t = new ProxiedRegistrations((e) => events.push(e), () => now);
    t.answered(answer());
    assert.deepEqual(events.map((e) => e.type), ['created']);
    const e = t.list()[0];
    assert.equal(e.id, 'proxied sip:alice@remote.test sip:alice@10.0.0.5:5060');
    assert.equal(e.rate, 300);
    assert.equal(e.expiresAt, now + 300_000);
    now += 250_000;
    t.answered(answer());
    assert.equal(t.list()[0].rate, 250);
    assert.equal(t.list()[0].registeredAt, 1_000_000);
    assert.equal(events.at(-1)!.type, 'refreshed');
    t.answered(answer({}, 0));
    assert.equal(t.size, 0);
    const last = events.at(-1)!;
    assert.ok(last.type === 'released' && last.reason === 'unregistered' && last.entry.id === e.id);
    t.answered(answer());
    t.answered(answer({ star: true, granted: new Map() }));
    assert.equal(t.size, 0);
    t.answered(answer());
    now += 299_000;
    t.tick();
    assert.equal(t.size, 1);
    now += 1_000;
    t.tick();
    assert.equal(t.size, 0);
    assert.equal((events.at(-1) as { reason: string }).reason, 'expired');
  });

  it('keeps the NAT binding of a client behind NAT open with a keep-alive on its flow each interval; a closed connection releases it', () => {
    let now = 0;
    const events: ProxiedRegistrationEvent[] = [];
    const t = new ProxiedRegistrations((e) => events.push(e), () => now);
    const pings: string[] = [];
    let open = true;
    let interval = 30_000;
    t.keepAlive = { intervalMs: () => interval, ping: (flow) => (pings.push(flow), open) };
    t.answered(answer({ flow: 'udp-1' }));
    t.answered(answer({ aor: 'sip:bob@remote.test', flow: 'tcp-2', transport: 'TCP', publicAddress: '198.51.100.7:40000' }));
    t.answered(answer({ aor: 'sip:carol@remote.test', flow: 'udp-3', behindNat: false, publicAddress: '198.51.100.8:5060' }));
    now = 29_000;
    t.tick();
    assert.deepEqual(pings, [], 'not before the interval since the registration');
    now = 30_000;
    t.tick();
    assert.deepEqual(pings.sort(), ['tcp-2', 'udp-1'], 'the clients behind NAT, not the one with a public address');
    now = 45_000;
    t.tick();
    assert.equal(pings.length, 2, 'one keep-alive per interval');
    interval = 0;
    now = 70_000;
    t.tick();
    assert.equal(pings.length, 2, 'keep-alives off');
    interval = 30_000;
    open = false;
    t.tick();
    assert.equal(pings.length, 4);
    assert.deepEqual(t.list().map((e) => e.flow).sort(), ['udp-1', 'udp-3'], 'the TCP client whose connection is gone is released; a UDP address stays');
    const last = events.at(-1)!;
    assert.ok(last.type === 'released' && last.reason === 'flow-failed' && last.entry.flow === 'tcp-2');
  });

  it('forgets a client whose connection closed, and knows it by flow address and by registered source', () => {
    const t = new ProxiedRegistrations(() => undefined, () => 0);
    t.answered(answer({ transport: 'TCP', flow: 'tcp-9', publicAddress: '198.51.100.7:40000' }));
    assert.equal(t.byFlowToken({ transport: 'TCP', address: '198.51.100.7', port: 40000, strict: true })?.flow, 'tcp-9');
    assert.equal(t.registeredFrom('sip:alice@remote.test', '198.51.100.7:40000', 'x'), true);
    assert.equal(t.registeredFrom('sip:bob@remote.test', '198.51.100.7:40000', 'tcp-9'), false);
    t.flowClosed('tcp-9');
    assert.equal(t.size, 0);
  });
});

describe('tel: URIs of local numbers', () => {
  const o = { prefixes: ['+4930', '030'], domains: ['Example.com', 'example.org'] };
  it('maps a number of a local prefix (visual separators aside) to sip:<number>@<first domain>;user=phone', () => {
    assert.equal(telNumber(tel('tel:+49-(30)-123.4')), '+49301234');
    assert.equal(formatUri(telTarget(tel('tel:+49-30-1234'), o)!), 'sip:+49301234@example.com;user=phone');
    assert.equal(formatUri(telTarget(tel('tel:0301234;phone-context=example.org'), o)!), 'sip:0301234@example.com;user=phone');
    assert.equal(formatUri(telTarget(tel('tel:0301234'), o)!), 'sip:0301234@example.com;user=phone');
  });
  it('has no target for other numbers, local numbers of another context, or without a local domain', () => {
    assert.equal(telTarget(tel('tel:+4940123'), o), undefined);
    assert.equal(telTarget(tel('tel:0301234;phone-context=other.example'), o), undefined);
    assert.equal(telTarget(tel('tel:+4930123'), { prefixes: ['+4930'], domains: [] }), undefined);
  });
});

describe('security level registration and clients registered through this node', () => {
  it('lets requests from the address a client registered from with another domain through, and challenges others', async () => {
    const { ProxyAuthenticator } = await import('./proxy-auth');
    const { InMemoryLocationService } = await import('../registrar/location-service');
    const { DigestAuthenticator } = await import('@traverse/sip');
    const table = new ProxiedRegistrations(() => undefined, () => 0);
    table.answered({
      aor: 'sip:alice@remote.test',
      domain: 'remote.test',
      star: false,
      granted: new Map([['sip:alice@10.0.0.5:5060', { uri: sip('sip:alice@10.0.0.5:5060'), expires: 300 }]]),
      transport: 'UDP',
      publicAddress: '198.51.100.7:5062',
      flow: 'udp:5060:198.51.100.7:5062',
      token: 't',
      behindNat: true,
      via: 'path',
      relay: true,
    });
    const auth = new ProxyAuthenticator({
      securityLevel: 'registration',
      authenticator: new DigestAuthenticator({ realm: 'example.com', secret: 'k', algorithms: ['MD5'] }),
      credentials: () => ({ kind: 'unknown-user' }),
      trusted: () => false,
      location: new InMemoryLocationService(() => 0),
      registeredThroughProxy: (aor, address, flow) => table.registeredFrom(aor, address, flow, 0),
      now: () => 0,
    });
    const req = createRequest({ method: 'INVITE', uri: 'sip:bob@remote.test', from: { uri: 'sip:alice@remote.test', tag: 'a' }, to: { uri: 'sip:bob@remote.test' }, via: { transport: 'UDP', host: '10.0.0.5', port: 5060 }, callId: 'c', cseq: 1 });
    const src = (address: string, port: number) => ({ transport: 'UDP' as const, address, port, local: { address: '192.0.2.1', port: 5060 }, flow: `udp:5060:${address}:${port}` });
    assert.equal(auth.required(req, src('198.51.100.7', 5062)), false);
    assert.equal(auth.required(req, src('198.51.100.8', 5062)), true);
  });
});
