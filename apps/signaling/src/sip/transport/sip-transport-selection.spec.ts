// Transport selection (RFC 3261 18.1.1), flows, the node's own address, IPv6 and run-time
// settings of the SIP transport, on loopback sockets (UDP and TCP peers, no mocks).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { createRequest, parseMessage, SipStreamParser, type SipMessage, type SipRequest } from '@traverse/sip';
import { freePort, waitFor } from '@traverse/testing';
import { SipTransport, parseUdpFlow, selectTransport, udpFlow, type SipSource, type SipTransportEvent } from './sip-transport';
import { SourceRateLimiter } from './rate-limiter';


function request(method: string, viaHost: string, viaPort: number, body = ''): SipRequest {
  return createRequest({
    method,
    uri: 'sip:bob@example.com',
    from: { uri: 'sip:alice@example.com' },
    to: { uri: 'sip:bob@example.com' },
    via: { transport: 'UDP', host: viaHost, port: viaPort },
    ...(body ? { body, contentType: 'text/plain' } : {}),
  });
}

describe('selectTransport (RFC 3261 18.1.1)', () => {
  const opts = { maxUdpPacketSize: 1300, tcpEnabled: true };
  it('keeps UDP up to the maximum size and moves larger requests to TCP', () => {
    assert.equal(selectTransport({ kind: 'request', bytes: 1300 }, { transport: 'UDP' }, opts), 'UDP');
    assert.equal(selectTransport({ kind: 'request', bytes: 1301 }, { transport: 'UDP' }, opts), 'TCP');
  });
  it('never moves responses, other transports, an enforced transport or a UDP flow', () => {
    assert.equal(selectTransport({ kind: 'response', bytes: 5000 }, { transport: 'UDP' }, opts), 'UDP');
    assert.equal(selectTransport({ kind: 'request', bytes: 5000 }, { transport: 'TLS' }, opts), 'TLS');
    assert.equal(selectTransport({ kind: 'request', bytes: 5000 }, { transport: 'UDP', forceTransport: true }, opts), 'UDP');
    assert.equal(selectTransport({ kind: 'request', bytes: 5000 }, { transport: 'UDP', flow: 'udp:5060:192.0.2.1:4000' }, opts), 'UDP');
    assert.equal(selectTransport({ kind: 'request', bytes: 5000 }, { transport: 'UDP' }, { ...opts, tcpEnabled: false }), 'UDP');
  });
});

describe('UDP flow tokens', () => {
  it('round-trip IPv4 and IPv6 5-tuples and refuse anything else', () => {
    assert.deepEqual(parseUdpFlow(udpFlow(5060, '192.0.2.1', 4000)), { localPort: 5060, address: '192.0.2.1', port: 4000 });
    assert.deepEqual(parseUdpFlow(udpFlow(5060, '2001:db8::1', 4000)), { localPort: 5060, address: '2001:db8::1', port: 4000 });
    assert.equal(parseUdpFlow('tcp-1a'), undefined);
    assert.equal(parseUdpFlow('udp:x:192.0.2.1:1'), undefined);
    assert.equal(parseUdpFlow('udp:5060:not-an-ip:1'), undefined);
  });
});

describe('SourceRateLimiter.configure', () => {
  it('takes a new rate and burst at run time, and 0 turns the limit off', () => {
    let now = 0;
    const l = new SourceRateLimiter({ rate: 1, burst: 2, now: () => now });
    assert.deepEqual([l.allow('a'), l.allow('a'), l.allow('a')], [true, true, false]);
    l.configure(0, 2);
    assert.deepEqual([l.allow('a'), l.allow('a'), l.allow('a')], [true, true, true]);
    l.configure(1000, 1);
    now += 10;
    assert.deepEqual([l.allow('b'), l.allow('b')], [true, false]);
    assert.deepEqual(l.limit, { rate: 1000, burst: 1 });
  });
});

