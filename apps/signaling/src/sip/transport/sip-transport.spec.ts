// The SIP transport on loopback sockets: real UDP and TCP peers, no mocks.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { createRequest, createResponse, parseMessage, SipStreamParser, type SipMessage, type SipRequest } from '@traverse/sip';
import { freePort, waitFor } from '@traverse/testing';
import { Attr, StunClass, attributeValue, decodeMessage as decodeStun } from '@traverse/stun';
import { udpRelayAvailability } from '@traverse/udp-relay';
import { SipTransport, UdpListener, type SipSource, type SipTransportEvent } from './sip-transport';


function request(method: string, viaPort: number, transport = 'UDP', body?: string): SipRequest {
  return createRequest({
    method,
    uri: 'sip:bob@example.com',
    from: { uri: 'sip:alice@example.com' },
    to: { uri: 'sip:bob@example.com' },
    via: { transport, host: '192.0.2.1', port: viaPort },
    ...(body !== undefined ? { body, contentType: 'text/plain' } : {}),
  });
}

async function udpPeer() {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  return { s, got, port: s.address().port };
}

// every test runs on both kinds of UDP socket
const suite = (udpSockets: 'native' | 'node') => () => {
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
      hosts: ['127.0.0.1'],
      maxUdpPacketSize: 1300,
      udpSockets,
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

  const tcpPort = () => t.listeners.find((l) => l.transport === 'TCP')!.port;

  it(`listens on ${udpSockets} UDP sockets and says so`, () => {
    const listening = events.find((e) => e.type === 'listening' && e.transport === 'UDP');
    assert.deepEqual(listening, { type: 'listening', transport: 'UDP', local: { address: '127.0.0.1', port }, sockets: { kind: udpSockets } });
  });

  it('delivers a UDP request with received and rport stamped, and answers to the source port', async () => {
    const p = await udpPeer();
    try {
      received.length = 0;
      p.s.send(request('OPTIONS', 5060).toBuffer(), port, '127.0.0.1');
      const { msg, source } = await waitFor('the request', () => received[0]);
      assert.equal(msg.kind, 'request');
      assert.equal(msg.topVia?.received, '127.0.0.1');
      assert.equal(msg.topVia?.rport, p.port);
      assert.equal(source.transport, 'UDP');
      assert.equal(source.port, p.port);
      assert.ok(t.respond(createResponse(msg, 200), source));
      const res = await waitFor('the response', () => p.got[0]);
      const parsed = parseMessage(res);
      assert.ok(parsed.ok && parsed.value.kind === 'response' && parsed.value.status === 200);
      assert.equal(parsed.value.topVia?.rport, p.port);
    } finally {
      p.s.close();
    }
  });

  it('answers a malformed request 400 with the reason, and drops what cannot be answered', async () => {
    const p = await udpPeer();
    try {
      events.length = 0;
      const bad = request('OPTIONS', p.port);
      bad.setHeader('CSeq', '1 INVITE');
      p.s.send(bad.toBuffer(), port, '127.0.0.1');
      const res = await waitFor('the 400', () => p.got[0]);
      assert.match(res.toString('latin1'), /^SIP\/2\.0 400 .*CSeq/i);
      p.s.send(Buffer.from('hello\r\n\r\n'), port, '127.0.0.1');
      const m = await waitFor('two malformed events', () => {
        const x = events.filter((e) => e.type === 'malformed');
        return x.length === 2 ? x : undefined;
      });
      assert.deepEqual(
        m.map((e) => (e.type === 'malformed' ? e.answered : null)),
        [true, false],
      );
      assert.equal(p.got.length, 1);
    } finally {
      p.s.close();
    }
  });

  it('answers CRLF keep-alives over UDP and TCP', async () => {
    const p = await udpPeer();
    p.s.send(Buffer.from('\r\n\r\n'), port, '127.0.0.1');
    assert.equal((await waitFor('the UDP pong', () => p.got[0])).toString(), '\r\n');
    p.s.close();
    const c = net.connect(tcpPort(), '127.0.0.1');
    const data: Buffer[] = [];
    c.on('data', (d: Buffer) => data.push(d));
    c.write('\r\n\r\n');
    assert.equal((await waitFor('the TCP pong', () => data[0])).toString(), '\r\n');
    c.destroy();
  });

  it('reuses an inbound TCP connection for requests to that peer, and answers on it', async () => {
    received.length = 0;
    const c = net.connect(tcpPort(), '127.0.0.1');
    await new Promise<void>((r) => c.once('connect', () => r()));
    const parser = new SipStreamParser();
    const got: SipMessage[] = [];
    c.on('data', (d: Buffer) => {
      for (const ev of parser.push(d)) if (ev.kind === 'message') got.push(ev.value);
    });
    c.write(request('REGISTER', c.localPort!, 'TCP').toBuffer());
    const { msg, source } = await waitFor('the request', () => received[0]);
    assert.equal(source.transport, 'TCP');
    assert.ok(source.connection);
    t.respond(createResponse(msg as SipRequest, 200), source);
    assert.ok(t.send(request('OPTIONS', 5060, 'TCP'), { transport: 'TCP', address: '127.0.0.1', port: c.localPort! }));
    await waitFor('both messages on the same connection', () => (got.length === 2 ? true : undefined));
    assert.equal(got[0].kind, 'response');
    assert.equal(got[1].kind, 'request');
    assert.equal(t.connectionCount, 1);
    c.destroy();
    await waitFor('the connection to close', () => (t.connectionCount === 0 ? true : undefined));
  });

  it('answers a framed malformed request 400 on TCP and keeps the connection; closes it when framing is lost', async () => {
    const c = net.connect(tcpPort(), '127.0.0.1');
    await new Promise<void>((r) => c.once('connect', () => r()));
    const data: Buffer[] = [];
    c.on('data', (d: Buffer) => data.push(d));
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const bad = request('OPTIONS', c.localPort!, 'TCP');
    bad.setHeader('CSeq', '1 INVITE');
    c.write(bad.toBuffer());
    await waitFor('the 400', () => data[0]);
    assert.match(Buffer.concat(data).toString('latin1'), /^SIP\/2\.0 400 /);
    assert.equal(c.destroyed, false);
    const noLength = request('OPTIONS', c.localPort!, 'TCP');
    noLength.removeHeader('Content-Length');
    c.write(noLength.toBuffer());
    await closed;
  });

  it('sends a request larger than maxUdpPacketSize over TCP, with its Via saying TCP', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const peerPort = (server.address() as net.AddressInfo).port;
    const parser = new SipStreamParser();
    const got: SipMessage[] = [];
    server.on('connection', (s) =>
      s.on('data', (d: Buffer) => {
        for (const ev of parser.push(d)) if (ev.kind === 'message') got.push(ev.value);
      }),
    );
    try {
      const big = request('MESSAGE', 5060, 'UDP', 'x'.repeat(1500));
      assert.ok(t.send(big, { transport: 'UDP', address: '127.0.0.1', port: peerPort }));
      const m = await waitFor('the request over TCP', () => got[0]);
      assert.equal(m.topVia?.transport, 'TCP');
      assert.equal(m.body.length, 1500);
    } finally {
      server.close();
      for (const e of events) if (e.type === 'connection-open' && !e.inbound) e.connection.close();
    }
  });

  it('reports a failed outbound connection', async () => {
    const closedPort = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => r(p));
      });
    });
    let error: string | undefined;
    t.send(request('OPTIONS', 5060, 'TCP'), { transport: 'TCP', address: '127.0.0.1', port: closedPort }, (e) => (error = e));
    assert.match(await waitFor('the error', () => error), /ECONNREFUSED/);
  });

  it('keeps the body of a UDP request intact after later datagrams, in bytes of its own', async () => {
    const p = await udpPeer();
    try {
      received.length = 0;
      p.s.send(request('MESSAGE', 5060, 'UDP', 'v=0 first body').toBuffer(), port, '127.0.0.1');
      // in rounds of 20 (a loopback socket's receive buffer holds about 90 such datagrams)
      for (let i = 0; i < 200; i++) {
        p.s.send(request('MESSAGE', 5060, 'UDP', `later body ${i} ${'x'.repeat(600)}`).toBuffer(), port, '127.0.0.1');
        if (i % 20 === 19) await waitFor(`${i + 2} requests`, () => (received.length === i + 2 ? true : undefined));
      }
      const first = received[0].msg;
      assert.equal(first.body.toString(), 'v=0 first body');
      assert.equal(received[200].msg.body.toString(), `later body 199 ${'x'.repeat(600)}`);
      // a kept body holds no more memory than its datagram (not a 64 KB receive arena or Buffer pool block)
      assert.ok(first.body.buffer.byteLength <= 1500, `the body holds ${first.body.buffer.byteLength} bytes`);
    } finally {
      p.s.close();
    }
  });

  it('refuses a UDP destination on port 0 before sending: the send returns false and is reported as failed', () => {
    events.length = 0;
    assert.equal(t.send(request('OPTIONS', 5060), { transport: 'UDP', address: '127.0.0.1', port: 0 }), false);
    const failed = events.find((e) => e.type === 'send-failed');
    assert.ok(failed !== undefined && failed.type === 'send-failed', JSON.stringify(events));
    assert.deepEqual(failed.to, { address: '127.0.0.1', port: 0 });
    assert.equal(failed.transport, 'UDP');
    assert.equal(failed.reason, 'port 0 is not a destination');
    assert.equal(events.some((e) => e.type === 'sent'), false);
  });

  it('fails the send of a UDP response the OS refuses (larger than a datagram), naming the errno', async () => {
    const p = await udpPeer();
    try {
      received.length = 0;
      p.s.send(request('OPTIONS', 5060).toBuffer(), port, '127.0.0.1');
      const { msg, source } = await waitFor('the request', () => received[0]);
      events.length = 0;
      const sent = t.respond(createResponse(msg as SipRequest, 200, { body: 'x'.repeat(70_000), contentType: 'text/plain' }), source);
      const failed = await waitFor('the failure', () => events.find((e) => e.type === 'send-failed'));
      assert.ok(failed.type === 'send-failed');
      assert.deepEqual(failed.to, { address: '127.0.0.1', port: p.port });
      if (udpSockets === 'native') {
        // the OS answers the send itself: the caller (a transaction) hears of it at once, and nothing counts as sent
        assert.equal(sent, false);
        assert.match(failed.reason, /EMSGSIZE: larger than a UDP datagram can be/);
        assert.equal(events.some((e) => e.type === 'sent'), false);
      } else {
        // node:dgram tells later: the send went out as far as the caller knows
        assert.equal(sent, true);
        assert.match(failed.reason, /EMSGSIZE|too long/i);
      }
    } finally {
      p.s.close();
    }
  });

  it('a listener reports a datagram its socket refuses (port 0) through `failed`, without throwing', async () => {
    const l = await UdpListener.bind('127.0.0.1', 0, 4, udpSockets, () => undefined, () => undefined);
    try {
      assert.equal(l.sockets, udpSockets);
      const failures: [string, string, number][] = [];
      assert.doesNotThrow(() => l.send(Buffer.from('OPTIONS'), 0, '127.0.0.1', (reason, address, port) => failures.push([reason, address, port])));
      await waitFor('the failure reported', async () => (failures.length > 0 ? true : undefined), 2000, 10);
      assert.equal(failures.length, 1);
      assert.deepEqual(failures[0].slice(1), ['127.0.0.1', 0]);
      assert.ok(failures[0][0].length > 0, 'a reason');
    } finally {
      await l.close();
    }
  });

  it('answers a STUN Binding request on the UDP port with the reflexive address (RFC 5626 4.4.2)', async () => {
    const p = await udpPeer();
    try {
      const tid = Buffer.from('0123456789ab');
      const stun = Buffer.concat([Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]), tid]);
      p.s.send(stun, port, '127.0.0.1');
      const res = decodeStun(await waitFor('the STUN answer', () => p.got[0]));
      assert.ok(res.ok);
      assert.equal(res.value.cls, StunClass.SuccessResponse);
      assert.deepEqual(Buffer.from(res.value.transactionId), tid);
      assert.deepEqual(attributeValue(res.value, Attr.XorMappedAddress), { family: 4, address: '127.0.0.1', port: p.port });
    } finally {
      p.s.close();
    }
  });
};

