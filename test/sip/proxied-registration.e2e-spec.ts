// Registrations proxied to another domain through a node started with ./traverse start (security
// level full, local domain example.com, sip.domainRegistrationPolicy remote.test, dns.servers on a
// dnsmasq that names a SIPp registrar for remote.test): a client behind NAT (SIPp, Contact on
// 10.0.0.5) registers with remote.test through the node, that registrar challenges (401) and
// accepts it, the Proxy Registrations table lists it, the registrar's call to the client comes
// back through the node (its Path, or the contact the node rewrote for a UA without path support)
// and reaches the client on its real source, and the unregistration removes it. A domain the
// policy does not list gets 403 and nothing leaves the node; a local user still registers here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { waitFor } from '@traverse/testing';
import type { SipNode } from './helpers';
import { freePorts } from './helpers';
import { createResponse, parseMessage, type SipResponse } from '@traverse/sip';
import { DOMAIN, proxyRegistrations, receivedMessages, receivedRequest, receivedResponse, startProxyNode, startSipp } from './proxy-helpers';
import { Dnsmasq } from './dns-server';

const REMOTE = 'remote.test';
const callId = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;

/**
 * A dnsmasq that names a registrar for remote.test (NAPTR, SRV, A: 127.0.0.1 on a free port, where
 * the test starts its SIPp registrar) and a node that resolves with it and may proxy REGISTERs to
 * remote.test (sip.domainRegistrationPolicy), with `env` on top.
 */
async function withRemoteDomain(env: Record<string, string>): Promise<{ n: SipNode; dns: Dnsmasq; registrarPort: number }> {
  const [registrarPort] = await freePorts(1);
  const dns = await Dnsmasq.start('test', {
    naptr: [[REMOTE, 10, 10, 'SIP+D2U', `_sip._udp.${REMOTE}`]],
    srv: [[`_sip._udp.${REMOTE}`, `registrar.${REMOTE}`, registrarPort, 0, 10]],
    hosts: [[`registrar.${REMOTE}`, '127.0.0.1']],
  });
  try {
    const n = await startProxyNode({ TRAVERSE_DNS__SERVERS: dns.server, TRAVERSE_DNS__IPV6: 'false', TRAVERSE_SIP__DOMAIN_REGISTRATION_POLICY: REMOTE, ...env });
    return { n, dns, registrarPort };
  } catch (e) {
    await dns.stop();
    throw e;
  }
}

