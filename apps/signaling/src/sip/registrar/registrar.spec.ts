// The registrar (RFC 3261 10.3, RFC 3327, RFC 5626) with the real digest authenticator and the in-memory location service.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  DigestAuthenticator,
  challengesFromHeaders,
  computeAuthorization,
  createRequest,
  parseMessage,
  serializeDigestCredentials,
  type SipRequest,
  type SipResponse,
} from '@traverse/sip';
import { InMemoryLocationService } from './location-service';
import { Registrar, aorFromText, canonicalAor, type RegisterSource, type RegistrarOptions } from './registrar';

const PASSWORD = 'fixed-secret';

function setup(over: Partial<RegistrarOptions> = {}) {
  let now = 1_800_000_000_000;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const location = new InMemoryLocationService(clock.now);
  const authenticator = new DigestAuthenticator({ realm: 'example.com', secret: 'a nonce secret of 32 bytes......', algorithms: ['MD5'] });
  const registrar = new Registrar({
    domains: ['example.com'],
    prefixes: ['+4630'],
    securityLevel: 'full',
    minExpires: 60,
    maxExpires: 3600,
    defaultExpires: 1800,
    rejectAcrossNat: false,
    nodeName: 'n1',
    location,
    authenticator,
    credentials: () => ({ kind: 'password', password: PASSWORD }),
    trusted: (ip) => ip === '192.0.2.99',
    now: clock.now,
    ...over,
  });
  return { registrar, location, clock };
}

let seq = 0;
function register(o: { user?: string; domain?: string; contacts?: string[]; expires?: number; callId?: string; cseq?: number; headers?: Array<[string, string]>; vias?: number } = {}): SipRequest {
  const domain = o.domain ?? 'example.com';
  const user = o.user ?? 'alice';
  const headers: Array<[string, string]> = [...(o.headers ?? [])];
  if (o.expires !== undefined) headers.push(['Expires', String(o.expires)]);
  const r = createRequest({
    method: 'REGISTER',
    uri: `sip:${domain}`,
    from: { uri: `sip:${user}@${domain}` },
    to: { uri: `sip:${user}@${domain}` },
    via: { transport: 'UDP', host: '192.0.2.10', port: 5060 },
    callId: o.callId ?? `call-${++seq}`,
    cseq: o.cseq ?? 1,
    ...(o.contacts !== undefined ? { contact: o.contacts } : { contact: [`<sip:${user}@192.0.2.10:5060>`] }),
    headers,
  });
  for (let i = 1; i < (o.vias ?? 1); i++) r.addVia(`SIP/2.0/UDP proxy${i}.example.net;branch=z9hG4bKproxy${i}${seq}`);
  const p = parseMessage(r.toBuffer());
  assert.ok(p.ok);
  return p.value as SipRequest;
}

const SRC: RegisterSource = { transport: 'UDP', address: '192.0.2.10', port: 5060, flow: 'udp:5060:192.0.2.10:5060', behindNat: false };

/** Sends the request, answers the challenge with the fixed password, returns the final response. */
async function registerWithAuth(registrar: Registrar, make: (cseq: number) => SipRequest, src = SRC, password = PASSWORD, username = 'alice'): Promise<SipResponse> {
  const first = await registrar.register(make(1), src);
  if (first.response.status !== 401) return first.response;
  const ch = challengesFromHeaders(first.response.headerValues('www-authenticate'))[0];
  const req = make(2);
  const creds = computeAuthorization(ch, { username, password, method: 'REGISTER', uri: req.requestUri });
  assert.ok(creds.ok);
  req.addHeader('Authorization', serializeDigestCredentials(creds.value));
  return (await registrar.register(parseAgain(req), src)).response;
}

function parseAgain(r: SipRequest): SipRequest {
  const p = parseMessage(r.toBuffer());
  assert.ok(p.ok);
  return p.value as SipRequest;
}

function contactsOf(res: SipResponse): string[] {
  return res.headerValues('contact');
}