describe('SipTransport sending, flows and own address', () => {
  let t: SipTransport;
  let port: number;
  const received: Array<{ msg: SipMessage; source: SipSource }> = [];
  const events: SipTransportEvent[] = [];

  before(async () => {
    port = await freePort();
    t = new SipTransport({
      udpPort: port,
      tcpPort: port,
      tlsPort: 0,
      hosts: ['127.0.0.1', '::1'],
      maxUdpPacketSize: 1300,
      rateLimit: { rate: 1000, burst: 1000 },
      idleTimeoutMs: 60_000,
      onMessage: (msg, source) => received.push({ msg, source }),
      onEvent: (e) => events.push(e),
    });
    await t.start();
  });

  after(async () => {
    await t.stop();
  });

  it('listens on IPv6 and answers an IPv6 source; its flow token names the 5-tuple', async () => {
    const s = dgram.createSocket('udp6');
    await new Promise<void>((r) => s.bind(0, '::1', () => r()));
    const got: Buffer[] = [];
    s.on('message', (m) => got.push(m));
    try {
      received.length = 0;
      s.send(request('OPTIONS', '[::1]', s.address().port).toBuffer(), port, '::1');
      const { source } = await waitFor('the request', () => received[0]);
      assert.equal(source.address, '::1');
      assert.equal(source.flow, udpFlow(port, '::1', s.address().port));
      assert.ok(t.hasFlow(source.flow));
      assert.ok(t.ping(source.flow));
      assert.equal((await waitFor('the ping', () => got[0])).toString(), '\r\n\r\n');
      s.send(Buffer.from('\r\n'), port, '::1');
      const pong = await waitFor('the pong event', () => events.find((e) => e.type === 'pong' && e.flow === source.flow));
      assert.ok(pong);
    } finally {
      s.close();
    }
  });

  it('sends a large request on a UDP flow over UDP from the socket the client reached', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const got: Buffer[] = [];
    s.on('message', (m) => got.push(m));
    try {
      const flow = udpFlow(port, '127.0.0.1', s.address().port);
      const big = request('MESSAGE', '127.0.0.1', port, 'x'.repeat(2000));
      assert.equal(t.dispatch(big, { transport: 'UDP', address: '192.0.2.99', port: 9, flow }), 'UDP');
      const m = parseMessage(await waitFor('the datagram', () => got[0]));
      assert.ok(m.ok && m.value.kind === 'request');
      assert.equal(m.value.body.length, 2000);
      assert.equal(m.value.topVia?.transport, 'UDP');
    } finally {
      s.close();
    }
  });

  it('moves a large request to TCP with its Via and port saying so, and the channel turns reliable', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const peerPort = (server.address() as net.AddressInfo).port;
    const parser = new SipStreamParser();
    const got: SipMessage[] = [];
    server.on('connection', (sock) => sock.on('data', (d: Buffer) => got.push(...parser.push(d).flatMap((ev) => (ev.kind === 'message' ? [ev.value] : [])))));
    try {
      events.length = 0;
      const channel = t.channelTo({ transport: 'UDP', address: '127.0.0.1', port: peerPort });
      assert.equal(channel.reliable, false);
      const via = t.via('UDP', '127.0.0.1', 'z9hG4bK-selection-1');
      const big = createRequest({ method: 'MESSAGE', uri: `sip:bob@127.0.0.1:${peerPort}`, from: { uri: 'sip:alice@example.com' }, to: { uri: 'sip:bob@example.com' }, via: { transport: via.transport, host: via.host, port: via.port!, branch: via.branch! }, body: 'y'.repeat(1400), contentType: 'text/plain' });
      assert.ok(channel.send(big));
      assert.equal(channel.reliable, true, 'no retransmissions over TCP');
      const m = await waitFor('the request over TCP', () => got[0]);
      assert.equal(m.topVia?.transport, 'TCP');
      assert.equal(m.topVia?.port, t.portOf('TCP'));
      assert.equal(m.topVia?.branch, 'z9hG4bK-selection-1');
      const sw = events.find((e) => e.type === 'transport-switched');
      assert.ok(sw && sw.type === 'transport-switched' && sw.from === 'UDP' && sw.to === 'TCP' && sw.bytes > 1300);
    } finally {
      server.close();
      for (const e of events) if (e.type === 'connection-open' && !e.inbound) e.connection.close();
    }
  });

  it('follows a new maximum UDP packet size at run time', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const got: Buffer[] = [];
    s.on('message', (m) => got.push(m));
    try {
      t.configure({ maxUdpPacketSize: 4000 });
      const big = request('MESSAGE', '127.0.0.1', port, 'z'.repeat(2000));
      assert.equal(t.dispatch(big, { transport: 'UDP', address: '127.0.0.1', port: s.address().port }), 'UDP');
      await waitFor('the datagram', () => got[0]);
    } finally {
      t.configure({ maxUdpPacketSize: 1300 });
      s.close();
    }
  });

  it('names itself by the listener address, loopback toward loopback, or the advertised public address', () => {
    assert.deepEqual(t.sentBy('UDP', '127.0.0.1'), { host: '127.0.0.1', port });
    assert.deepEqual(t.sentBy('TCP', '::1'), { host: '[::1]', port });
    assert.match(t.ownUri('TCP', '::1'), new RegExp(`^sip:\\[::1\\]:${port};transport=tcp;lr$`));
    t.configure({ advertisedAddress: 'sip.example.net' });
    try {
      assert.deepEqual(t.sentBy('UDP', '127.0.0.1'), { host: 'sip.example.net', port });
      const v = t.via('UDP', '127.0.0.1', 'z9hG4bK-1');
      assert.equal(v.host, 'sip.example.net');
      assert.equal(v.rport, null, 'rport asked for');
      t.configure({ advertisedAddress: '2001:db8::5' });
      assert.equal(t.sentBy('UDP', '127.0.0.1').host, '[2001:db8::5]');
    } finally {
      t.configure({ advertisedAddress: '' });
    }
  });

  it('drops a message on a WebSocket flow that is gone, telling the caller', () => {
    let error = '';
    assert.equal(t.dispatch(request('OPTIONS', '127.0.0.1', port), { transport: 'WS', address: '127.0.0.1', port: 1, flow: 'ws-gone' }, (e) => (error = e)), undefined);
    assert.match(error, /gone/);
  });
});