describe('registrations proxied to another domain (node, dnsmasq, SIPp client and foreign registrar)', () => {
  let n: SipNode;
  let dns: Dnsmasq;
  let registrarPort: number;

  const table = (aor?: string) => proxyRegistrations(n, aor);

  before(async () => {
    ({ n, dns, registrarPort } = await withRemoteDomain({ TRAVERSE_REGISTRAR__SECURITY_LEVEL: 'full' }));
  });

  after(async () => {
    if (n) await n.stop();
    if (dns) await dns.stop();
  });

  for (const mode of ['path', 'contact'] as const) {
    it(`registers a client behind NAT with ${REMOTE} through the node (${mode === 'path' ? 'Path, the UA supports path' : 'its contact rewritten, the UA without path support'}), lists it, delivers the registrar's call on its source, and removes it on unregistration`, async () => {
      const id = callId(`reg-${mode}`);
      const registrar = await startSipp({ scenario: 'foreign-registrar.xml', port: registrarPort, keys: { user: 'alice', password: 'secret', expires: 120 }, timeout: '60s', extraArgs: ['-d', '3000'] });
      const client = await startSipp({
        scenario: 'proxied-register-client.xml',
        remote: `127.0.0.1:${n.sipPort}`,
        service: 'alice',
        callId: id,
        auth: { user: 'alice', password: 'secret' },
        keys: { domain: REMOTE, expires: 600, supported: mode === 'path' ? 'path' : 'timer' },
        timeout: '60s',
      });
      // while the registrar pauses before its call: the Proxy Registrations table shows the client
      const row = await waitFor('the proxied registration', async () => (await table(`sip:alice@${REMOTE}`))[0], 20_000, 100).catch(async (e: Error) => {
        for (const s of [client, registrar]) s.run.child.kill();
        const [c, r] = await Promise.all([client.result(), registrar.result()]);
        throw new Error(`${e.message}\nclient:\n${c.log}\nregistrar:\n${r.log}\nnode:\n${n.node.stdout().slice(-4000)}`);
      });
      assert.equal(row.sipUri, `sip:alice@${REMOTE}`);
      assert.equal(row.contact, 'sip:alice@10.0.0.5:5060');
      assert.equal(row.publicAddress, `127.0.0.1:${client.port}`);
      assert.equal(row.privateAddress, '10.0.0.5:5060');
      assert.equal(row.protocol, 'UDP');
      assert.equal(row.relay, true);
      assert.equal(row.proxiedTo, REMOTE);
      assert.equal(row.rate, 120, 'until it re-registers: the time the registrar granted');
      assert.ok(row.expires > 100 && row.expires <= 120, `expires ${row.expires}: the registrar's, not the client's 600`);
      assert.ok(row.registered && row.lastSeen);
      assert.equal(row.node, 'e2e-sip');
      const [c, r] = await Promise.all([client.result(), registrar.result()]);
      assert.equal(c.code, 0, c.log);
      assert.equal(r.code, 0, r.log);
      // what the registrar got: the REGISTER with this node on the path of requests for the client
      const reg = receivedRequest(r.messages, 'REGISTER')!;
      assert.equal(reg.requestUri, `sip:${REMOTE}`);
      if (mode === 'path') {
        assert.match(reg.headerValues('path')[0] ?? '', new RegExp(`^<sip:127\\.0\\.0\\.1:${n.sipPort};lr;tvr=udp~127\\.0\\.0\\.1~${client.port}~s~[A-Za-z0-9_-]{16}>$`), reg.toString());
        assert.equal(reg.header('contact'), '<sip:alice@10.0.0.5:5060>');
      } else {
        assert.deepEqual(reg.headerValues('path'), []);
        assert.match(reg.header('contact') ?? '', new RegExp(`^<sip:alice@127\\.0\\.0\\.1:${n.sipPort};tvr=udp~127\\.0\\.0\\.1~${client.port}~s~[A-Za-z0-9_-]{16};tvc=`), reg.toString());
        // the client sees its own contact in the 200
        const ok = receivedMessages(c.messages).find((m): m is SipResponse => m.kind === 'response' && m.status === 200 && m.cseq.seq === 2);
        assert.equal(ok?.header('contact'), '<sip:alice@10.0.0.5:5060>;expires=120');
      }
      // the 401 came from the home registrar (the node does not challenge a proxied REGISTER)
      assert.match(receivedResponse(c.messages, 401)?.header('www-authenticate') ?? '', /realm="remote\.test"/);
      // the registrar's INVITE reached the client on its source, to its own contact
      const inv = receivedRequest(c.messages, 'INVITE')!;
      assert.equal(inv.requestUri, 'sip:alice@10.0.0.5:5060');
      assert.equal(inv.header('from'), `<sip:bob@${REMOTE}>;tag=${inv.fromTag}`);
      assert.ok(receivedRequest(c.messages, 'BYE'), 'the BYE followed the record-route to the client');
      // unregistered: gone from the table
      await waitFor('the proxied registration removed', async () => ((await table(`sip:alice@${REMOTE}`)).length === 0 ? true : undefined), 10_000, 100);
    });
  }

  it('refuses a REGISTER for a domain the Domain Registration Policy does not list with 403, forwarding nothing', async () => {
    const before = dns.queries('NAPTR', 'other.test') + dns.queries('SRV', '_sip._udp.other.test') + dns.queries('A', 'other.test');
    const a = await (await startSipp({ scenario: 'register-forbidden.xml', remote: `127.0.0.1:${n.sipPort}`, service: 'alice', keys: { domain: 'other.test' } })).result();
    assert.equal(a.code, 0, a.log);
    assert.equal(receivedResponse(a.messages, 403)?.reason, 'Domain Not Allowed By Registration Policy');
    assert.equal(dns.queries('NAPTR', 'other.test') + dns.queries('SRV', '_sip._udp.other.test') + dns.queries('A', 'other.test'), before, 'nothing was looked up for other.test');
    assert.deepEqual(await table(`sip:alice@other.test`), []);
  });

  it('registers a local user with the local registrar whatever the policy says', async () => {
    const password = readFileSync(join(n.dataDir, 'secrets', 'fixed-password'), 'utf8').trim();
    const a = await (await startSipp({ scenario: 'register-auth.xml', remote: `127.0.0.1:${n.sipPort}`, service: 'carol', auth: { user: 'carol', password }, keys: { domain: DOMAIN, expires: 300 } })).result();
    assert.equal(a.code, 0, a.log);
    assert.equal((await n.registrations(`sip:carol@${DOMAIN}`)).length, 1);
  });
});