describe('Registrar: authentication', () => {
  it('challenges with 401 and an MD5 digest challenge for the realm, then accepts the fixed password', async () => {
    const { registrar } = setup();
    const first = await registrar.register(register({ expires: 600 }), SRC);
    assert.equal(first.response.status, 401);
    const ch = challengesFromHeaders(first.response.headerValues('www-authenticate'));
    assert.equal(ch.length, 1);
    assert.equal(ch[0].realm, 'example.com');
    assert.equal(ch[0].algorithm, 'MD5');
    const res = await registerWithAuth(registrar, (cseq) => register({ expires: 600, callId: 'c-auth', cseq }));
    assert.equal(res.status, 200);
    assert.deepEqual(contactsOf(res), ['<sip:alice@192.0.2.10:5060>;expires=600']);
    assert.ok(res.header('date'));
  });

  it('refuses a wrong password with 403', async () => {
    const { registrar, location } = setup();
    const res = await registerWithAuth(registrar, (cseq) => register({ callId: 'c-wrong', cseq }), SRC, 'not it');
    assert.equal(res.status, 403);
    assert.equal(location.size, 0);
  });

  it('accepts a stored MD5 HA1 from the provider and refuses an unknown user with 403', async () => {
    const ha1 = createHash('md5').update(`alice:example.com:${PASSWORD}`).digest('hex');
    const { registrar } = setup({ credentials: (user) => (user === 'alice' ? { kind: 'ha1', algorithm: 'MD5', ha1 } : { kind: 'unknown-user' }) });
    assert.equal((await registerWithAuth(registrar, (cseq) => register({ callId: 'c-ha1', cseq }))).status, 200);
    const bob = await registerWithAuth(registrar, (cseq) => register({ user: 'bob', callId: 'c-bob', cseq }), SRC, PASSWORD, 'bob');
    assert.equal(bob.status, 403);
  });

  it("refuses with 403 credentials of another user than the AOR's, and accepts user@domain", async () => {
    const { registrar, location } = setup();
    const other = await registerWithAuth(registrar, (cseq) => register({ callId: 'c-other', cseq }), SRC, PASSWORD, 'mallory');
    assert.equal(other.status, 403);
    assert.equal(location.size, 0);
    const qualified = await registerWithAuth(registrar, (cseq) => register({ callId: 'c-qualified', cseq }), SRC, PASSWORD, 'alice@EXAMPLE.com');
    assert.equal(qualified.status, 200);
  });

  it('answers 503 with Retry-After and stores nothing when the provider is unavailable', async () => {
    const { registrar, location } = setup({ credentials: async () => ({ kind: 'unavailable', reason: 'RADIUS server timed out' }) });
    const res = await registerWithAuth(registrar, (cseq) => register({ callId: 'c-down', cseq }));
    assert.equal(res.status, 503);
    assert.equal(res.header('retry-after'), '5');
    assert.equal(location.size, 0);
  });

  it('challenges again with stale=true when the nonce expired but the password was right', async () => {
    const { registrar, clock } = setup();
    const first = await registrar.register(register(), SRC);
    const ch = challengesFromHeaders(first.response.headerValues('www-authenticate'))[0];
    clock.advance(301_000);
    const req = register({ callId: 'c-stale', cseq: 2 });
    const creds = computeAuthorization(ch, { username: 'alice', password: PASSWORD, method: 'REGISTER', uri: req.requestUri });
    assert.ok(creds.ok);
    req.addHeader('Authorization', serializeDigestCredentials(creds.value));
    const r = await registrar.register(parseAgain(req), SRC);
    assert.equal(r.response.status, 401);
    assert.equal(challengesFromHeaders(r.response.headerValues('www-authenticate'))[0].stale, true);
  });

  it('answers malformed credentials 400', async () => {
    const { registrar } = setup();
    const r = await registrar.register(register({ headers: [['Authorization', 'Digest realm="example.com", username=']] }), SRC);
    assert.equal(r.response.status, 400);
  });

  it('does not challenge with security level none, nor a trusted host', async () => {
    const none = setup({ securityLevel: 'none', authenticator: undefined });
    assert.equal((await none.registrar.register(register(), SRC)).response.status, 200);
    const trusted = setup();
    assert.equal((await trusted.registrar.register(register(), { ...SRC, address: '192.0.2.99' })).response.status, 200);
    assert.equal((await trusted.registrar.register(register(), SRC)).response.status, 401);
  });

  it('gives the 401 of a REGISTER without credentials for sending without a transaction, the same To tag to a retransmission', async () => {
    const { registrar, location } = setup();
    const req = register({ callId: 'c-stateless' });
    const first = registrar.statelessChallenge(req, SRC);
    assert.ok(first !== undefined);
    assert.equal(first.response.status, 401);
    assert.equal(first.aor, 'sip:alice@example.com');
    assert.equal(challengesFromHeaders(first.response.headerValues('www-authenticate'))[0].realm, 'example.com');
    const again = registrar.statelessChallenge(parseAgain(req), SRC);
    assert.equal(again?.response.toTag, first.response.toTag);
    assert.notEqual(registrar.statelessChallenge(register({ callId: 'c-stateless', cseq: 2 }), SRC)?.response.toTag, first.response.toTag);
    assert.equal(location.size, 0);
    // the challenge answered, the REGISTER goes through register()
    const res = await registerWithAuth(registrar, (cseq) => register({ callId: 'c-stateless-2', cseq }));
    assert.equal(res.status, 200);
  });

  it('leaves to register() what is not simply challenged: credentials, a trusted host, level none, a refused request', () => {
    const { registrar } = setup();
    assert.equal(registrar.statelessChallenge(register({ headers: [['Authorization', 'Digest realm="example.com", username="alice"']] }), SRC), undefined);
    assert.equal(registrar.statelessChallenge(register(), { ...SRC, address: '192.0.2.99' }), undefined);
    assert.equal(setup({ securityLevel: 'none', authenticator: undefined }).registrar.statelessChallenge(register(), SRC), undefined);
    assert.equal(registrar.statelessChallenge(register({ domain: 'elsewhere.org' }), SRC), undefined);
    assert.equal(setup({ rejectAcrossNat: true }).registrar.statelessChallenge(register(), { ...SRC, behindNat: true }), undefined);
    assert.equal(registrar.statelessChallenge(register({ headers: [['Require', 'no-such-extension']] }), SRC), undefined);
  });
});

