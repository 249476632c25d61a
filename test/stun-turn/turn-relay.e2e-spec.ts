/**
 * TURN relay end to end: coturn's turnutils_uclient drives the TurnServer on loopback through
 * turnutils_peer (UDP and TCP, channels and Send indications, IPv6 and dual allocations,
 * RFC 6062 TCP allocations), and nothing may be lost.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { generate } from 'selfsigned';
import { Attr, StunClass, TransportProtocol, attributeValue, longTermKey } from '@traverse/stun';
import { TurnServer } from '../../apps/media-engine/src/turn/turn-server';
import {
  StunMethod,
  TestTurnClient,
  errorCodeOf,
  freePort,
  requireBinary,
  run,
  startProcess,
  uclientSummary,
  TEST_DATA_PLANE,
} from './helpers';

const REALM = 'traverse.test';

describe('TURN relay with turnutils_uclient and turnutils_peer', () => {
  let server: TurnServer;
  let uclient: string;
  let udpPort = 0;
  let tcpPort = 0;
  let udp6Port = 0;
  let tlsPort = 0;
  let peerPort = 0;
  let skew = 0;
  const peers: { stop: () => Promise<void> }[] = [];

  before(async () => {
    uclient = requireBinary('turnutils_uclient', 'coturn');
    const peerBin = requireBinary('turnutils_peer', 'coturn');
    peerPort = await freePort();
    peers.push(startProcess(peerBin, ['-L', '127.0.0.1', '-p', String(peerPort)]));
    peers.push(startProcess(peerBin, ['-L', '::1', '-p', String(peerPort)]));
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048 });
    server = new TurnServer({
      dataPlane: TEST_DATA_PLANE,
      listeners: [
        { transport: 'tls', address: '127.0.0.1', port: 0, tls: { key: pems.private, cert: pems.cert } },
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'tcp', address: '127.0.0.1', port: 0 },
        { transport: 'udp', address: '::1', port: 0 },
      ],
      relayAddresses: { ipv4: '127.0.0.1', ipv6: '::1' },
      relayPorts: { min: 41000, max: 41999 },
      realm: REALM,
      clock: () => Date.now() + skew,
      authenticate: async (u, r) => (u === 'alice' ? longTermKey(u, r, 'wonderland') : undefined),
      // the test peer lives on loopback: open exactly that host, everything else stays denied
      peerPolicy: { allow: ['127.0.0.1/32', '::1/128'] },
    });
    await server.start();
    const l = server.listeners;
    udpPort = l.find((x) => x.transport === 'udp' && x.address === '127.0.0.1')!.port;
    tcpPort = l.find((x) => x.transport === 'tcp')!.port;
    udp6Port = l.find((x) => x.transport === 'udp' && x.address === '::1')!.port;
    tlsPort = l.find((x) => x.transport === 'tls')!.port;
    await new Promise((r) => setTimeout(r, 300));
  });

  after(async () => {
    await server?.stop();
    await Promise.all(peers.map((p) => p.stop()));
  });

  const cases: { name: string; flags: string[]; peer?: string; port: () => number; server?: string; expected: number }[] = [
    { name: 'UDP, channels', flags: [], port: () => udpPort, expected: 100 },
    { name: 'UDP, Send/Data indications', flags: ['-s'], port: () => udpPort, expected: 100 },
    { name: 'TCP, channels', flags: ['-t'], port: () => tcpPort, expected: 100 },
    { name: 'TCP, Send/Data indications', flags: ['-t', '-s'], port: () => tcpPort, expected: 100 },
    { name: 'TLS, channels', flags: ['-t', '-S'], port: () => tlsPort, expected: 100 },
    { name: 'TLS, RFC 6062 TCP allocation', flags: ['-T', '-S'], port: () => tlsPort, expected: 100 },
    { name: 'UDP, client to client through two allocations', flags: ['-y'], port: () => udpPort, expected: 200 },
    { name: 'TCP, client to client through two allocations', flags: ['-t', '-y'], port: () => tcpPort, expected: 200 },
    { name: 'IPv6 relayed address (RFC 6156), channels', flags: ['-x'], peer: '::1', port: () => udpPort, expected: 100 },
    { name: 'IPv6 relayed address, Send indications', flags: ['-x', '-s'], peer: '::1', port: () => udpPort, expected: 100 },
    { name: 'IPv6 client transport to an IPv6 listener', flags: ['-x'], peer: '::1', port: () => udp6Port, server: '::1', expected: 100 },
    { name: 'dual allocation (ADDITIONAL-ADDRESS-FAMILY)', flags: ['-Z'], port: () => udpPort, expected: 50 },
    { name: 'RFC 6062 TCP allocation (Connect / ConnectionBind / ConnectionAttempt)', flags: ['-T'], port: () => tcpPort, expected: 100 },
  ];

  for (const c of cases) {
    it(`${c.name}: every message comes back`, async () => {
      const args = [
        ...c.flags,
        '-u',
        'alice',
        '-w',
        'wonderland',
        '-p',
        String(c.port()),
        '-e',
        c.peer ?? '127.0.0.1',
        '-r',
        String(peerPort),
        '-n',
        '50',
        '-l',
        '180',
        c.server ?? '127.0.0.1',
      ];
      const r = await run(uclient, args, 60_000);
      const out = r.stdout + r.stderr;
      const s = uclientSummary(out);
      assert.ok(s, `no summary from turnutils_uclient ${args.join(' ')}:\n${out.slice(-2000)}`);
      assert.equal(s.sent, c.expected, out.slice(-1500));
      assert.equal(s.received, s.sent, out.slice(-1500));
      assert.equal(s.lost, 0);
      assert.doesNotMatch(out, /error \d{3}/);
    });
  }

  // turnutils_uclient -P counts only one direction (coturn's own server shows the same 50%), so the
  // passive case is driven here by a client on @traverse/stun and a plain TCP peer.
  it('RFC 6062 passive: a peer connects to the relayed address, ConnectionAttempt, ConnectionBind, bytes both ways', async () => {
    const at = { address: '127.0.0.1', port: tcpPort };
    const control = new TestTurnClient(at, 'alice', 'wonderland', 'tcp');
    const data = new TestTurnClient(at, 'alice', 'wonderland', 'tcp');
    await control.open();
    let peer: net.Socket | undefined;
    try {
      const alloc = await control.allocate([{ type: Attr.RequestedTransport, value: TransportProtocol.TCP }]);
      const relayed = attributeValue(alloc, Attr.XorRelayedAddress);
      assert.ok(relayed, `allocate: ${errorCodeOf(alloc)}`);
      assert.equal(
        errorCodeOf(
          await control.request(StunMethod.CreatePermission, [
            { type: Attr.XorPeerAddress, value: { family: 4, address: '127.0.0.1', port: 1 } },
          ]),
        ),
        0,
      );
      const p = net.connect({ host: '127.0.0.1', port: relayed.port });
      peer = p;
      const peerGot: Buffer[] = [];
      p.on('data', (d: Buffer) => peerGot.push(d));
      await new Promise((r) => p.once('connect', r));
      p.write('from-peer');
      await waitUntil(() => control.indications.some((m) => m.method === StunMethod.ConnectionAttempt));
      const attempt = control.indications.find((m) => m.method === StunMethod.ConnectionAttempt)!;
      assert.equal(attributeValue(attempt, Attr.XorPeerAddress)?.port, p.localPort);
      await data.open();
      const raw: Buffer[] = [];
      data.onRaw = (b) => raw.push(b);
      const bind = await data.request(StunMethod.ConnectionBind, [
        { type: Attr.ConnectionId, value: attributeValue(attempt, Attr.ConnectionId)! },
      ]);
      assert.equal(bind.cls, StunClass.SuccessResponse, `bind: ${errorCodeOf(bind)}`);
      data.sendRaw(Buffer.from('from-client'));
      await waitUntil(() => Buffer.concat(peerGot).toString() === 'from-client' && Buffer.concat(raw).toString().endsWith('from-peer'));
    } finally {
      peer?.destroy();
      await data.close();
      await control.close();
    }
  });

  it('wrong password: turnutils_uclient gets 401 and relays nothing', async () => {
    const before = server.table.size;
    const r = await run(
      uclient,
      ['-u', 'alice', '-w', 'queen-of-hearts', '-p', String(udpPort), '-e', '127.0.0.1', '-r', String(peerPort), '-n', '5', '127.0.0.1'],
      30_000,
    );
    const out = r.stdout + r.stderr;
    assert.match(out, /401|Unauthorized|Unauthenticated|cannot/i);
    assert.equal(server.table.size, before);
  });

  it('allocations left behind by UDP clients expire with their lifetime', async () => {
    assert.ok(server.table.size > 0, 'turnutils_uclient leaves its UDP allocations to expire');
    skew += 3601_000;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(server.table.size, 0);
  });
});

async function waitUntil(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