describe('keep-alives of a registration proxied for a client behind NAT (node, dnsmasq, raw UDP client, SIPp registrar)', () => {
  let n: SipNode;
  let dns: Dnsmasq;
  let registrarPort: number;

  before(async () => {
    // local REGISTERs from 127.0.0.1 are not challenged (trusted host): the raw clients need no digest
    ({ n, dns, registrarPort } = await withRemoteDomain({ TRAVERSE_SIP__NAT_KEEP_ALIVE: 'options', TRAVERSE_SIP__NAT_KEEP_ALIVE_INTERVAL: '5', TRAVERSE_REGISTRAR__TRUSTED_HOSTS: '127.0.0.1' }));
  });

  after(async () => {
    if (n) await n.stop();
    if (dns) await dns.stop();
  });

  it('sends the client CRLF keep-alives on the address it registered from, each interval, while the registration lives', async () => {
    const registrar = await startSipp({ scenario: 'foreign-registrar-accept.xml', port: registrarPort, keys: { expires: 120 }, timeout: '30s' });
    const client = dgram.createSocket('udp4');
    client.bind(0, '127.0.0.1');
    await once(client, 'listening');
    const got: { at: number; text: string }[] = [];
    client.on('message', (m) => got.push({ at: Date.now(), text: m.toString('latin1') }));
    try {
      const id = callId('keepalive');
      const register = [
        `REGISTER sip:${REMOTE} SIP/2.0`,
        'Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK' + randomBytes(6).toString('hex') + ';rport',
        'Max-Forwards: 70',
        `From: <sip:dave@${REMOTE}>;tag=${randomBytes(4).toString('hex')}`,
        `To: <sip:dave@${REMOTE}>`,
        `Call-ID: ${id}`,
        'CSeq: 1 REGISTER',
        'Contact: <sip:dave@10.0.0.5:5060>',
        'Expires: 600',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      client.send(register, n.sipPort, '127.0.0.1');
      await waitFor('the 200 from the foreign registrar', () => got.find((g) => g.text.startsWith('SIP/2.0 200')), 10_000, 50);
      const registeredAt = Date.now();
      const [row] = await proxyRegistrations(n, `sip:dave@${REMOTE}`);
      assert.equal(row?.proxiedTo, REMOTE);
      assert.equal(row?.publicAddress, `127.0.0.1:${client.address().port}`);
      // two keep-alives, about 5 s apart, the first about 5 s after the registration
      const pings = await waitFor('two keep-alives', () => {
        const p = got.filter((g) => g.text === '\r\n\r\n');
        return p.length >= 2 ? p : undefined;
      }, 20_000, 100);
      assert.ok(pings[0].at - registeredAt >= 4_000, `first keep-alive ${pings[0].at - registeredAt} ms after the registration`);
      assert.ok(pings[1].at - pings[0].at >= 4_000, `keep-alives ${pings[1].at - pings[0].at} ms apart`);
      assert.equal((await registrar.result()).code, 0);
    } finally {
      client.close();
    }
  });

  it('takes back after a restart the clients behind NAT it held (proxied and local): their rows stay and their keep-alives go on without a re-registration', async () => {
    const registrar = await startSipp({
      scenario: 'foreign-registrar-accept.xml',
      port: registrarPort,
      keys: { expires: 600 },
      timeout: '30s',
    });
    const udp = async () => {
      const c = dgram.createSocket('udp4');
      c.bind(0, '127.0.0.1');
      await once(c, 'listening');
      return c;
    };
    const proxiedClient = await udp();
    const localClient = await udp();
    const got = { proxied: [] as { at: number; text: string }[], local: [] as { at: number; text: string }[] };
    proxiedClient.on('message', (m) => got.proxied.push({ at: Date.now(), text: m.toString('latin1') }));
    localClient.on('message', (m) => {
      const text = m.toString('latin1');
      got.local.push({ at: Date.now(), text });
      const parsed = parseMessage(m);
      if (parsed.ok && parsed.value.kind === 'request' && parsed.value.method === 'OPTIONS')
        localClient.send(createResponse(parsed.value, 200).toBuffer(), n.sipPort, '127.0.0.1');
    });
    const register = (user: string, domain: string, lan: string) =>
      [
        `REGISTER sip:${domain} SIP/2.0`,
        `Via: SIP/2.0/UDP ${lan}:5060;branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
        'Max-Forwards: 70',
        `From: <sip:${user}@${domain}>;tag=${randomBytes(4).toString('hex')}`,
        `To: <sip:${user}@${domain}>`,
        `Call-ID: ${callId('restart')}`,
        'CSeq: 1 REGISTER',
        `Contact: <sip:${user}@${lan}:5060>`,
        'Expires: 600',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    try {
      proxiedClient.send(register('frank', REMOTE, '10.0.0.7'), n.sipPort, '127.0.0.1');
      localClient.send(register('erin', DOMAIN, '10.0.0.8'), n.sipPort, '127.0.0.1');
      await waitFor('the 200 from the foreign registrar', () => got.proxied.find((g) => g.text.startsWith('SIP/2.0 200')), 10_000, 50);
      await waitFor('the 200 from the local registrar', () => got.local.find((g) => g.text.startsWith('SIP/2.0 200')), 10_000, 50);
      assert.equal((await registrar.result()).code, 0);
      const rows = async () => [
        ...(await proxyRegistrations(n, `sip:frank@${REMOTE}`)),
        ...(await proxyRegistrations(n, `sip:erin@${DOMAIN}`)),
      ];
      await waitFor('both rows listed', async () => ((await rows()).length === 2 ? true : undefined), 10_000, 100);

      await n.restart();
      const restartedAt = Date.now();
      const held = await rows();
      assert.deepEqual(held.map((r) => [r.sipUri, r.publicAddress, r.node]).sort(), [
        [`sip:erin@${DOMAIN}`, `127.0.0.1:${localClient.address().port}`, 'e2e-sip'],
        [`sip:frank@${REMOTE}`, `127.0.0.1:${proxiedClient.address().port}`, 'e2e-sip'],
      ]);
      // the keep-alives of the restarted node: CRLF to the proxied client, OPTIONS to the local one (interval 5 s)
      await waitFor(
        'a CRLF keep-alive to the proxied client after the restart',
        () => got.proxied.find((g) => g.at >= restartedAt && g.text === '\r\n\r\n'),
        15_000,
        100,
      );
      await waitFor(
        'an OPTIONS keep-alive to the local client after the restart',
        () => got.local.find((g) => g.at >= restartedAt && g.text.startsWith('OPTIONS sip:erin@10.0.0.8:5060 ')),
        15_000,
        100,
      );
      const erin = await waitFor(
        'the answer counted',
        async () => {
          const r = (await proxyRegistrations(n, `sip:erin@${DOMAIN}`))[0];
          return (r?.keepAlive?.answered ?? 0) >= 1 ? r : undefined;
        },
        10_000,
        200,
      );
      assert.equal(erin.privateAddress, '10.0.0.8:5060');
      assert.match(n.node.stdout(), /proxy registrations held before the restart taken back/);
    } finally {
      proxiedClient.close();
      localClient.close();
    }
  });
});
