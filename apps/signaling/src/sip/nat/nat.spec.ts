// NAT detection (pure) and the NAT keeper over a real SIP transport on loopback, a real
// transaction layer with short timers and the in-memory location service; the clients are UDP
// and TCP sockets that answer keep-alives or stop answering.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { createRequest, createResponse, parseMessage, parseUri, TransactionLayer, type SipRequest, type SipUri } from '@traverse/sip';
import { freePort, waitFor } from '@traverse/testing';
import { NatBindings, NatBindingCreated, NatBindingRefreshed, type StoredEvent } from '@traverse/cluster';
import { SipTransport, udpFlow, type SipSource } from '../transport/sip-transport';
import { InMemoryLocationService } from '../registrar/location-service';
import { detectNat, isPrivateAddress } from './nat-detection';
import { NatKeeper, type NatKeepAliveSettings, type NatKeeperEvent } from './nat-keeper';
import { natBindingData, natBindingRefreshedData, rowsToTakeBack } from './nat-setup';
import { ProxiedRegistrations, type ProxiedRegistrationEvent, type RegistrationAnswer } from '../proxy/registration-proxy';

function register(opts: { via: string; contact: string; transport?: string; callId?: string; cseq?: number }): SipRequest {
  const [host, port] = [opts.via.slice(0, opts.via.lastIndexOf(':')), Number(opts.via.slice(opts.via.lastIndexOf(':') + 1))];
  return createRequest({
    method: 'REGISTER',
    uri: 'sip:example.com',
    from: { uri: 'sip:alice@example.com' },
    to: { uri: 'sip:alice@example.com' },
    via: { transport: opts.transport ?? 'UDP', host, port },
    contact: `<${opts.contact}>`,
    ...(opts.callId ? { callId: opts.callId } : {}),
    ...(opts.cseq ? { cseq: opts.cseq } : {}),
  });
}

