// The registrar of a node started with ./traverse start, driven by SIPp (Debian's sip-tester) over
// UDP and TCP, by a TLS client against the node's public certificate, and checked through the
// O&M registrations API (the Registered SIP Users table).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { httpsRequest, waitFor } from '@traverse/testing';
import { challengesFromHeaders, computeAuthorization, serializeDigestCredentials } from '@traverse/sip';
import { Attr, StunClass, StunMethod, decodeMessage, encodeMessage, getAttribute } from '@traverse/stun';
import { TlsSipClient, sipp, startSipNode, type SipNode } from './helpers';

const DOMAIN = 'example.com';

describe('the SIP registrar of a node (SIPp, UDP/TCP/TLS, O&M API)', () => {
  let n: SipNode;
  let password: string;

  before(async () => {
    // registrations to other domains are proxied only to partner.example (sip.domainRegistrationPolicy)
    n = await startSipNode({ TRAVERSE_REGISTRAR__DOMAINS: DOMAIN, TRAVERSE_REGISTRAR__MIN_EXPIRES: '2', TRAVERSE_SIP__DOMAIN_REGISTRATION_POLICY: 'partner.example' });
    password = readFileSync(join(n.dataDir, 'secrets', 'fixed-password'), 'utf8').trim();
  });

  after(async () => {
    if (n) await n.stop();
  });

  it('generates the fixed password into <dataDir>/secrets (0600) and logs its path, never the password', () => {
    const path = join(n.dataDir, 'secrets', 'fixed-password');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(password.length >= 16);
    assert.ok(n.node.stdout().includes(path), 'the log names the file');
    assert.equal(n.node.stdout().includes(password), false, 'the password is not logged');
    assert.equal(readFileSync(join(n.dataDir, 'logs', 'traverse.1.log'), 'utf8').includes(password), false);
  });

  it('registers over UDP with digest authentication', async () => {
    const r = await sipp(n, 'register-auth.xml', { user: 'alice', password, keys: { domain: DOMAIN, expires: 300 } });
    assert.equal(r.code, 0, r.log);
    const rows = await n.registrations('sip:alice@example.com');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].sipUri, 'sip:alice@example.com');
    assert.equal(rows[0].contact, `sip:alice@127.0.0.1:${r.port};transport=UDP`);
    assert.equal(rows[0].transport, 'UDP');
    assert.equal(rows[0].publicAddress, `127.0.0.1:${r.port}`);
    assert.ok(rows[0].expires > 290 && rows[0].expires <= 300, `expires ${rows[0].expires}`);
    assert.equal(rows[0].userAgent, 'SIPp register-auth');
  });

  it('registers over TCP with digest authentication', async () => {
    const r = await sipp(n, 'register-auth.xml', { user: 'bob', transport: 't1', password, keys: { domain: DOMAIN, expires: 600 } });
    assert.equal(r.code, 0, r.log);
    const rows = await n.registrations('sip:bob@example.com');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].transport, 'TCP');
    assert.match(rows[0].contact, /transport=TCP$/);
    assert.ok(rows[0].expires > 590);
  });

  it('refreshes a registration (same Call-ID, higher CSeq) without adding a binding', async () => {
    const r = await sipp(n, 'register-refresh.xml', { user: 'carol', password, keys: { domain: DOMAIN, expires: 300 } });
    assert.equal(r.code, 0, r.log);
    const rows = await n.registrations('sip:carol@example.com');
    assert.equal(rows.length, 1);
    assert.ok(Date.parse(rows[0].lastSeen) - Date.parse(rows[0].registered) >= 1000, `${rows[0].registered} -> ${rows[0].lastSeen}`);
  });

  it('removes every binding of an AOR on Contact: * with Expires: 0', async () => {
    const r = await sipp(n, 'register-unregister.xml', { user: 'dave', password, keys: { domain: DOMAIN, expires: 300 } });
    assert.equal(r.code, 0, r.log);
    assert.deepEqual(await n.registrations('sip:dave@example.com'), []);
  });

  it('refuses a too short registration with 423 and Min-Expires', async () => {
    const r = await sipp(n, 'register-too-brief.xml', { user: 'erin', password, keys: { domain: DOMAIN, expires: 1 } });
    assert.equal(r.code, 0, r.log);
    assert.match(r.log, /^SIP\/2\.0 423 Interval Too Brief\r?$/m);
    assert.match(r.log, /^Min-Expires: 2\r?$/m);
    assert.deepEqual(await n.registrations('sip:erin@example.com'), []);
  });

  it('refuses a wrong password with 403', async () => {
    const r = await sipp(n, 'register-wrong-password.xml', { user: 'frank', password: 'not-the-password', keys: { domain: DOMAIN } });
    assert.equal(r.code, 0, r.log);
    assert.deepEqual(await n.registrations('sip:frank@example.com'), []);
  });

  it('refuses an AOR of a domain it neither serves nor may proxy registrations to with 403, before any challenge', async () => {
    const r = await sipp(n, 'register-forbidden.xml', { user: 'gary', password, keys: { domain: 'elsewhere.org' } });
    assert.equal(r.code, 0, r.log);
    assert.deepEqual(await n.registrations('sip:gary@elsewhere.org'), []);
  });

  it('keeps several contacts per AOR with their q-values and expiries', async () => {
    const r = await sipp(n, 'register-contacts.xml', { user: 'gina', password, keys: { domain: DOMAIN } });
    assert.equal(r.code, 0, r.log);
    const rows = await n.registrations('sip:gina@example.com');
    assert.deepEqual(
      rows.map((x) => [x.contact, x.q]),
      [
        [`sip:gina-desk@127.0.0.1:${r.port}`, 1],
        [`sip:gina-mobile@127.0.0.1:${r.port}`, 0.5],
      ],
    );
    assert.ok(rows[0].expires > 590 && rows[1].expires <= 120 && rows[1].expires > 110);
  });

  it('expires a registration that is not refreshed', async () => {
    const r = await sipp(n, 'register-auth.xml', { user: 'hank', password, keys: { domain: DOMAIN, expires: 2 } });
    assert.equal(r.code, 0, r.log);
    assert.equal((await n.registrations('sip:hank@example.com')).length, 1);
    await waitFor('the registration to expire', async () => ((await n.registrations('sip:hank@example.com')).length === 0 ? true : undefined), 6000, 250);
  });

  it('registers over TLS with the node public certificate', async () => {
    const ca = readFileSync(join(n.dataDir, 'certs', 'public-cert.pem'), 'utf8');
    const c = await TlsSipClient.connect(n.tlsPort, ca);
    try {
      const callId = randomBytes(8).toString('hex');
      const register = (cseq: number, auth?: string) =>
        [
          `REGISTER sip:${DOMAIN} SIP/2.0`,
          `Via: SIP/2.0/TLS 127.0.0.1:${c.localPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
          `From: <sip:ivan@${DOMAIN}>;tag=t${cseq}`,
          `To: <sip:ivan@${DOMAIN}>`,
          `Call-ID: ${callId}`,
          `CSeq: ${cseq} REGISTER`,
          `Contact: <sip:ivan@127.0.0.1:${c.localPort};transport=tls>`,
          ...(auth ? [`Authorization: ${auth}`] : []),
          'Max-Forwards: 70',
          'Expires: 300',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n');
      c.send(register(1));
      const challenge = await c.next();
      assert.equal(challenge.status, 401);
      const ch = challengesFromHeaders(challenge.headerValues('www-authenticate'))[0];
      const creds = computeAuthorization(ch, { username: 'ivan', password, method: 'REGISTER', uri: `sip:${DOMAIN}` });
      assert.ok(creds.ok);
      c.send(register(2, serializeDigestCredentials(creds.value)));
      const ok = await c.next();
      assert.equal(ok.status, 200);
      assert.equal(ok.topVia?.rport, c.localPort, 'rport filled in');
      assert.equal(ok.topVia?.received, '127.0.0.1');
    } finally {
      c.close();
    }
    const rows = await n.registrations('sip:ivan@example.com');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].transport, 'TLS');
  });

  it('answers a malformed request 400 with the reason, drops garbage, and counts both', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    try {
      const port = s.address().port;
      const got: Buffer[] = [];
      s.on('message', (m) => got.push(m));
      const bad = [
        'OPTIONS sip:example.com SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKmalformed1`,
        'From: <sip:m@example.com>;tag=1',
        'To: <sip:m@example.com>',
        'Call-ID: malformed-1',
        'CSeq: 1 INVITE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      s.send(Buffer.from(bad), n.sipPort, '127.0.0.1');
      await waitFor('the 400', () => (got.length > 0 ? true : undefined), 5000, 50);
      const line = got[0].toString('latin1').split('\r\n')[0];
      assert.match(line, /^SIP\/2\.0 400 \S/);
      assert.notEqual(line, 'SIP/2.0 400 Bad Request', `the reason says what is wrong: ${line}`);
      s.send(Buffer.from('\x16\x03\x01garbage that is not SIP at all\r\n\r\n'), n.sipPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(got.length, 1, 'no answer to garbage');
      assert.equal(await n.metric(/^traverse_sip_malformed_total\{transport="UDP",answered="true"/), 1);
      assert.equal(await n.metric(/^traverse_sip_malformed_total\{transport="UDP",answered="false"/), 1);
    } finally {
      s.close();
    }
  });

  it('challenges a REGISTER without credentials statelessly (a retransmission gets a 401 with the same To tag), and answers a retransmitted authenticated REGISTER from its server transaction', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    try {
      const got: string[] = [];
      s.on('message', (m) => got.push(m.toString('latin1')));
      const callId = randomBytes(8).toString('hex');
      const reg = (cseq: number, branch: string, authorization?: string) =>
        [
          `REGISTER sip:${DOMAIN} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${s.address().port};branch=${branch};rport`,
          `From: <sip:judy@${DOMAIN}>;tag=rt1`,
          `To: <sip:judy@${DOMAIN}>`,
          `Call-ID: ${callId}`,
          `CSeq: ${cseq} REGISTER`,
          `Contact: <sip:judy@127.0.0.1:${s.address().port}>`,
          ...(authorization !== undefined ? [`Authorization: ${authorization}`] : []),
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n');
      const toTag = (m: string) => /^To:.*;tag=([^;\r\n]+)/im.exec(m)?.[1];
      const nonce = (m: string) => /nonce="([^"]+)"/.exec(m)?.[1];
      const challenged = (await n.metric(/^traverse_sip_register_responses_total\{status="401"/)) ?? 0;
      const first = reg(1, `z9hG4bK${randomBytes(6).toString('hex')}`);
      s.send(Buffer.from(first), n.sipPort, '127.0.0.1');
      await waitFor('the 401', () => (got.length === 1 ? true : undefined), 5000, 20);
      s.send(Buffer.from(first), n.sipPort, '127.0.0.1');
      await waitFor('the second 401', () => (got.length === 2 ? true : undefined), 5000, 20);
      assert.match(got[0], /^SIP\/2.0 401 /);
      assert.match(got[1], /^SIP\/2.0 401 /);
      assert.ok(toTag(got[0]) !== undefined && toTag(got[1]) === toTag(got[0]), 'the same To tag (RFC 3261 8.2.7)');
      // no transaction kept the first 401 to resend: the copy was challenged afresh
      assert.ok(nonce(got[0]) !== undefined && nonce(got[1]) !== nonce(got[0]), 'a new nonce for the retransmission');
      assert.equal(await n.metric(/^traverse_sip_register_responses_total\{status="401"/), challenged + 2, 'both copies challenged');
      const www = /^WWW-Authenticate: (.*)$/im.exec(got[0])![1];
      const creds = computeAuthorization(challengesFromHeaders([www])[0], { username: 'judy', password, method: 'REGISTER', uri: `sip:${DOMAIN}` });
      assert.ok(creds.ok);
      const before = (await n.metric(/^traverse_sip_register_responses_total\{status="200"/)) ?? 0;
      const second = reg(2, `z9hG4bK${randomBytes(6).toString('hex')}`, serializeDigestCredentials(creds.value));
      s.send(Buffer.from(second), n.sipPort, '127.0.0.1');
      await waitFor('the 200', () => (got.length === 3 ? true : undefined), 5000, 20);
      s.send(Buffer.from(second), n.sipPort, '127.0.0.1');
      await waitFor('the retransmitted 200', () => (got.length === 4 ? true : undefined), 5000, 20);
      assert.match(got[2], /^SIP\/2.0 200 /);
      assert.equal(got[3], got[2], 'the very same response');
      assert.equal(await n.metric(/^traverse_sip_register_responses_total\{status="200"/), before + 1, 'the registrar saw it once');
    } finally {
      s.close();
    }
  });

  it('answers RFC 5626 keep-alives: CRLF over TCP, STUN Binding on the SIP UDP port', async () => {
    const sock = net.connect(n.sipPort, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const pong = new Promise<Buffer>((r) => sock.once('data', (d: Buffer) => r(d)));
    sock.write('\r\n\r\n');
    assert.equal((await pong).toString(), '\r\n');
    sock.destroy();

    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    try {
      const tid = randomBytes(12);
      const res = new Promise<Buffer>((r) => s.once('message', (m) => r(m)));
      s.send(encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, transactionId: tid }, [], { fingerprint: true }), n.sipPort, '127.0.0.1');
      const d = decodeMessage(await res);
      assert.ok(d.ok);
      assert.equal(d.value.cls, StunClass.SuccessResponse);
      assert.deepEqual(Buffer.from(d.value.transactionId), tid);
      const mapped = getAttribute(d.value, Attr.XorMappedAddress);
      assert.ok(mapped?.ok);
      assert.equal((mapped.value as { port: number }).port, s.address().port);
    } finally {
      s.close();
    }
  });

  it('lists registrations on GET /api/registrations and unregisters with DELETE', async () => {
    const all = await n.registrations();
    assert.ok(all.some((r) => r.sipUri === 'sip:alice@example.com'));
    assert.ok(all.every((r) => r.node === 'e2e-sip'));
    const del = await httpsRequest(`${n.base}/api/registrations/${encodeURIComponent('sip:alice@example.com')}`, n.ca, 'DELETE');
    assert.equal(del.status, 200, del.body);
    assert.deepEqual(JSON.parse(del.body), { sipUri: 'sip:alice@example.com', removed: 1 });
    assert.deepEqual(await n.registrations('sip:alice@example.com'), []);
    const again = await httpsRequest(`${n.base}/api/registrations/alice@example.com`, n.ca, 'DELETE');
    assert.equal(again.status, 404);
    const doc = JSON.parse((await httpsRequest(`${n.base}/api/openapi.json`, n.ca, 'GET')).body) as { paths: Record<string, Record<string, unknown>> };
    assert.ok(doc.paths['/api/registrations']?.get && doc.paths['/api/registrations/{aor}']?.delete);
  });

  it('reports registrations and REGISTER outcomes in the metrics', async () => {
    assert.ok(((await n.metric(/^traverse_sip_registrations\{/)) ?? 0) >= 3);
    assert.ok(((await n.metric(/^traverse_sip_register_responses_total\{status="401"/)) ?? 0) >= 8);
    assert.equal(await n.metric(/^traverse_sip_register_responses_total\{status="423"/), 1);
  });

  it('stops cleanly on SIGTERM', async () => {
    const code = await n.stop();
    assert.equal(code, 0);
    assert.match(n.node.stdout(), /"msg":"traverse stopped"/);
    n = undefined as unknown as SipNode;
  });
});

describe('a node with trusted hosts and a configured fixed password', () => {
  let n: SipNode;
  const secret = 'e2e-configured-' + randomBytes(6).toString('hex');

  before(async () => {
    n = await startSipNode({ TRAVERSE_REGISTRAR__TRUSTED_HOSTS: '127.0.0.1', TRAVERSE_AUTH__FIXED_PASSWORD: secret });
  });

  after(async () => {
    if (n) await n.stop();
  });

  it('does not challenge a trusted host, and accepts any domain when none is configured', async () => {
    for (const transport of ['u1', 't1'] as const) {
      const r = await sipp(n, 'register-noauth.xml', { user: `trusted-${transport}`, transport, keys: { domain: 'any.example.net', expires: 120 } });
      assert.equal(r.code, 0, r.log);
      const rows = await n.registrations(`sip:trusted-${transport}@any.example.net`);
      assert.equal(rows.length, 1);
      assert.ok(rows[0].expires <= 120);
    }
  });

  it('uses the configured password: nothing generated, nothing logged', () => {
    assert.equal(existsSync(join(n.dataDir, 'secrets', 'fixed-password')), false);
    assert.equal(n.node.stdout().includes(secret), false);
  });
});