describe('Registrar: bindings', () => {
  const open = () => setup({ securityLevel: 'none' });

  it('applies the default expiry, clamps to the maximum, and refuses below the minimum with 423 + Min-Expires', async () => {
    const { registrar } = open();
    let r = await registrar.register(register({ user: 'd' }), SRC);
    assert.deepEqual(contactsOf(r.response), ['<sip:d@192.0.2.10:5060>;expires=1800']);
    r = await registrar.register(register({ user: 'm', expires: 99999 }), SRC);
    assert.deepEqual(contactsOf(r.response), ['<sip:m@192.0.2.10:5060>;expires=3600']);
    r = await registrar.register(register({ user: 's', expires: 30 }), SRC);
    assert.equal(r.response.status, 423);
    assert.equal(r.response.header('min-expires'), '60');
    r = await registrar.register(register({ user: 's', contacts: ['<sip:s@192.0.2.10>;expires=59'], expires: 600 }), SRC);
    assert.equal(r.response.status, 423, 'the contact expires parameter wins over the header');
  });

  it('keeps several contacts with q-values, best first, each with its own expiry', async () => {
    const { registrar, location } = open();
    const r = await registrar.register(register({ contacts: ['<sip:a@192.0.2.10:5070>;q=0.3', '<sip:a@192.0.2.11:5060>;q=0.9;expires=120'], expires: 600 }), SRC);
    assert.equal(r.response.status, 200);
    assert.deepEqual(contactsOf(r.response), ['<sip:a@192.0.2.11:5060>;expires=120;q=0.9', '<sip:a@192.0.2.10:5070>;expires=600;q=0.3']);
    assert.equal(location.lookup('sip:alice@example.com').length, 2);
  });

  it('removes one contact with expires=0 and all with Contact: * and Expires: 0', async () => {
    const { registrar, location } = open();
    await registrar.register(register({ callId: 'x', cseq: 1, contacts: ['<sip:a@192.0.2.1>', '<sip:a@192.0.2.2>', '<sip:a@192.0.2.3>'] }), SRC);
    let r = await registrar.register(register({ callId: 'x', cseq: 2, contacts: ['<sip:a@192.0.2.2>;expires=0'] }), SRC);
    assert.deepEqual(
      contactsOf(r.response)
        .map((c) => c.split(';')[0])
        .sort(),
      ['<sip:a@192.0.2.1>', '<sip:a@192.0.2.3>'],
    );
    assert.equal(location.lookup('sip:alice@example.com').length, 2);
    r = await registrar.register(register({ callId: 'x', cseq: 3, contacts: ['*'], expires: 0 }), SRC);
    assert.equal(r.response.status, 200);
    assert.deepEqual(contactsOf(r.response), []);
    assert.equal(location.size, 0);
  });

  it('refuses Contact: * without Expires: 0 with 400', async () => {
    const { registrar } = open();
    const r = await registrar.register(register({ contacts: ['*'], expires: 60 }), SRC);
    assert.equal(r.response.status, 400);
  });

  it('refreshes with a higher CSeq, refuses an older CSeq of the same Call-ID, and lets another Call-ID replace', async () => {
    const { registrar, location, clock } = open();
    await registrar.register(register({ callId: 'r', cseq: 5, expires: 600 }), SRC);
    const first = location.lookup('sip:alice@example.com')[0];
    clock.advance(10_000);
    assert.equal((await registrar.register(register({ callId: 'r', cseq: 6, expires: 600 }), SRC)).response.status, 200);
    const refreshed = location.lookup('sip:alice@example.com')[0];
    assert.equal(refreshed.registeredAt, first.registeredAt);
    assert.equal(refreshed.updatedAt, first.updatedAt + 10_000);
    assert.equal((await registrar.register(register({ callId: 'r', cseq: 6, expires: 600 }), SRC)).response.status, 400);
    assert.equal((await registrar.register(register({ callId: 'other', cseq: 1, expires: 600 }), SRC)).response.status, 200);
    assert.equal(location.lookup('sip:alice@example.com')[0].callId, 'other');
    assert.equal(location.size, 1);
  });

  it('answers a query (no Contact) with the current bindings', async () => {
    const { registrar } = open();
    await registrar.register(register({ expires: 600 }), SRC);
    const r = await registrar.register(register({ contacts: [] }), SRC);
    assert.equal(r.response.status, 200);
    assert.deepEqual(contactsOf(r.response), ['<sip:alice@192.0.2.10:5060>;expires=600']);
  });

  it('stores Path and echoes it when the UA supports path (RFC 3327)', async () => {
    const { registrar, location } = open();
    const r = await registrar.register(register({ vias: 2, headers: [['Path', '<sip:edge.example.net;lr>'], ['Supported', 'path']] }), SRC);
    assert.equal(r.response.status, 200);
    assert.deepEqual(r.response.headerValues('path'), ['<sip:edge.example.net;lr>']);
    assert.deepEqual(location.lookup('sip:alice@example.com')[0].path, ['<sip:edge.example.net;lr>']);
  });

  it('records the flow of an RFC 5626 registration on the first hop and requires outbound', async () => {
    const { registrar, location } = open();
    const inst = '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>';
    const r = await registrar.register(
      register({ contacts: [`<sip:alice@192.0.2.10;ob>;+sip.instance="${inst}";reg-id=1`], headers: [['Supported', 'outbound, path']] }),
      { ...SRC, transport: 'TCP', flow: 'tcp-7' },
    );
    assert.equal(r.response.status, 200);
    assert.equal(r.response.header('require'), 'outbound');
    const b = location.lookup('sip:alice@example.com')[0];
    assert.equal(b.instance, inst);
    assert.equal(b.regId, 1);
    assert.equal(b.flow, 'tcp-7');
    assert.equal(b.key, `${inst}#1`);
    assert.match(contactsOf(r.response)[0], /;\+sip\.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1$/);
    // the same instance and reg-id from a new contact replaces the binding
    await registrar.register(register({ callId: 'n', contacts: [`<sip:alice@198.51.100.1;ob>;+sip.instance="${inst}";reg-id=1`] }), { ...SRC, flow: 'tcp-8' });
    assert.equal(location.size, 1);
    assert.equal(location.lookup('sip:alice@example.com')[0].flow, 'tcp-8');
  });

  it('refuses reg-id behind a proxy without an outbound Path with 439, and accepts it with one', async () => {
    const { registrar } = open();
    const contact = '<sip:alice@192.0.2.10>;+sip.instance="<urn:uuid:1>";reg-id=1';
    let r = await registrar.register(register({ vias: 2, contacts: [contact] }), SRC);
    assert.equal(r.response.status, 439);
    r = await registrar.register(register({ vias: 2, contacts: [contact], headers: [['Path', '<sip:edge.example.net;lr;ob>']] }), SRC);
    assert.equal(r.response.status, 200);
  });

  it('serves only local domains and local number prefixes', async () => {
    const { registrar } = open();
    assert.equal((await registrar.register(register({ domain: 'elsewhere.org' }), SRC)).response.status, 403);
    assert.equal((await registrar.register(register({ domain: 'elsewhere.org', user: '+46301234' }), SRC)).response.status, 200);
    assert.equal((await registrar.register(register({ domain: 'EXAMPLE.com' }), SRC)).response.status, 200);
    const any = setup({ securityLevel: 'none', domains: [] });
    assert.equal((await any.registrar.register(register({ domain: 'elsewhere.org' }), SRC)).response.status, 200);
  });

  it('rejects registrations across NAT when told to', async () => {
    const { registrar } = setup({ securityLevel: 'none', rejectAcrossNat: true });
    assert.equal((await registrar.register(register(), { ...SRC, behindNat: true })).response.status, 403);
    assert.equal((await registrar.register(register(), SRC)).response.status, 200);
  });

  it('answers 420 with Unsupported for a required extension it lacks', async () => {
    const { registrar } = open();
    const r = await registrar.register(register({ headers: [['Require', 'gruu, path']] }), SRC);
    assert.equal(r.response.status, 420);
    assert.equal(r.response.header('unsupported'), 'gruu');
  });

  it('answers 400 for a bad Contact or Expires', async () => {
    const { registrar } = open();
    assert.equal((await registrar.register(register({ contacts: ['<sip:a@b>;expires=abc'] }), SRC)).response.status, 400);
    assert.equal((await registrar.register(register({ headers: [['Expires', 'soon']] }), SRC)).response.status, 400);
    // port 0 names no port: such a binding could never be reached
    const zero = await registrar.register(register({ contacts: ['<sip:a@192.0.2.10:0>'] }), SRC);
    assert.equal(zero.response.status, 400);
    assert.equal(zero.response.reason, 'Bad Contact');
    assert.match(zero.detail, /port 0/);
    assert.equal((await registrar.register(register({ contacts: [] }), SRC)).bindings?.length ?? 0, 0, 'nothing was bound');
  });

  it('limits the contacts of one AOR', async () => {
    const { registrar } = setup({ securityLevel: 'none', maxContactsPerAor: 2 });
    const r = await registrar.register(register({ contacts: ['<sip:a@192.0.2.1>', '<sip:a@192.0.2.2>', '<sip:a@192.0.2.3>'] }), SRC);
    assert.equal(r.response.status, 403);
  });
});

describe('AOR forms', () => {
  it('canonicalises the To URI and O&M input alike', () => {
    assert.equal(canonicalAor({ kind: 'sip', scheme: 'sips', user: 'Alice', host: 'Example.COM', port: 5061, params: new Map([['transport', 'tls']]), headers: new Map() }), 'sip:Alice@example.com');
    assert.equal(aorFromText('sips:Alice@Example.COM'), 'sip:Alice@example.com');
    assert.equal(aorFromText('alice@example.com'), 'sip:alice@example.com');
    assert.equal(aorFromText('sip:alice@example.com'), 'sip:alice@example.com');
  });
});
