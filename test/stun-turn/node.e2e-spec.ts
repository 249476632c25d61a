/**
 * STUN and TURN on a node started as a user starts it (`./traverse start`), both roles in one
 * process on two loopback addresses: the signaling role (primary STUN, TURN front) on 127.0.0.1
 * and the media engine (TURN relay, secondary STUN server) on 127.0.0.2. Driven by coturn's
 * turnutils_uclient / turnutils_stunclient, the RFC 3489 `stun` client and a small TURN client;
 * then the out-of-the-box layout: both roles on one address sharing the TURN port.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Attr, StunClass, TransportProtocol, attributeValue, type TransportAddress } from '@traverse/stun';
import { udpRelayAvailability } from '@traverse/udp-relay';
import {
  StunMethod,
  TestTurnClient,
  errorCodeOf,
  freePorts,
  peer,
  requireBinary,
  run,
  startProcess,
  startTraverseNode,
  uclientSummary,
  type TraverseNode,
} from './helpers';

const A = '127.0.0.1';
const B = '127.0.0.2';
const PASSWORD = 'e2e-turn-secret';
const ENGINE = 'me-e2e';

/** Every spelling of a denied IPv4 address in XOR-PEER-ADDRESS: itself and its IPv6 wrappings. */
function spellings(v4: string): string[] {
  const [a, b, c, d] = v4.split('.').map(Number);
  const hex = (x: number, y: number) => ((x << 8) | y).toString(16);
  const teredo = (x: number, y: number) => (((x ^ 0xff) << 8) | (y ^ 0xff)).toString(16);
  const forms = [
    v4,
    `::ffff:${v4}`, // IPv4-mapped
    `::ffff:0:${v4}`, // SIIT
    `64:ff9b::${v4}`, // NAT64
    `2002:${hex(a, b)}:${hex(c, d)}::1`, // 6to4
    `2001:0:4136:e378:8000:63bf:${teredo(a, b)}:${teredo(c, d)}`, // Teredo
  ];
  // IPv4-compatible ::a.b.c.d, except where it spells :: or ::1 themselves
  if (!(a === 0 && b === 0 && c === 0 && d <= 1)) forms.push(`::${v4}`);
  return forms;
}