describe('isPrivateAddress', () => {
  it('knows RFC 1918, shared CGNAT, link-local and unique local addresses', () => {
    for (const a of ['10.0.0.5', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.127.255.254', '169.254.1.1', 'fd00::1', 'fc12::5', 'fe80::1', '::ffff:10.1.2.3'])
      assert.equal(isPrivateAddress(a), true, a);
    for (const a of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '192.0.2.1', '127.0.0.1', '2001:db8::1', '::1', 'example.com']) assert.equal(isPrivateAddress(a), false, a);
  });
});

describe('detectNat', () => {
  const src = { transport: 'UDP', address: '198.51.100.7', port: 40312 };
  it('sees a Via sent-by that is not the source address', () => {
    const v = detectNat(register({ via: '10.0.0.5:5060', contact: 'sip:alice@10.0.0.5:5060' }), src);
    assert.deepEqual(v, { behindNat: true, reasons: ['via-address', 'contact-private'], privateAddress: '10.0.0.5:5060' });
  });
  it('sees a UDP source port other than the Via port (a port-mapping NAT)', () => {
    const v = detectNat(register({ via: '198.51.100.7:5060', contact: 'sip:alice@198.51.100.7:5060' }), src);
    assert.deepEqual(v.reasons, ['via-port']);
    assert.equal(v.privateAddress, '198.51.100.7:5060');
  });
  it('sees a private Contact from another address even when the Via was fixed up', () => {
    const v = detectNat(register({ via: '198.51.100.7:40312', contact: 'sip:alice@10.0.0.5:5060' }), src);
    assert.deepEqual(v, { behindNat: true, reasons: ['contact-private'], privateAddress: '10.0.0.5:5060' });
  });
  it('takes a client whose Via and Contact are its source as not behind NAT', () => {
    assert.deepEqual(detectNat(register({ via: '198.51.100.7:40312', contact: 'sip:alice@198.51.100.7:40312' }), src), { behindNat: false, reasons: [] });
    const lan = { transport: 'UDP', address: '10.0.0.5', port: 5060 };
    assert.equal(detectNat(register({ via: '10.0.0.5:5060', contact: 'sip:alice@10.0.0.5:5060' }), lan).behindNat, false, 'a private client on the same LAN');
  });
  it('takes a WebSocket client with an invented Contact host as reachable only through its connection', () => {
    const v = detectNat(register({ via: 'x1y2.invalid:0', contact: 'sip:alice@x1y2.invalid;transport=ws', transport: 'WS' }), { transport: 'WS', address: '198.51.100.7', port: 51000 });
    assert.deepEqual(v.reasons, ['contact-not-source']);
  });
  it('reads IPv6 addresses with brackets', () => {
    const v = detectNat(register({ via: '[fd00::5]:5060', contact: 'sip:alice@[fd00::5]:5060' }), { transport: 'UDP', address: '2001:db8::7', port: 5062 });
    assert.deepEqual(v, { behindNat: true, reasons: ['via-address', 'contact-private'], privateAddress: '[fd00::5]:5060' });
  });
});

describe('NatBindings read model', () => {
  it('keeps the Proxy Registrations columns and merges refreshes', () => {
    const m = new NatBindings(1);
    const entry = { id: 'sip:a@x k', aor: 'sip:a@x', key: 'k', contact: 'sip:a@10.0.0.5', transport: 'UDP' as const, publicAddress: '198.51.100.7:4000', privateAddress: '10.0.0.5:5060', flow: 'f', relay: true, reasons: [], registeredAt: 1000, lastSeen: 1000, rate: 3600, expiresAt: 10_000, keepAlive: { sent: 0, answered: 0, failures: 0 } };
    const stored = (type: string, data: unknown) => ({ type, data, shard: 0, version: 1, aggregate: 'x', id: '1-0', node: 'n', time: 0 }) as unknown as StoredEvent;
    m.apply(stored(NatBindingCreated.type, natBindingData(entry, 'n1')));
    m.apply(stored(NatBindingRefreshed.type, { id: entry.id, expiresAt: 20_000, lastSeen: 1500, rate: 500 }));
    const b = m.get(entry.id)!;
    assert.deepEqual({ expiresAt: b.expiresAt, lastSeen: b.lastSeen, rate: b.rate, registeredAt: b.registeredAt, privateAddress: b.privateAddress, relay: b.relay, contact: b.contact }, { expiresAt: 20_000, lastSeen: 1500, rate: 500, registeredAt: 1000, privateAddress: '10.0.0.5:5060', relay: true, contact: 'sip:a@10.0.0.5' });
  });
});

describe('NatKeeper', () => {
  let t: SipTransport;
  let layer: TransactionLayer;
  let port: number;
  const sources: SipSource[] = [];
  let keeper: NatKeeper | undefined;

  before(async () => {
    port = await freePort();
    layer = new TransactionLayer({ timers: { t1: 10, t2: 40, t4: 50 } });
    t = new SipTransport({
      udpPort: port,
      tcpPort: port,
      tlsPort: 0,
      hosts: ['127.0.0.1'],
      maxUdpPacketSize: 1300,
      idleTimeoutMs: 60_000,
      onMessage: (m, s) => {
        if (m.kind === 'response') layer.receiveResponse(m);
        else sources.push(s);
      },
      onEvent: (e) => {
        if (e.type === 'pong') keeper?.pong(e.flow);
      },
    });
    await t.start();
  });

  after(async () => {
    keeper?.stop();
    layer.stop();
    await t.stop();
  });

  /** A keeper over the transport and layer under test, clients behind NAT relayed. */
  const keeperOf = (location: InMemoryLocationService, settings: NatKeepAliveSettings, onEvent?: (e: NatKeeperEvent) => void) =>
    new NatKeeper({ transport: t, layer, location, settings, relay: () => true, ...(onEvent ? { onEvent } : {}) });

  /** Where a UDP client on 127.0.0.1 at `clientPort` is seen from the transport under test. */
  const udpSource = (clientPort: number): SipSource => ({
    transport: 'UDP',
    address: '127.0.0.1',
    port: clientPort,
    local: { address: '127.0.0.1', port },
    flow: udpFlow(port, '127.0.0.1', clientPort),
  });

  /** Registers alice's binding as the registrar would, and tells the keeper. */
  async function registered(k: NatKeeper, location: InMemoryLocationService, source: SipSource, contact: string, req: SipRequest) {
    const bindings = await location.update('sip:alice@example.com', {
      upsert: [{ aor: 'sip:alice@example.com', contact, expiresAt: Date.now() + 300_000, q: 1, node: 'n1', callId: req.callId, cseq: req.cseq.seq, received: `${source.address}:${source.port}`, transport: source.transport, behindNat: true }],
      remove: [],
    });
    k.registered(bindings, createResponse(req, 200), source, detectNat(req, source));
  }

  it('pings a client behind NAT with OPTIONS on its flow, counts answers, and removes it when it stops answering', async () => {
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    let answer = true;
    const pings: SipRequest[] = [];
    client.on('message', (m) => {
      const p = parseMessage(m);
      if (!p.ok || p.value.kind !== 'request') return;
      pings.push(p.value);
      if (answer) client.send(createResponse(p.value, 200).toBuffer(), port, '127.0.0.1');
    });
    const location = new InMemoryLocationService();
    const events: NatKeeperEvent[] = [];
    const k = keeperOf(location, { method: 'options', intervalMs: 1000, failures: 2 }, (e) => events.push(e));
    keeper = k;
    try {
      const source: SipSource = udpSource(client.address().port);
      const req = register({ via: '10.0.0.5:5060', contact: 'sip:alice@10.0.0.5:5060' });
      await registered(k, location, source, 'sip:alice@10.0.0.5:5060', req);
      const [e] = k.list();
      assert.equal(e.publicAddress, `127.0.0.1:${client.address().port}`);
      assert.equal(e.privateAddress, '10.0.0.5:5060');
      assert.equal(e.transport, 'UDP');
      assert.equal(e.rate, 300);
      assert.equal(events[0].type, 'created');

      k.tick(Date.now()); // not due yet
      assert.equal(pings.length, 0);
      k.tick(Date.now() + 1000);
      const ping = await waitFor('the OPTIONS', () => pings[0]);
      assert.equal(ping.method, 'OPTIONS');
      assert.equal(ping.requestUri, 'sip:alice@10.0.0.5:5060', 'addressed to the contact, sent to the public address');
      assert.equal(ping.topVia?.host, '127.0.0.1');
      await waitFor('the answer counted', () => (k.list()[0].keepAlive.answered === 1 ? true : undefined));

      answer = false;
      k.tick(Date.now() + 2000);
      await waitFor('one failure', () => (k.list()[0]?.keepAlive.failures === 1 ? true : undefined));
      assert.equal(location.size, 1, 'one failure is not enough');
      k.tick(Date.now() + 3000);
      await waitFor('the registration removed', () => (location.size === 0 ? true : undefined));
      assert.equal(k.size, 0);
      assert.ok(events.some((x) => x.type === 'unreachable'));
      const released = events.find((x) => x.type === 'released');
      assert.ok(released && released.type === 'released' && released.reason === 'flow-failed');
    } finally {
      k.stop();
      client.close();
    }
  });

  it('refreshes an entry on re-registration with the measured rate, and releases it when unregistered', async () => {
    let now = 1_000_000;
    const location = new InMemoryLocationService(() => now);
    const events: NatKeeperEvent[] = [];
    const k = new NatKeeper({ transport: t, layer, location, settings: { method: 'none', intervalMs: 1000, failures: 1 }, relay: () => false, onEvent: (e) => events.push(e), now: () => now });
    const source: SipSource = udpSource(40000);
    await registered(k, location, source, 'sip:alice@10.0.0.5:5060', register({ via: '10.0.0.5:5060', contact: 'sip:alice@10.0.0.5:5060', callId: 'c1', cseq: 1 }));
    now += 45_000;
    await registered(k, location, source, 'sip:alice@10.0.0.5:5060', register({ via: '10.0.0.5:5060', contact: 'sip:alice@10.0.0.5:5060', callId: 'c1', cseq: 2 }));
    assert.deepEqual(
      events.map((e) => e.type),
      ['created', 'refreshed'],
    );
    assert.equal(k.list(now)[0].rate, 45);
    assert.equal(k.list(now)[0].relay, false);
    k.tick(now + 10_000);
    assert.equal(events.length, 2, 'method none: no keep-alive');
    await location.remove('sip:alice@example.com', undefined, 'unregistered');
    assert.equal(k.size, 0);
    assert.equal(events.at(-1)?.type, 'released');
  });

  it('answers CRLF pings counted from pongs, and removes a client whose connection closed', async () => {
    const location = new InMemoryLocationService();
    const events: NatKeeperEvent[] = [];
    const k = keeperOf(location, { method: 'crlf', intervalMs: 1000, failures: 3 }, (e) => events.push(e));
    keeper = k;
    const c = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => c.once('connect', () => r()));
    const data: Buffer[] = [];
    c.on('data', (d: Buffer) => {
      data.push(d);
      if (d.toString() === '\r\n\r\n') c.write('\r\n');
    });
    try {
      sources.length = 0;
      const req = register({ via: `10.0.0.5:${c.localPort}`, contact: 'sip:alice@10.0.0.5:5060;transport=tcp', transport: 'TCP' });
      c.write(req.toBuffer());
      const source = await waitFor('the REGISTER over TCP', () => sources[0]);
      await registered(k, location, source, 'sip:alice@10.0.0.5:5060;transport=tcp', req);
      k.tick(Date.now() + 1000);
      await waitFor('the pong counted', () => (k.list()[0]?.keepAlive.answered === 1 ? true : undefined));
      assert.equal(Buffer.concat(data).toString(), '\r\n\r\n');

      c.destroy();
      await waitFor('the connection gone', () => (t.hasFlow(source.flow) ? undefined : true));
      k.tick(Date.now() + 3000);
      await waitFor('the registration removed', () => (location.size === 0 ? true : undefined));
      const u = events.find((x) => x.type === 'unreachable');
      assert.ok(u && u.type === 'unreachable' && /connection is closed/.test(u.why));
    } finally {
      k.stop();
      c.destroy();
    }
  });

  it('removes at once a client whose connection closed, keeping UDP clients', async () => {
    const location = new InMemoryLocationService();
    const events: NatKeeperEvent[] = [];
    const k = keeperOf(location, { method: 'none', intervalMs: 1000, failures: 3 }, (e) => events.push(e));
    const c = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => c.once('connect', () => r()));
    try {
      sources.length = 0;
      const req = register({ via: `10.0.0.5:${c.localPort}`, contact: 'sip:alice@10.0.0.5:5060;transport=tcp', transport: 'TCP' });
      c.write(req.toBuffer());
      const source = await waitFor('the REGISTER over TCP', () => sources[0]);
      await registered(k, location, source, 'sip:alice@10.0.0.5:5060;transport=tcp', req);
      assert.equal(k.size, 1);
      k.flowClosed(udpFlow(port, '127.0.0.1', 5060));
      assert.equal(k.size, 1, 'another flow: nothing happens');
      k.flowClosed(source.flow);
      await waitFor('the registration removed', () => (location.size === 0 && k.size === 0 ? true : undefined));
      const u = events.find((x) => x.type === 'unreachable');
      assert.ok(u && u.type === 'unreachable' && u.why === 'its connection closed');
    } finally {
      c.destroy();
    }
  });

  it('takes back after a restart the clients it held (from its rows of the cluster table): pings the UDP one again, removes the one whose connection closed, releases a row whose registration is gone', async () => {
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const pings: SipRequest[] = [];
    client.on('message', (m) => {
      const p = parseMessage(m);
      if (!p.ok || p.value.kind !== 'request') return;
      pings.push(p.value);
      client.send(createResponse(p.value, 200).toBuffer(), port, '127.0.0.1');
    });
    const c = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => c.once('connect', () => r()));
    const location = new InMemoryLocationService();
    // the cluster's table, fed by the first keeper's events as the cluster node folds them
    const table = new NatBindings(1);
    let seq = 0;
    const stored = (type: string, data: unknown) =>
      ({ type, data, shard: 0, version: 1, aggregate: 'x', id: `${++seq}-0`, node: 'n1', time: 0 }) as unknown as StoredEvent;
    const before = keeperOf(location, { method: 'options', intervalMs: 1000, failures: 2 }, (e) => {
      if (e.type === 'created') table.apply(stored(NatBindingCreated.type, natBindingData(e.entry, 'n1')));
    });
    const events: NatKeeperEvent[] = [];
    const after = keeperOf(location, { method: 'options', intervalMs: 1000, failures: 2 }, (e) => events.push(e));
    keeper = after;
    try {
      // alice on UDP, bob over TCP, carol on UDP (her registration will be gone)
      const udp: SipSource = udpSource(client.address().port);
      await registered(
        before,
        location,
        udp,
        'sip:alice@10.0.0.5:5060',
        register({ via: '10.0.0.5:5060', contact: 'sip:alice@10.0.0.5:5060' }),
      );
      sources.length = 0;
      /** A user's REGISTER from its LAN address, and the binding the registrar grants it (told to the first keeper). */
      const request = (user: string, lan: string, transport: 'UDP' | 'TCP', viaPort: number) => {
        const contact = `sip:${user}@${lan}:5060${transport === 'TCP' ? ';transport=tcp' : ''}`;
        const req = createRequest({
          method: 'REGISTER',
          uri: 'sip:example.com',
          from: { uri: `sip:${user}@example.com` },
          to: { uri: `sip:${user}@example.com` },
          via: { transport, host: lan, port: viaPort },
          contact: `<${contact}>`,
        });
        return { aor: `sip:${user}@example.com`, contact, req };
      };
      const granted = async ({ aor, contact, req }: ReturnType<typeof request>, source: SipSource) => {
        const binding = { aor, contact, expiresAt: Date.now() + 300_000, q: 1, node: 'n1', callId: req.callId, cseq: 1, transport: source.transport, behindNat: true };
        const bindings = await location.update(aor, { upsert: [binding], remove: [] });
        before.registered(bindings, createResponse(req, 200), source, detectNat(req, source));
      };
      const bob = request('bob', '10.0.0.6', 'TCP', c.localPort!);
      c.write(bob.req.toBuffer());
      const tcp = await waitFor('the REGISTER over TCP', () => sources[0]);
      await granted(bob, tcp);
      await granted(request('carol', '10.0.0.7', 'UDP', 5060), udp);
      assert.equal(before.size, 3);
      assert.equal(table.list().length, 3);

      // the node restarts: the first keeper is gone with its connection; carol unregistered meanwhile
      c.destroy();
      await waitFor('the connection gone', () => (t.hasFlow(tcp.flow) ? undefined : true));
      await location.remove('sip:carol@example.com', undefined, 'unregistered');
      const back = rowsToTakeBack(table.list(), 'n1');
      assert.deepEqual(back.lost, []);
      assert.deepEqual(rowsToTakeBack(table.list(), 'n2').kept, [], "another node's rows are not this node's");
      after.adopt(back.kept);

      await waitFor("bob's registration removed", () => (location.lookup('sip:bob@example.com').length === 0 ? true : undefined));
      const released = events.flatMap((e) => (e.type === 'released' ? [[e.entry.aor, e.reason]] : [])).sort();
      assert.deepEqual(released, [
        ['sip:bob@example.com', 'flow-failed'],
        ['sip:carol@example.com', 'unregistered'],
      ]);
      assert.ok(events.some((e) => e.type === 'unreachable' && e.entry.aor === 'sip:bob@example.com' && /restarted/.test(e.why)));
      assert.deepEqual(
        after.list().map((e) => [e.aor, e.publicAddress, e.privateAddress, e.flow]),
        [['sip:alice@example.com', `127.0.0.1:${client.address().port}`, '10.0.0.5:5060', udp.flow]],
      );

      after.tick(Date.now() + 1000);
      const ping = await waitFor('the OPTIONS to alice after the restart', () => pings[0]);
      assert.equal(ping.requestUri, 'sip:alice@10.0.0.5:5060');
      await waitFor('the answer counted', () => (after.list()[0].keepAlive.answered === 1 ? true : undefined));
    } finally {
      after.stop();
      client.close();
      c.destroy();
    }
  });

  it('releases a row of the cluster table that lacks the flow (written before rows carried it)', () => {
    const rows = [
      {
        id: 'sip:a@x k',
        aor: 'sip:a@x',
        transport: 'UDP',
        publicAddress: '198.51.100.7:4000',
        node: 'n1',
        expiresAt: Date.now() + 60_000,
        contact: 'sip:a@10.0.0.5',
      },
    ];
    assert.deepEqual(rowsToTakeBack(rows, 'n1'), { kept: [], proxied: [], lost: ['sip:a@x k'] });
  });

  it('ignores a REGISTER that was refused and bindings other requests wrote', async () => {
    const location = new InMemoryLocationService();
    const k = keeperOf(location, { method: 'none', intervalMs: 1000, failures: 1 });
    const req = register({ via: '10.0.0.5:5060', contact: 'sip:alice@10.0.0.5:5060' });
    const source: SipSource = udpSource(40001);
    const bindings = await location.update('sip:alice@example.com', { upsert: [{ aor: 'sip:alice@example.com', contact: 'sip:alice@10.0.0.5:5060', expiresAt: Date.now() + 60_000, q: 1, node: 'n1', callId: 'other', cseq: 9 }], remove: [] });
    k.registered(bindings, createResponse(req, 200), source, detectNat(req, source));
    k.registered(bindings, createResponse(req, 401), source, detectNat(req, source));
    assert.equal(k.size, 0);
  });
});

