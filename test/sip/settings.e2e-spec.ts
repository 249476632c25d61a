// The SIP settings O&M API of a node started with ./traverse start, over HTTPS: GET and PUT
// /api/sip/settings, validation (nothing changes on a bad value), run-time keys in force at once
// (registrar expiry bounds seen by SIPp, the per-source rate limit seen by a flood), and keys
// that need a restart named and left as they are.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { challengesFromHeaders, computeAuthorization, createRequest, serializeDigestCredentials } from '@traverse/sip';
import { httpsGet, httpsRequest, waitFor } from '@traverse/testing';
import { sipp, startSipNode, type SipNode } from './helpers';
import { UdpSipClient } from './transport-helpers';

const DOMAIN = 'example.com';

interface SettingsPage {
  sip: Record<string, unknown>;
  registrar: Record<string, unknown>;
  appliedAtRunTime: string[];
}
interface SettingsChange {
  applied: string[];
  restartRequired: string[];
  settings: SettingsPage;
}

describe('SIP settings API of a node', () => {
  let n: SipNode;
  let password: string;

  const get = async (): Promise<SettingsPage> => {
    const r = await httpsGet(`${n.base}/api/sip/settings`, n.ca);
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as SettingsPage;
  };
  const put = (body: unknown) => httpsRequest(`${n.base}/api/sip/settings`, n.ca, 'PUT', body);

  before(async () => {
    n = await startSipNode({ TRAVERSE_REGISTRAR__DOMAINS: DOMAIN });
    password = readFileSync(join(n.dataDir, 'secrets', 'fixed-password'), 'utf8').trim();
  });

  after(async () => {
    if (n) await n.stop();
  });

  it('reads the SIP and registrar settings in force', async () => {
    const s = await get();
    assert.equal(s.sip.udpPort, n.sipPort);
    assert.equal(s.sip.wsPort, n.wsPort);
    assert.equal(s.sip.maxUdpPacketSize, 1300);
    assert.equal(s.sip.t1Ms, 500);
    assert.equal(s.sip.natKeepAlive, 'options');
    assert.deepEqual(s.registrar.domains, [DOMAIN]);
    assert.equal(s.registrar.minExpires, 60);
    assert.ok(s.appliedAtRunTime.includes('registrar.minExpires'));
    assert.ok(!s.appliedAtRunTime.includes('sip.udpPort'));
  });

  it('refuses a change with a bad value with 400 and every reason, changing nothing', async () => {
    const r = await put({ sip: { t1Ms: 100, udpPort: 70000, bogus: true }, registrar: { minExpires: 5000 } });
    assert.equal(r.status, 400, r.body);
    const message = (JSON.parse(r.body) as { message: string[] }).message.join('\n');
    assert.match(message, /sip\.udpPort: /);
    assert.match(message, /sip\.bogus: unknown setting/);
    assert.match(message, /registrar\.minExpires: must not exceed maxExpires/);
    const s = await get();
    assert.equal(s.sip.t1Ms, 500, 'the valid key of the refused change was not applied either');
    assert.equal(s.registrar.minExpires, 60);
    const notObject = await put({ tunnel: { httpPort: 1 } });
    assert.equal(notObject.status, 400);
  });

  it('applies the registrar expiry bounds at once: a REGISTER below the new minimum gets 423 with it', async () => {
    const r = await put({ registrar: { minExpires: 120 } });
    assert.equal(r.status, 200, r.body);
    const change = JSON.parse(r.body) as SettingsChange;
    assert.deepEqual(change.applied, ['registrar.minExpires']);
    assert.deepEqual(change.restartRequired, []);
    assert.equal(change.settings.registrar.minExpires, 120);
    const run = await sipp(n, 'register-too-brief.xml', { user: 'alice', password, keys: { domain: DOMAIN, expires: 90 } });
    assert.equal(run.code, 0, run.log);
    assert.match(run.log, /^Min-Expires: 120\r?$/m);
    assert.match(n.node.stdout(), /"msg":"SIP settings changed"/);
  });

  it('applies a new per-source rate limit at once: a flood beyond its burst is dropped', async () => {
    const before = (await n.metric(/^traverse_sip_rate_limited_total\{(?=[^}]*transport="UDP")/)) ?? 0;
    const r = await put({ sip: { rateLimit: 1, rateLimitBurst: 3 } });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual((JSON.parse(r.body) as SettingsChange).applied, ['sip.rateLimit', 'sip.rateLimitBurst']);
    const c = await UdpSipClient.open();
    try {
      for (let i = 0; i < 10; i++) {
        c.send(createRequest({ method: 'OPTIONS', uri: `sip:${DOMAIN}`, from: { uri: `sip:flood@${DOMAIN}` }, to: { uri: `sip:${DOMAIN}` }, via: { transport: 'UDP', host: '127.0.0.1', port: c.port } }), n.sipPort);
      }
      await waitFor('messages dropped', async () => (((await n.metric(/^traverse_sip_rate_limited_total\{(?=[^}]*transport="UDP")/)) ?? 0) - before >= 5 ? true : undefined), 10_000, 100);
    } finally {
      c.close();
      const back = await put({ sip: { rateLimit: 100, rateLimitBurst: 200 } });
      assert.equal(back.status, 200, back.body);
    }
  });

  it('applies transaction timers and keep-alive settings, and names the keys that need a restart without applying them', async () => {
    const r = await put({ sip: { t1Ms: 250, t2Ms: 2000, natKeepAliveInterval: 20, udpPort: n.sipPort + 1, listenAddresses: ['127.0.0.1'] }, registrar: { domains: [DOMAIN, 'example.net'] } });
    assert.equal(r.status, 200, r.body);
    const change = JSON.parse(r.body) as SettingsChange;
    assert.deepEqual(change.applied, ['sip.t1Ms', 'sip.t2Ms', 'sip.natKeepAliveInterval']);
    assert.deepEqual(change.restartRequired, ['sip.listenAddresses', 'sip.udpPort', 'registrar.domains']);
    const s = await get();
    assert.equal(s.sip.t1Ms, 250);
    assert.equal(s.sip.natKeepAliveInterval, 20);
    assert.equal(s.sip.udpPort, n.sipPort, 'the port in force is unchanged until a restart');
    assert.deepEqual(s.registrar.domains, [DOMAIN]);
    // still registering on the port in force
    const run = await sipp(n, 'register-auth.xml', { user: 'bob', password, keys: { domain: DOMAIN, expires: 300 } });
    assert.equal(run.code, 0, run.log);
  });
});

