// The SIP transports of a node started with ./traverse start, on IPv4 and IPv6 loopback:
// SIPp registers over UDP and TCP on ::1 (Via and Contact with brackets), a WebSocket client
// over [::1], and the listeners follow sip.listenAddresses. A UDP send that cannot go is
// counted and logged, and the caller gets an answer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { createRequest, createResponse, parseMessage } from '@traverse/sip';
import { freePorts, startSipNode, type SipNode } from './helpers';
import { UdpSipClient, runSipp, startSipp } from './transport-helpers';
import { WsSipClient } from './ws-client';

const DOMAIN = 'example.com';

describe('SIP transports of a node on IPv4 and IPv6 (sip.listenAddresses 127.0.0.1 and ::1)', () => {
  let n: SipNode;
  let password: string;

  before(async () => {
    n = await startSipNode({ TRAVERSE_REGISTRAR__DOMAINS: DOMAIN, TRAVERSE_SIP__LISTEN_ADDRESSES: '127.0.0.1,::1' });
    password = readFileSync(join(n.dataDir, 'secrets', 'fixed-password'), 'utf8').trim();
  });

  after(async () => {
    if (n) await n.stop();
  });

  it('listens on exactly the configured addresses', () => {
    const started = n.node.stdout().split('\n').find((l) => l.includes('"SIP started"'));
    assert.ok(started, 'the start line is logged');
    const listeners = (JSON.parse(started) as { listeners: string[] }).listeners;
    for (const t of ['UDP', 'TCP', 'TLS', 'WS', 'WSS']) {
      assert.ok(listeners.some((l) => l.startsWith(`${t} 127.0.0.1:`)), `${t} on 127.0.0.1 in ${listeners.join(', ')}`);
      assert.ok(listeners.some((l) => l.startsWith(`${t} [::1]:`)), `${t} on [::1] in ${listeners.join(', ')}`);
    }
    assert.equal(listeners.length, 10);
  });

  it('registers over UDP on IPv6 with SIPp, the contact and public address in brackets', async () => {
    const r = await runSipp(n, 'register-auth.xml', { localIp: '::1', user: 'alice6', password, keys: { domain: DOMAIN, expires: 300 } });
    assert.equal(r.code, 0, r.log);
    const rows = await n.registrations(`sip:alice6@${DOMAIN}`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].transport, 'UDP');
    assert.equal(rows[0].contact, `sip:alice6@[::1]:${r.port};transport=UDP`);
    assert.equal(rows[0].publicAddress, `[::1]:${r.port}`);
    const via = r.log.split('\n').filter((l) => l.startsWith('Via: SIP/2.0/UDP [::1]:') && l.includes('received='));
    assert.ok(via.length > 0, 'the responses carry received');
    assert.match(via[0], new RegExp(`;received=::1(;|\\r|$)`));
    assert.match(via[0], new RegExp(`;rport=${r.port}(;|\\r|$)`));
  });

  it('registers over TCP on IPv6 with SIPp', async () => {
    const r = await runSipp(n, 'register-auth.xml', { localIp: '::1', transport: 't1', user: 'bob6', password, keys: { domain: DOMAIN, expires: 300 } });
    assert.equal(r.code, 0, r.log);
    const rows = await n.registrations(`sip:bob6@${DOMAIN}`);
    assert.equal(rows[0]?.transport, 'TCP');
    assert.match(rows[0].publicAddress, /^\[::1\]:\d+$/);
  });

  it('registers a WebSocket client over [::1]', async () => {
    const c = await WsSipClient.connect(`ws://[::1]:${n.wsPort}/`, { user: 'carol6', domain: DOMAIN });
    try {
      assert.equal((await c.register(password)).status, 200);
      const rows = await n.registrations(`sip:carol6@${DOMAIN}`);
      assert.equal(rows[0]?.transport, 'WS');
      assert.match(rows[0].publicAddress, /^\[::1\]:\d+$/);
    } finally {
      c.close();
    }
  });

  it('answers a request sent over IPv6 UDP to its source address and port (RFC 3581)', async () => {
    const s = dgram.createSocket('udp6');
    await new Promise<void>((r) => s.bind(0, '::1', () => r()));
    try {
      const port = s.address().port;
      const got = new Promise<Buffer>((resolve) => s.once('message', (m) => resolve(m)));
      const req = createRequest({ method: 'OPTIONS', uri: `sip:[::1]:${n.sipPort}`, from: { uri: 'sip:probe@example.com' }, to: { uri: `sip:[::1]:${n.sipPort}` }, via: { transport: 'UDP', host: '[::1]', port } });
      s.send(req.toBuffer(), n.sipPort, '::1');
      const res = parseMessage(await got);
      assert.ok(res.ok && res.value.kind === 'response', 'a response');
      assert.equal(res.value.topVia?.rport, port);
      assert.equal(res.value.topVia?.received, '::1');
    } finally {
      s.close();
    }
  });
});