describe('proxied registrations after a restart', () => {
  it('takes back its rows of the cluster table: a UDP client keeps its token, path mode and keep-alives; one on a connection (closed with the restart) is released', () => {
    let now = 1_000_000;
    const table = new NatBindings(1);
    let seq = 0;
    const stored = (type: string, data: unknown) =>
      ({ type, data, shard: 0, version: 1, aggregate: 'x', id: `${++seq}-0`, node: 'n1', time: 0 }) as unknown as StoredEvent;
    const before = new ProxiedRegistrations(
      (e) => {
        if (e.type === 'created') table.apply(stored(NatBindingCreated.type, natBindingData(e.entry, 'n1')));
        if (e.type === 'refreshed') table.apply(stored(NatBindingRefreshed.type, natBindingRefreshedData(e.entry)));
      },
      () => now,
    );
    const parsed = parseUri('sip:alice@10.0.0.5:5060');
    assert.ok(parsed.ok);
    const contact = parsed.value as SipUri;
    const answer = (over: Partial<RegistrationAnswer>): RegistrationAnswer => ({
      aor: 'sip:alice@remote.test',
      domain: 'remote.test',
      star: false,
      granted: new Map([['sip:alice@10.0.0.5:5060', { uri: contact, expires: 300 }]]),
      transport: 'UDP',
      publicAddress: '127.0.0.1:5062',
      privateAddress: '10.0.0.5:5060',
      flow: 'udp-1',
      token: 't1',
      behindNat: true,
      via: 'contact',
      relay: true,
      ...over,
    });
    before.answered(answer({}));
    now += 60_000;
    before.answered(answer({ token: 't2', flow: 'udp-2' })); // a refresh: new token and flow, same address
    before.answered(answer({ aor: 'sip:bob@remote.test', transport: 'TCP', publicAddress: '127.0.0.1:40000', flow: 'tcp-7', via: 'path' }));

    const back = rowsToTakeBack(table.list(now), 'n1');
    assert.equal(back.proxied.length, 2);
    const events: ProxiedRegistrationEvent[] = [];
    const after = new ProxiedRegistrations(
      (e) => events.push(e),
      () => now,
    );
    const pings: string[] = [];
    after.keepAlive = { intervalMs: () => 30_000, ping: (flow) => (pings.push(flow), true) };
    after.adopt(back.proxied);
    assert.deepEqual(
      events.map((e) => [e.type, e.entry.aor, (e as { reason?: string }).reason]),
      [['released', 'sip:bob@remote.test', 'flow-failed']],
    );
    const [alice] = after.list();
    assert.deepEqual(
      {
        domain: alice.domain,
        token: alice.token,
        via: alice.via,
        flow: alice.flow,
        behindNat: alice.behindNat,
        registeredAt: alice.registeredAt,
        lastSeen: alice.lastSeen,
        rate: alice.rate,
        expiresAt: alice.expiresAt,
      },
      {
        domain: 'remote.test',
        token: 't2',
        via: 'contact',
        flow: 'udp-2',
        behindNat: true,
        registeredAt: 1_000_000,
        lastSeen: 1_060_000,
        rate: 60,
        expiresAt: 1_360_000,
      },
    );
    // what the proxy asks of the table works again: the rewritten contact's token after a NAT rebind, the client by its flow's address
    assert.equal(after.staleToken('sip:alice@remote.test', 'sip:alice@10.0.0.5:5060', 't3'), 't2');
    assert.equal(after.byFlowToken({ transport: 'UDP', address: '127.0.0.1', port: 5062, strict: true })?.id, alice.id);
    now += 30_000;
    after.tick();
    assert.deepEqual(pings, ['udp-2'], 'keep-alives go on');
  });
});