const native = udpRelayAvailability();
describe('SipTransport on native UDP sockets', { skip: native.available ? false : `native UDP sockets not available: ${native.reason}` }, suite('native'));
describe('SipTransport on node:dgram UDP sockets', suite('node'));

describe('SipTransport rate limiting', () => {
  it('drops messages over the per-source burst and exempts trusted sources', async () => {
    const received: SipMessage[] = [];
    let limited = 0;
    let trusted = false;
    const t = new SipTransport({
      udpPort: await freePort(),
      tcpPort: 0,
      tlsPort: 0,
      hosts: ['127.0.0.1'],
      maxUdpPacketSize: 1300,
      rateLimit: { rate: 0.001, burst: 3 },
      trusted: () => trusted,
      idleTimeoutMs: 60_000,
      onMessage: (m) => received.push(m),
      onEvent: (e) => {
        if (e.type === 'rate-limited') limited++;
      },
    });
    await t.start();
    const port = t.listeners[0].port;
    const s = dgram.createSocket('udp4');
    try {
      for (let i = 0; i < 5; i++) s.send(request('OPTIONS', 5060).toBuffer(), port, '127.0.0.1');
      await waitFor('5 datagrams handled', () => (received.length + limited === 5 ? true : undefined));
      assert.equal(received.length, 3);
      assert.equal(limited, 2);
      await t.stop();
    } finally {
      s.close();
    }
    // a trusted source is never limited
    const t2 = new SipTransport({
      udpPort: await freePort(),
      tcpPort: 0,
      tlsPort: 0,
      hosts: ['127.0.0.1'],
      maxUdpPacketSize: 1300,
      rateLimit: { rate: 0.001, burst: 1 },
      trusted: () => true,
      idleTimeoutMs: 60_000,
      onMessage: (m) => received.push(m),
    });
    trusted = true;
    await t2.start();
    const s2 = dgram.createSocket('udp4');
    try {
      received.length = 0;
      for (let i = 0; i < 4; i++) s2.send(request('OPTIONS', 5060).toBuffer(), t2.listeners[0].port, '127.0.0.1');
      await waitFor('4 messages', () => (received.length === 4 ? true : undefined));
    } finally {
      s2.close();
      await t2.stop();
    }
  });
});