describe('STUN and TURN on a node started with ./traverse start (signaling on 127.0.0.1, media engine on 127.0.0.2)', () => {
  let node: TraverseNode;
  let uclient: string;
  let peerPort = 0;
  let p: Record<'stunOne' | 'stunTwo' | 'stunMe' | 'front' | 'frontTls' | 'engine' | 'engineTls' | 'control', number>;
  const helpers: { stop: () => Promise<void> }[] = [];

  before(async () => {
    uclient = requireBinary('turnutils_uclient', 'coturn');
    const peerBin = requireBinary('turnutils_peer', 'coturn');
    const ports = await freePorts(9);
    p = {
      stunOne: ports[0],
      stunTwo: ports[1],
      stunMe: ports[2],
      front: ports[3],
      frontTls: ports[4],
      engine: ports[5],
      engineTls: ports[6],
      control: ports[7],
    };
    peerPort = ports[8];
    helpers.push(startProcess(peerBin, ['-L', A, '-p', String(peerPort)]));
    node = await startTraverseNode({
      TRAVERSE_NODE__NAME: 'e2e-turn',
      TRAVERSE_AUTH__FIXED_PASSWORD: PASSWORD,
      TRAVERSE_STUN__ADDRESS: A,
      TRAVERSE_STUN__PORT_ONE: String(p.stunOne),
      TRAVERSE_STUN__PORT_TWO: String(p.stunTwo),
      TRAVERSE_STUN__MEDIA_ENGINE_PORT: String(p.stunMe),
      TRAVERSE_TURN__ADDRESS: A,
      TRAVERSE_TURN__PORT: String(p.front),
      TRAVERSE_TURN__TLS_PORT: String(p.frontTls),
      TRAVERSE_TURN__MEDIA_ENGINE_PORT: String(p.engine),
      TRAVERSE_TURN__MEDIA_ENGINE_TLS_PORT: String(p.engineTls),
      // the test peer and the relayed addresses (client to client) live on loopback: open exactly those
      TRAVERSE_TURN__ALLOWED_PEERS: `${A}/32,${B}/32`,
      TRAVERSE_MEDIA_ENGINE__NAME: ENGINE,
      TRAVERSE_MEDIA_ENGINE__ADDRESS: B,
      TRAVERSE_MEDIA_ENGINE__CONTROL_PORT: String(p.control),
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MIN: '42000',
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MAX: '42999',
    });
  });

  after(async () => {
    await node?.stop();
    await Promise.all(helpers.map((h) => h.stop()));
  });

  it('is ready with its STUN and TURN listeners and logs them', async () => {
    const r = JSON.parse((await node.get('/health/ready')).body) as { checks: Record<string, boolean> };
    for (const c of ['stun-listeners', 'stun-secondary', 'turn-front', 'turn-relay']) assert.equal(r.checks[c], true, c);
    const msgs = node.logs().map((l) => `${String(l.group)}: ${String(l.msg)}`);
    for (const m of ['stun: STUN server started', 'stun: secondary STUN server (IP B) started', 'turn: TURN server (media engine) started'])
      assert.ok(msgs.includes(m), m);
    assert.ok(msgs.some((m) => m.startsWith('turn: TURN front started')));
    const engines = JSON.parse((await node.get('/api/turn/media-engines')).body) as Array<{ name: string; address: string; turn: Record<string, number> }>;
    assert.deepEqual(
      engines.map((e) => [e.name, e.address, e.turn.udp, e.turn.tls]),
      [[ENGINE, B, p.engine, p.engineTls]],
    );
  });

  it('the front answers an authenticated Allocate with 300 Try Alternate naming the media engine; a wrong password gets 401', async () => {
    const c = new TestTurnClient({ address: A, port: p.front }, 'alice', PASSWORD);
    await c.open();
    try {
      const r = await c.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
      assert.equal(errorCodeOf(r), 300);
      assert.deepEqual(attributeValue(r, Attr.AlternateServer), { family: 4, address: B, port: p.engine });
    } finally {
      await c.close();
    }
    const bad = new TestTurnClient({ address: A, port: p.front }, 'alice', 'not-the-password');
    await bad.open();
    try {
      assert.equal(errorCodeOf(await bad.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }])), 401);
    } finally {
      await bad.close();
    }
  });

  const cases: { name: string; flags: string[]; tls?: boolean; expected: number }[] = [
    { name: 'UDP, channels', flags: [], expected: 100 },
    { name: 'UDP, Send/Data indications', flags: ['-s'], expected: 100 },
    { name: 'TCP, channels', flags: ['-t'], expected: 100 },
    { name: 'TCP, Send/Data indications', flags: ['-t', '-s'], expected: 100 },
    { name: 'TLS, channels', flags: ['-t', '-S'], tls: true, expected: 100 },
    { name: 'TLS, Send/Data indications', flags: ['-t', '-S', '-s'], tls: true, expected: 100 },
    { name: 'UDP, client to client through two allocations', flags: ['-y'], expected: 200 },
    { name: 'TCP, client to client through two allocations', flags: ['-t', '-y'], expected: 200 },
    { name: 'TLS, RFC 6062 TCP allocation', flags: ['-T', '-S'], tls: true, expected: 100 },
  ];
  for (const c of cases) {
    it(`turnutils_uclient through the front's redirect, ${c.name}: no loss`, async () => {
      const args = [...c.flags, '-u', 'alice', '-w', PASSWORD, '-p', String(c.tls ? p.frontTls : p.front), '-e', A, '-r', String(peerPort), '-n', '50', '-l', '180', A];
      const r = await run(uclient, args, 60_000);
      const out = r.stdout + r.stderr;
      const s = uclientSummary(out);
      assert.ok(s, `no summary from turnutils_uclient ${args.join(' ')}:\n${out.slice(-2000)}`);
      assert.equal(s.sent, c.expected, out.slice(-1500));
      assert.equal(s.received, s.sent, out.slice(-1500));
      assert.equal(s.lost, 0);
      // the client followed the front's 300 Try Alternate, and met no other error
      assert.match(out, /error 300 \(Try Alternate\)/);
      assert.doesNotMatch(out, /error (?!300)\d{3}/);
    });
  }

  it('turnutils_stunclient gets its reflexive address from port one', async () => {
    const r = await run(requireBinary('turnutils_stunclient', 'coturn'), ['-p', String(p.stunOne), A], 20_000);
    assert.match(r.stdout + r.stderr, /UDP reflexive addr: 127\.0\.0\.1:\d+/, r.stdout + r.stderr);
  });

  it('turnutils_stunclient RFC 5780 (-f): OTHER-ADDRESS is the media engine, which answers change IP and port', async () => {
    const r = await run(requireBinary('turnutils_stunclient', 'coturn'), ['-f', '-p', String(p.stunOne), A], 20_000);
    const out = r.stdout + r.stderr;
    assert.match(out, new RegExp(`Response origin: : 127\\.0\\.0\\.1:${p.stunOne}`), out);
    assert.match(out, new RegExp(`Other addr: : 127\\.0\\.0\\.2:${p.stunMe}`), out);
    assert.match(out, new RegExp(`RFC 5780 response 2[\\s\\S]*Response origin: : 127\\.0\\.0\\.2:${p.stunMe}`), out);
  });

  it('the RFC 3489 `stun` client completes tests I, II, III and I(2) across the two hosts: Open', async () => {
    const r = await run(requireBinary('stun', 'stun-client'), [`${A}:${p.stunOne}`, '-v'], 30_000);
    const out = r.stdout + r.stderr;
    for (const t of ['test I = 1', 'test II = 1', 'test III = 1', 'test I\\(2\\) = 1']) assert.match(out, new RegExp(t), out.slice(-1500));
    assert.match(out, /Primary: Open/);
  });

  describe('denied peers, in every spelling, on every path', () => {
    const denied4 = ['127.0.0.9', '0.0.0.0', '0.1.2.3', '169.254.1.1', '224.0.0.1', '255.255.255.255', '10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1'];
    const denied6 = ['::', '::1', 'fe80::1', 'ff02::1', 'fd00::1', 'fec0::1'];
    const all = [...denied4.flatMap(spellings), ...denied6];
    // paths that would send traffic (Send, Connect) only aim at this host: loopback and unspecified
    const local = [...spellings('127.0.0.9'), ...spellings('0.0.0.0'), '::', '::1'];
    let client: TestTurnClient;

    before(async () => {
      client = new TestTurnClient({ address: B, port: p.engine }, 'alice-e2e', PASSWORD);
      await client.open();
      const r = await client.allocate([
        { type: Attr.RequestedTransport, value: TransportProtocol.UDP },
        { type: Attr.AdditionalAddressFamily, value: 6 },
      ]);
      assert.equal(r.cls, StunClass.SuccessResponse, `allocate: ${errorCodeOf(r)}`);
    });

    after(async () => {
      await client?.close();
    });

    it(`CreatePermission is refused with 403 for ${all.length} spellings`, async () => {
      for (const a of all) assert.equal(errorCodeOf(await client.request(StunMethod.CreatePermission, [{ type: Attr.XorPeerAddress, value: peer(a, 5000) }])), 403, a);
    });

    it('ChannelBind is refused with 403 for the same spellings', async () => {
      let n = 0x4000;
      for (const a of all)
        assert.equal(
          errorCodeOf(
            await client.request(StunMethod.ChannelBind, [
              { type: Attr.ChannelNumber, value: n++ },
              { type: Attr.XorPeerAddress, value: peer(a, 5000) },
            ]),
          ),
          403,
          a,
        );
    });

    it('Send indications to loopback in every spelling deliver nothing and count as denied', async () => {
      const target = dgram.createSocket('udp4');
      await new Promise<void>((r) => target.bind(0, '127.0.0.9', () => r()));
      const got: Buffer[] = [];
      target.on('message', (m) => got.push(m));
      try {
        const before = (await node.metric(/^traverse_turn_peer_denied_total\{.*method="Send"/)) ?? 0;
        for (const a of local) client.sendIndication(StunMethod.Send, [{ type: Attr.XorPeerAddress, value: peer(a, target.address().port) }, { type: Attr.Data, value: Buffer.from('leak?') }]);
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(got.length, 0);
        assert.equal(((await node.metric(/^traverse_turn_peer_denied_total\{.*method="Send"/)) ?? 0) - before, local.length);
      } finally {
        target.close();
      }
    });

    it('Connect (RFC 6062) is refused with 403', async () => {
      const tcp = new TestTurnClient({ address: B, port: p.engine }, 'alice-e2e', PASSWORD, 'tcp');
      await tcp.open();
      try {
        const r = await tcp.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.TCP }]);
        assert.equal(r.cls, StunClass.SuccessResponse, `allocate: ${errorCodeOf(r)}`);
        for (const a of local) assert.equal(errorCodeOf(await tcp.request(StunMethod.Connect, [{ type: Attr.XorPeerAddress, value: peer(a, 5000) }])), 403, a);
      } finally {
        await tcp.close();
      }
    });

    it('the allocations API shows the live allocation with its user, per engine and per user', async () => {
      const r = await node.get('/api/turn/allocations?user=alice-e2e');
      assert.equal(r.status, 200, r.body);
      const body = JSON.parse(r.body) as { allocations: Array<{ engine: string; node: string; username: string; relayed: TransportAddress[]; clientTransport: string }>; engines: Array<{ name: string; answered: boolean }> };
      // the TCP allocation of the Connect test goes when the server sees its connection close: count the UDP one
      const udp = body.allocations.filter((x) => x.clientTransport === 'udp');
      assert.equal(udp.length, 1, r.body);
      const a = udp[0];
      assert.equal(a.username, 'alice-e2e');
      assert.equal(a.engine, ENGINE);
      assert.equal(a.node, 'e2e-turn');
      assert.equal(a.clientTransport, 'udp');
      assert.deepEqual(
        a.relayed.map((x) => x.family),
        [4, 6],
      );
      assert.equal(a.relayed[0].address, B);
      assert.deepEqual(body.engines, [{ name: ENGINE, node: 'e2e-turn', source: 'local', answered: true }]);
      const byEngine = JSON.parse((await node.get(`/api/turn/allocations?engine=${ENGINE}`)).body) as { allocations: unknown[] };
      assert.ok(byEngine.allocations.length >= 1);
      const none = JSON.parse((await node.get('/api/turn/allocations?engine=nowhere')).body) as { allocations: unknown[]; engines: unknown[] };
      assert.deepEqual(none, { allocations: [], engines: [] });
    });
  });

  it('reports relayed packets, redirects and allocations in its metrics', async () => {
    assert.ok(((await node.metric(/^traverse_turn_relayed_packets_total\{.*direction="to-peer"/)) ?? 0) > 1000);
    assert.ok(((await node.metric(/^traverse_turn_relayed_packets_total\{.*direction="to-client"/)) ?? 0) > 1000);
    assert.ok(((await node.metric(/^traverse_turn_redirects_total\{.*service="front"/)) ?? 0) >= cases.length);
    assert.ok(((await node.metric(/^traverse_turn_auth_failures_total\{.*service="front"/)) ?? 0) >= 1);
    assert.ok(((await node.metric(/^traverse_stun_requests_total\{.*server="primary"/)) ?? 0) >= 1);
    assert.ok(((await node.metric(/^traverse_turn_allocations\{/)) ?? 0) >= 1);
    if (udpRelayAvailability().available) {
      // the UDP channel cases (100 messages each way at least) went through the native data plane, which counts them itself
      const native = async (event: string) => (await node.metric(new RegExp(`^traverse_turn_data_plane_datagrams_total\\{.*event="${event}"`))) ?? 0;
      assert.ok((await native('forwarded-to-peer')) >= 100, `forwarded-to-peer ${await native('forwarded-to-peer')}`);
      assert.ok((await native('forwarded-to-client')) >= 100, `forwarded-to-client ${await native('forwarded-to-client')}`);
      assert.notEqual(await node.metric(/^traverse_turn_data_plane_routes\{?/), undefined);
    }
  });

  it('stops cleanly on SIGTERM', async () => {
    assert.equal(await node.stop(), 0);
  });
});

describe('out of the box: both roles on one address share the TURN port', () => {
  let node: TraverseNode;
  let turnPort = 0;
  let stunPort = 0;
  let peerPort = 0;
  let peerProc: { stop: () => Promise<void> };

  before(async () => {
    const [t, tls, s1, s2, ctl, pp] = await freePorts(6);
    turnPort = t;
    stunPort = s1;
    peerPort = pp;
    peerProc = startProcess(requireBinary('turnutils_peer', 'coturn'), ['-L', A, '-p', String(peerPort)]);
    // only the ports are moved off the defaults (so that the suite runs beside anything); the layout is the default one
    node = await startTraverseNode({
      TRAVERSE_NODE__NAME: 'e2e-turn-shared',
      TRAVERSE_AUTH__FIXED_PASSWORD: PASSWORD,
      TRAVERSE_STUN__PORT_ONE: String(s1),
      TRAVERSE_STUN__PORT_TWO: String(s2),
      TRAVERSE_STUN__MEDIA_ENGINE_PORT: String(s2),
      TRAVERSE_TURN__PORT: String(t),
      TRAVERSE_TURN__MEDIA_ENGINE_PORT: String(t),
      TRAVERSE_TURN__TLS_PORT: String(tls),
      TRAVERSE_TURN__MEDIA_ENGINE_TLS_PORT: String(tls),
      TRAVERSE_TURN__ALLOWED_PEERS: `${A}/32`,
      TRAVERSE_MEDIA_ENGINE__CONTROL_PORT: String(ctl),
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MIN: '43000',
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MAX: '43999',
    });
  });

  after(async () => {
    await node?.stop();
    await peerProc?.stop();
  });

  it('starts, says that one listener serves the front, and relays turnutils_uclient without loss', async () => {
    const msgs = node.logs().map((l) => String(l.msg));
    assert.ok(msgs.some((m) => m.startsWith('TURN front served by the media engine of this process')));
    assert.ok(msgs.some((m) => m.startsWith('secondary STUN server not started')));
    const args = ['-u', 'bob', '-w', PASSWORD, '-p', String(turnPort), '-e', A, '-r', String(peerPort), '-n', '50', '-l', '180', A];
    const r = await run(requireBinary('turnutils_uclient', 'coturn'), args, 60_000);
    const s = uclientSummary(r.stdout + r.stderr);
    assert.ok(s, (r.stdout + r.stderr).slice(-2000));
    assert.equal(s.sent, 100);
    assert.equal(s.received, 100);
    assert.equal(s.lost, 0);
  });

  it('serves IPv6 clients on the same port (the listeners also bind ::)', async () => {
    const args = ['-u', 'bob', '-w', PASSWORD, '-p', String(turnPort), '-e', A, '-r', String(peerPort), '-n', '30', '::1'];
    const r = await run(requireBinary('turnutils_uclient', 'coturn'), args, 60_000);
    const s = uclientSummary(r.stdout + r.stderr);
    assert.ok(s, (r.stdout + r.stderr).slice(-2000));
    assert.equal(s.received, 60);
    assert.equal(s.lost, 0);
  });

  it('answers STUN Binding on port one', async () => {
    const r = await run(requireBinary('turnutils_stunclient', 'coturn'), ['-p', String(stunPort), A], 20_000);
    assert.match(r.stdout + r.stderr, /UDP reflexive addr: 127\.0\.0\.1:\d+/);
  });
});