describe('a request larger than sip.maxUdpPacketSize goes over TCP (RFC 3261 18.1.1)', () => {
  let n: SipNode;

  before(async () => {
    n = await startSipNode({ TRAVERSE_REGISTRAR__DOMAINS: DOMAIN, TRAVERSE_REGISTRAR__SECURITY_LEVEL: 'none', TRAVERSE_SIP__MAX_UDP_PACKET_SIZE: '600' });
  });

  after(async () => {
    if (n) await n.stop();
  });

  it('forwards a large MESSAGE to a contact registered over UDP on a TCP connection, its Via saying TCP (SIPp on TCP checks)', async () => {
    const [uasPort] = await freePorts(1);
    // the callee: SIPp listening on TCP, registered over UDP with a contact on that port
    const uas = await startSipp(n, 'transport-uas-message-tcp.xml', { server: true, transport: 't1', port: uasPort, user: 'bob', timeout: '20s' });
    const c = await UdpSipClient.open();
    try {
      const reg = createRequest({
        method: 'REGISTER',
        uri: `sip:${DOMAIN}`,
        from: { uri: `sip:bob@${DOMAIN}` },
        to: { uri: `sip:bob@${DOMAIN}` },
        via: { transport: 'UDP', host: '127.0.0.1', port: c.port },
        contact: `<sip:bob@127.0.0.1:${uasPort}>`,
        headers: [['Expires', '300']],
      });
      c.send(reg, n.sipPort);
      assert.equal((await c.response(reg.topVia?.branch)).status, 200);
      const row = (await n.registrations(`sip:bob@${DOMAIN}`))[0];
      assert.equal(row?.transport, 'UDP');
      assert.equal(row.behindNat, false, 'a contact on the source host is reached directly');

      // the caller: a MESSAGE over UDP, larger than 600 bytes once the node adds its headers
      const msg = createRequest({
        method: 'MESSAGE',
        uri: `sip:bob@${DOMAIN}`,
        from: { uri: `sip:alice@${DOMAIN}` },
        to: { uri: `sip:bob@${DOMAIN}` },
        via: { transport: 'UDP', host: '127.0.0.1', port: c.port },
        body: 'x'.repeat(700),
        contentType: 'text/plain',
      });
      assert.ok(msg.toBuffer().length > 600);
      c.send(msg, n.sipPort);
      const res = await c.response(msg.topVia?.branch);
      assert.equal(res.status, 200);
      const done = await uas.done;
      assert.equal(done.code, 0, done.log);
      assert.match(done.log, /TCP message received \[\d+\] bytes/);
      assert.match(done.log, /^MESSAGE sip:bob@127\.0\.0\.1:\d+ SIP\/2\.0/m);
    } finally {
      c.close();
      if (uas.run.child.exitCode === null) uas.run.child.kill();
    }
  });

  it('keeps a request within the size on UDP', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const seen: Buffer[] = [];
    s.on('message', (m) => {
      seen.push(m);
      const p = parseMessage(m);
      if (p.ok && p.value.kind === 'request') s.send(createResponse(p.value, 200).toBuffer(), n.sipPort, '127.0.0.1');
    });
    const c = await UdpSipClient.open();
    try {
      const reg = createRequest({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: { uri: `sip:carol@${DOMAIN}` }, to: { uri: `sip:carol@${DOMAIN}` }, via: { transport: 'UDP', host: '127.0.0.1', port: c.port }, contact: `<sip:carol@127.0.0.1:${s.address().port}>`, headers: [['Expires', '300']] });
      c.send(reg, n.sipPort);
      assert.equal((await c.response(reg.topVia?.branch)).status, 200);
      const msg = createRequest({ method: 'MESSAGE', uri: `sip:carol@${DOMAIN}`, from: { uri: `sip:alice@${DOMAIN}` }, to: { uri: `sip:carol@${DOMAIN}` }, via: { transport: 'UDP', host: '127.0.0.1', port: c.port }, body: 'hi', contentType: 'text/plain' });
      c.send(msg, n.sipPort);
      assert.equal((await c.response(msg.topVia?.branch)).status, 200);
      const got = parseMessage(seen[0]);
      assert.ok(got.ok && got.value.kind === 'request' && got.value.method === 'MESSAGE');
      assert.equal(got.value.topVia?.transport, 'UDP');
    } finally {
      c.close();
      s.close();
    }
  });
});