describe('digest algorithms offered from the configuration (sip.digestAlgorithms)', () => {
  let n: SipNode;
  let password: string;

  before(async () => {
    n = await startSipNode({ TRAVERSE_REGISTRAR__DOMAINS: DOMAIN, TRAVERSE_SIP__DIGEST_ALGORITHMS: 'SHA-256,MD5' });
    password = readFileSync(join(n.dataDir, 'secrets', 'fixed-password'), 'utf8').trim();
  });

  after(async () => {
    if (n) await n.stop();
  });

  it('challenges with every configured algorithm, strongest first, and accepts an answer in SHA-256', async () => {
    const c = await UdpSipClient.open();
    try {
      const register = (cseq: number, auth?: string) =>
        createRequest({
          method: 'REGISTER',
          uri: `sip:${DOMAIN}`,
          from: { uri: `sip:erin@${DOMAIN}`, tag: 'erin1' },
          to: { uri: `sip:erin@${DOMAIN}` },
          callId: 'digest-algorithms-1',
          cseq,
          via: { transport: 'UDP', host: '127.0.0.1', port: c.port },
          contact: `<sip:erin@127.0.0.1:${c.port}>`,
          headers: [['Expires', '300'], ...(auth ? ([['Authorization', auth]] as Array<[string, string]>) : [])],
        });
      const first = register(1);
      c.send(first, n.sipPort);
      const challenge = await c.response(first.topVia?.branch);
      assert.equal(challenge.status, 401);
      const offered = challengesFromHeaders(challenge.headerValues('www-authenticate'));
      assert.deepEqual(
        offered.map((ch) => ch.algorithm),
        ['SHA-256', 'MD5'],
      );
      const creds = computeAuthorization(offered[0], { username: 'erin', password, method: 'REGISTER', uri: `sip:${DOMAIN}` });
      assert.ok(creds.ok);
      const second = register(2, serializeDigestCredentials(creds.value));
      c.send(second, n.sipPort);
      assert.equal((await c.response(second.topVia?.branch)).status, 200);
    } finally {
      c.close();
    }
  });
});
