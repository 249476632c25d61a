// SIP over WebSocket and secure WebSocket (RFC 7118) on loopback: real WebSocket clients and
// servers from the ws package speaking SIP to the transport, no mocks.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { createRequest, createResponse, parseMessage, type SipMessage, type SipRequest } from '@traverse/sip';
import { freePort, waitFor } from '@traverse/testing';
import { loadOrCreateCertificate, type CertificatePair } from '@traverse/runtime';
import { SipTransport, type SipSource, type SipTransportEvent } from './sip-transport';


/** A request as a browser client sends it: Via SIP/2.0/WS with an invented .invalid host. */
function wsRequest(method: string, transport: 'WS' | 'WSS' = 'WS'): SipRequest {
  return createRequest({
    method,
    uri: 'sip:example.com',
    from: { uri: 'sip:alice@example.com' },
    to: { uri: 'sip:alice@example.com' },
    via: { transport, host: 'df7jal23ls0d.invalid' },
    contact: `<sip:alice@df7jal23ls0d.invalid;transport=${transport.toLowerCase()}>`,
  });
}

/** A WebSocket SIP client: every WebSocket message it gets, parsed, with whether it came as text. */
async function wsClient(url: string, protocols: string[] = ['sip'], ca?: string) {
  const ws = new WebSocket(url, protocols, ca ? { ca } : {});
  const got: Array<{ msg: SipMessage | undefined; raw: string; binary: boolean }> = [];
  ws.on('message', (data, isBinary) => {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
    const p = parseMessage(buf);
    got.push({ msg: p.ok ? p.value : undefined, raw: buf.toString('latin1'), binary: isBinary });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, got };
}

describe('SipTransport over WebSocket (RFC 7118)', () => {
  let t: SipTransport;
  let dir: string;
  let cert: CertificatePair;
  const received: Array<{ msg: SipMessage; source: SipSource }> = [];
  const events: SipTransportEvent[] = [];
  const port = (transport: string) => t.listeners.find((l) => l.transport === transport)!.port;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'traverse-ws-'));
    cert = await loadOrCreateCertificate({ name: 'public', dataDir: dir, certFile: '', keyFile: '' });
    t = new SipTransport({
      udpPort: 0,
      tcpPort: 0,
      tlsPort: 0,
      wsPort: await freePort(),
      wssPort: await freePort(),
      hosts: ['127.0.0.1'],
      tls: { cert: cert.cert, key: cert.key },
      maxUdpPacketSize: 1300,
      idleTimeoutMs: 60_000,
      verifyTlsPeers: false,
      onMessage: (msg, source) => received.push({ msg, source }),
      onEvent: (e) => events.push(e),
    });
    await t.start();
  });

  after(async () => {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a handshake that does not offer the "sip" subprotocol with 400', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port('WS')}/`, ['chat']);
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => undefined);
    });
    ws.terminate();
    assert.equal(status, 400);
    assert.ok(events.some((e) => e.type === 'websocket-refused'));
    assert.equal(t.connectionCount, 0);
  });

  it('delivers one SIP message per WebSocket message, answers on the connection and reaches the client by its flow', async () => {
    received.length = 0;
    const c = await wsClient(`ws://127.0.0.1:${port('WS')}/`);
    try {
      assert.equal(c.ws.protocol, 'sip');
      c.ws.send(wsRequest('REGISTER').toBuffer().toString('utf8'));
      const { msg, source } = await waitFor('the REGISTER', () => received[0]);
      assert.equal(source.transport, 'WS');
      assert.equal(source.address, '127.0.0.1');
      assert.equal(source.flow, source.connection?.id);
      assert.equal(msg.topVia?.transport, 'WS');
      assert.equal(msg.topVia?.received, '127.0.0.1', 'received stamped: the sent-by host is not the source');
      assert.ok(t.respond(createResponse(msg as SipRequest, 200), source));
      const res = await waitFor('the 200', () => c.got[0]);
      assert.equal(res.binary, false, 'sent as a text message');
      assert.ok(res.msg?.kind === 'response' && res.msg.status === 200);

      // a request to the client: on its flow, and by its address (connection reuse), the Via saying WS
      const options = createRequest({ method: 'OPTIONS', uri: 'sip:alice@df7jal23ls0d.invalid;transport=ws', from: { uri: 'sip:ping@example.com' }, to: { uri: 'sip:alice@example.com' }, via: { transport: 'UDP', host: '127.0.0.1', port: 5060 } });
      assert.equal(t.dispatch(options, { transport: 'UDP', address: '192.0.2.1', port: 5060, flow: source.flow }), 'WS');
      const byFlow = await waitFor('the OPTIONS on the flow', () => c.got[1]);
      assert.ok(byFlow.msg?.kind === 'request' && byFlow.msg.method === 'OPTIONS');
      assert.equal(byFlow.msg.topVia?.transport, 'WS');
      const again = createRequest({ method: 'OPTIONS', uri: 'sip:alice@df7jal23ls0d.invalid;transport=ws', from: { uri: 'sip:ping@example.com' }, to: { uri: 'sip:alice@example.com' }, via: { transport: 'WS', host: '127.0.0.1', port: port('WS') } });
      assert.ok(t.send(again, { transport: 'WS', address: source.address, port: source.port }));
      await waitFor('the OPTIONS by address', () => c.got[2]);
      assert.equal(t.connectionCount, 1, 'one connection carried everything');
    } finally {
      c.ws.close();
    }
    await waitFor('the connection to close', () => (t.connectionCount === 0 ? true : undefined));
  });

  it('answers CRLF keep-alives and reports the pong of a WebSocket ping', async () => {
    const c = await wsClient(`ws://127.0.0.1:${port('WS')}/`);
    try {
      c.ws.send('\r\n\r\n');
      assert.equal((await waitFor('the pong', () => c.got[0])).raw, '\r\n');
      const conn = await waitFor('the connection', () => (t.connectionCount === 1 ? [...events].reverse().find((e) => e.type === 'connection-open') : undefined));
      assert.ok(conn.type === 'connection-open');
      events.length = 0;
      assert.ok(t.ping(conn.connection.id));
      const pong = await waitFor('the pong event', () => events.find((e) => e.type === 'pong'));
      assert.ok(pong.type === 'pong' && pong.flow === conn.connection.id);
    } finally {
      c.ws.close();
    }
  });

  it('answers a malformed message 400 with the reason on the WebSocket', async () => {
    const c = await wsClient(`ws://127.0.0.1:${port('WS')}/`);
    try {
      const bad = wsRequest('OPTIONS');
      bad.setHeader('CSeq', '1 INVITE');
      c.ws.send(bad.toBuffer());
      const res = await waitFor('the 400', () => c.got[0]);
      assert.ok(res.msg?.kind === 'response' && res.msg.status === 400, res.raw);
    } finally {
      c.ws.close();
    }
  });

  it('carries SIP over secure WebSocket with the configured certificate', async () => {
    received.length = 0;
    const c = await wsClient(`wss://127.0.0.1:${port('WSS')}/`, ['sip'], cert.cert);
    try {
      c.ws.send(wsRequest('REGISTER', 'WSS').toBuffer());
      const { msg, source } = await waitFor('the REGISTER', () => received[0]);
      assert.equal(source.transport, 'WSS');
      t.respond(createResponse(msg as SipRequest, 200), source);
      const res = await waitFor('the 200', () => c.got[0]);
      assert.ok(res.msg?.kind === 'response' && res.msg.status === 200);
    } finally {
      c.ws.close();
    }
  });

  it('opens an outbound WebSocket with the "sip" subprotocol to send a request, and takes the response on it', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has('sip') ? 'sip' : false) });
    await new Promise<void>((r) => server.once('listening', () => r()));
    const serverPort = (server.address() as { port: number }).port;
    const got: SipRequest[] = [];
    let protocol = '';
    server.on('connection', (ws) => {
      protocol = ws.protocol;
      ws.on('message', (data) => {
        const p = parseMessage(data as Buffer);
        if (p.ok && p.value.kind === 'request') {
          got.push(p.value);
          ws.send(createResponse(p.value, 200).toBuffer().toString('utf8'));
        }
      });
    });
    try {
      received.length = 0;
      const req = createRequest({ method: 'MESSAGE', uri: `sip:bob@127.0.0.1:${serverPort};transport=ws`, from: { uri: 'sip:alice@example.com' }, to: { uri: 'sip:bob@example.com' }, via: { transport: 'WS', host: '127.0.0.1', port: port('WS') }, body: 'hello', contentType: 'text/plain' });
      assert.ok(t.send(req, { transport: 'WS', address: '127.0.0.1', port: serverPort }));
      const m = await waitFor('the request at the server', () => got[0]);
      assert.equal(protocol, 'sip');
      assert.equal(m.body.toString(), 'hello');
      const { msg, source } = await waitFor('the response', () => received.find((r) => r.msg.kind === 'response'));
      assert.ok(msg.kind === 'response' && msg.status === 200);
      assert.equal(source.transport, 'WS');
    } finally {
      for (const e of events) if (e.type === 'connection-open' && !e.inbound) e.connection.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