describe('a UDP send that cannot go (a node on IPv4 only)', () => {
  let n: SipNode;

  before(async () => {
    n = await startSipNode({ TRAVERSE_REGISTRAR__DOMAINS: DOMAIN, TRAVERSE_REGISTRAR__SECURITY_LEVEL: 'none', TRAVERSE_SIP__LISTEN_ADDRESSES: '127.0.0.1', TRAVERSE_LOG__LEVEL: 'fine' });
  });

  after(async () => {
    if (n) await n.stop();
  });

  const failures = async () => (await n.metric(/^traverse_sip_send_failures_total\{(?=[^}]*transport="UDP")/)) ?? 0;

  /** Sends an OPTIONS for `uri` from a UDP client; its final answer, how long it took, and the "send failed" log line naming `hop`. */
  async function probe(uri: string, hop: string): Promise<{ status: number; ms: number; failedLine: string | undefined }> {
    const c = await UdpSipClient.open();
    try {
      const req = createRequest({ method: 'OPTIONS', uri, from: { uri: 'sip:probe@example.com' }, to: { uri }, via: { transport: 'UDP', host: '127.0.0.1', port: c.port } });
      const sentAt = Date.now();
      c.send(req, n.sipPort);
      const res = await c.response(req.topVia?.branch, 40_000); // longer than Timer F, so that a late answer shows its time
      const ms = Date.now() - sentAt;
      const failedLine = n.node.stdout().split('\n').find((l) => l.includes('"send failed"') && l.includes(`"to":"${hop}"`));
      return { status: res.status, ms, failedLine };
    } finally {
      c.close();
    }
  }

  it('counts a request for an IPv6 next hop in traverse_sip_send_failures_total, logs why, and answers the caller 500 (a 503 of its own is not passed on, RFC 3261 16.7)', async () => {
    const before = await failures();
    const r = await probe('sip:probe@[::1]:5999', '::1:5999');
    assert.equal(r.status, 500);
    assert.equal(await failures(), before + 1, 'one failed send counted');
    assert.ok(r.failedLine, 'a "send failed" log line names the next hop');
    assert.match(r.failedLine, /"reason":"no IPv6 UDP socket"/);
  });

  it('answers at once, not after Timer F, a request whose next hop is port 0, and counts the send that could not go', async () => {
    const before = await failures();
    const r = await probe('sip:probe@127.0.0.2:0', '127.0.0.2:0');
    assert.equal(r.status, 500);
    assert.ok(r.ms < 5000, `answered before any retransmission timer ran out (${r.ms} ms)`);
    assert.equal(await failures(), before + 1, 'one failed send counted');
    assert.ok(r.failedLine, 'a "send failed" log line names the next hop');
    assert.match(r.failedLine, /"reason":"port 0 is not a destination"/);
  });
});
