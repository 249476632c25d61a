import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlSocket, ControlSocketOptions, RelayRemoteInfo, RelaySocket, UdpRelay, chooseUdpPlane, ownCopy, udpRelayAvailability } from './udp-relay';

const availability = udpRelayAvailability();

interface Received {
  msg: Buffer;
  rinfo: RelayRemoteInfo;
}

/** A handed-up datagram sink with a wait for the next arrivals. */
function collector() {
  const got: Received[] = [];
  const waiters: (() => void)[] = [];
  return {
    got,
    onMessage: (msg: Buffer, rinfo: RelayRemoteInfo) => {
      got.push({ msg, rinfo });
      for (const w of waiters.splice(0)) w();
    },
    async waitFor(n: number, ms = 2000): Promise<Received[]> {
      const end = Date.now() + ms;
      while (got.length < n) {
        const left = end - Date.now();
        if (left <= 0) throw new Error(`waited for ${n} handed-up datagrams, got ${got.length}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
      return got;
    },
  };
}

async function udp(family: 4 | 6): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
  s.bind(0, family === 6 ? '::1' : '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** Next datagram on a node socket, or undefined after `ms`. */
function next(s: dgram.Socket, ms = 2000): Promise<{ msg: Buffer; rinfo: dgram.RemoteInfo } | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      s.off('message', on);
      resolve(undefined);
    }, ms);
    const on = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      clearTimeout(t);
      s.off('message', on);
      resolve({ msg, rinfo });
    };
    s.on('message', on);
  });
}

/** `from` sends an answer to `client`: it comes, from `from`'s port. */
async function assertSendsFrom(
  from: { send(msg: Buffer, port: number, address: string): boolean; address(): { port: number } },
  client: dgram.Socket,
  loop: string,
): Promise<void> {
  const got = next(client);
  assert.equal(from.send(Buffer.from('answer'), client.address().port, loop), true);
  const r = await got;
  assert.equal(r?.msg.toString(), 'answer');
  assert.equal(r?.rinfo.port, from.address().port);
}

/** A route of `channel` for `client` through `relayed` to a peer at `peerPort`, all on the loopback address, for a minute. */
function minuteRoute(listener: RelaySocket, client: dgram.Socket, channel: number, relayed: RelaySocket, peerPort: number, loop: string) {
  return {
    listener,
    client: { address: loop, port: client.address().port },
    channel,
    relay: relayed,
    peer: { address: loop, port: peerPort },
    ttlMs: 60_000,
  };
}

function channelData(channel: number, payload: Buffer, declared = payload.length): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(channel, 0);
  h.writeUInt16BE(declared, 2);
  return Buffer.concat([h, payload]);
}

for (const family of [4, 6] as const) {
  const loop = family === 6 ? '::1' : '127.0.0.1';
  describe(
    `UdpRelay over ${family === 6 ? 'IPv6 (::1)' : 'IPv4 (127.0.0.1)'}`,
    { skip: availability.available ? false : availability.reason },
    () => {
      let relay: UdpRelay;
      let listener: RelaySocket;
      let relayed: RelaySocket;
      const up = collector();
      const down = collector();
      let client: dgram.Socket;
      let peer: dgram.Socket;
      let route = 0;

      before(async () => {
        relay = UdpRelay.create();
        listener = relay.openSocket(loop, 0, { kind: 'listener', bufferBytes: 1 << 20, onMessage: up.onMessage });
        relayed = relay.openSocket(loop, 0, { kind: 'relay', bufferBytes: 1 << 18, onMessage: down.onMessage });
        client = await udp(family);
        peer = await udp(family);
      });
      after(() => {
        relay.close();
        client.close();
        peer.close();
      });

      it('binds to a free port and hands up what no route forwards, with its source', async () => {
        assert.ok(listener.address().port > 0);
        assert.equal(listener.address().family, family === 6 ? 'IPv6' : 'IPv4');
        const stun = Buffer.from('000100002112a442000102030405060708090a0b', 'hex');
        client.send(stun, listener.address().port, loop);
        const [m] = await up.waitFor(1);
        assert.deepEqual(m.msg, stun);
        assert.equal(m.rinfo.address, loop);
        assert.equal(m.rinfo.port, client.address().port);
        assert.equal(m.rinfo.family, family === 6 ? 'IPv6' : 'IPv4');
        assert.equal(m.rinfo.size, stun.length);
      });

      it('sends from JavaScript through a socket it owns', async () => {
        await assertSendsFrom(listener, client, loop);
      });

      it('forwards ChannelData to the peer (payload only) and peer datagrams to the client as ChannelData', async () => {
        route = relay.setRoute(minuteRoute(listener, client, 0x4001, relayed, peer.address().port, loop));
        assert.ok(route > 0);
        const before = up.got.length;
        const atPeer = next(peer);
        // padded as over a stream: the padding is not forwarded
        client.send(Buffer.concat([channelData(0x4001, Buffer.from('hello')), Buffer.alloc(3)]), listener.address().port, loop);
        const p = await atPeer;
        assert.equal(p?.msg.toString(), 'hello');
        assert.equal(p?.rinfo.port, relayed.address().port);

        const atClient = next(client);
        peer.send(Buffer.from('world!'), relayed.address().port, loop);
        const c = await atClient;
        assert.deepEqual(c?.msg, channelData(0x4001, Buffer.from('world!')));
        assert.equal(c?.rinfo.port, listener.address().port);
        assert.equal(up.got.length, before, 'forwarded datagrams are not handed up');

        assert.deepEqual(relay.routeStats(route), { packetsToPeer: 1, bytesToPeer: 5, packetsToClient: 1, bytesToClient: 6 });
        const st = relay.stats();
        assert.equal(st.forwardedToPeers, 1);
        assert.equal(st.forwardedToClients, 1);
        assert.equal(st.routes, 1);
        assert.equal(st.sockets, 2);
      });

      it('forwards a burst in order, both ways', async () => {
        const n = 200;
        const seen: number[] = [];
        const done = new Promise<void>((resolve) => {
          const on = (msg: Buffer) => {
            seen.push(msg.readUInt32BE(0));
            if (seen.length === n) {
              peer.off('message', on);
              resolve();
            }
          };
          peer.on('message', on);
        });
        for (let i = 0; i < n; i++) {
          const b = Buffer.alloc(160);
          b.writeUInt32BE(i, 0);
          client.send(channelData(0x4001, b), listener.address().port, loop);
        }
        await done;
        assert.deepEqual(
          seen,
          Array.from({ length: n }, (_, i) => i),
        );
        const s = relay.routeStats(route)!;
        assert.equal(s.packetsToPeer, 1 + n);
        assert.equal(s.bytesToPeer, 5 + n * 160);
      });

      it('hands up ChannelData of another channel or client, short or malformed ChannelData, and peers without a route', async () => {
        const start = up.got.length;
        const port = listener.address().port;
        const bad = [
          channelData(0x4002, Buffer.from('other channel')),
          channelData(0x4001, Buffer.from('abc'), 10), // declared longer than the datagram
          Buffer.from([0x40, 0x01, 0x00]), // shorter than the header
          Buffer.from([0x40]),
        ];
        const atPeer = next(peer, 300);
        for (const b of bad) client.send(b, port, loop);
        const got = await up.waitFor(start + bad.length);
        assert.deepEqual(
          got.slice(start).map((g) => g.msg),
          bad,
        );
        assert.equal(await atPeer, undefined, 'nothing reached the peer');

        const other = await udp(family);
        try {
          const downStart = down.got.length;
          other.send(Buffer.from('stranger'), relayed.address().port, loop);
          const d = await down.waitFor(downStart + 1);
          assert.equal(d[downStart].msg.toString(), 'stranger');
          assert.equal(d[downStart].rinfo.port, other.address().port);
        } finally {
          other.close();
        }
      });

      it('an expired route forwards nothing (handed up), a refreshed one forwards again', async () => {
        assert.equal(relay.setRouteTtl(route, 0), true);
        const start = up.got.length;
        const atPeer = next(peer, 300);
        client.send(channelData(0x4001, Buffer.from('late')), listener.address().port, loop);
        await up.waitFor(start + 1);
        assert.equal(await atPeer, undefined);
        relay.setRouteTtl(route, 60_000);
        const again = next(peer);
        client.send(channelData(0x4001, Buffer.from('again')), listener.address().port, loop);
        assert.equal((await again)?.msg.toString(), 'again');
      });

      it('a removed route stops forwarding at once and returns its counts', async () => {
        const s = relay.removeRoute(route);
        assert.ok(s && s.packetsToPeer > 0);
        assert.equal(relay.routeStats(route), undefined);
        assert.equal(relay.removeRoute(route), undefined);
        const start = down.got.length;
        const atClient = next(client, 300);
        peer.send(Buffer.from('after removal'), relayed.address().port, loop);
        const d = await down.waitFor(start + 1);
        assert.equal(d[start].msg.toString(), 'after removal');
        assert.equal(await atClient, undefined);
        assert.equal(relay.stats().routes, 0);
      });

      it('a new route for the same peer replaces the old one', () => {
        const opts = {
          listener,
          client: { address: loop, port: client.address().port },
          relay: relayed,
          peer: { address: loop, port: peer.address().port },
          ttlMs: 60_000,
        };
        const a = relay.setRoute({ ...opts, channel: 0x4003 });
        const b = relay.setRoute({ ...opts, channel: 0x4004 });
        assert.notEqual(a, b);
        assert.equal(relay.routeStats(a), undefined);
        assert.equal(relay.stats().routes, 1);
        relay.removeRoute(b);
      });

      it('refuses bad routes and addresses with a clear error and changes nothing', () => {
        const base = {
          listener,
          client: { address: loop, port: client.address().port },
          channel: 0x4005,
          relay: relayed,
          peer: { address: loop, port: peer.address().port },
          ttlMs: 1000,
        };
        assert.throws(() => relay.setRoute({ ...base, channel: 0x3fff }), /channel number/);
        assert.throws(() => relay.setRoute({ ...base, listener: relayed, relay: listener }), /no such listener/);
        assert.throws(() => relay.setRoute({ ...base, peer: { address: 'peer.example', port: 1 } }), /bad client or peer address/);
        assert.throws(() => relay.setRoute({ ...base, peer: { address: family === 6 ? '127.0.0.1' : '::1', port: 1 } }), /family/);
        assert.throws(() => listener.send(Buffer.from('x'), 1, 'not-an-address'), /bad destination/);
        assert.throws(() => relay.openSocket('nowhere', 0, { kind: 'relay', onMessage: () => undefined }), /not an IP address/);
        assert.equal(relay.stats().routes, 0);
      });

      it('a bind to a port in use fails with EADDRINUSE', () => {
        assert.throws(
          () => relay.openSocket(loop, listener.address().port, { kind: 'relay', onMessage: () => undefined }),
          (e: Error & { code?: string }) => e.code === 'EADDRINUSE',
        );
      });

      it('closing a socket drops its routes and frees its port', async () => {
        const extra = relay.openSocket(loop, 0, { kind: 'relay', onMessage: () => undefined });
        const port = extra.address().port;
        relay.setRoute(minuteRoute(listener, client, 0x4006, extra, peer.address().port, loop));
        assert.equal(relay.stats().routes, 1);
        extra.close();
        assert.equal(extra.send(Buffer.from('x'), 9, loop), false);
        assert.equal(relay.stats().routes, 0);
        const again = relay.openSocket(loop, port, { kind: 'relay', onMessage: () => undefined });
        assert.equal(again.address().port, port);
        again.close();
      });

      it('closing a socket drops the routes through it however they came and went; other routes stay', () => {
        const a = relay.openSocket(loop, 0, { kind: 'relay', onMessage: () => undefined });
        const b = relay.openSocket(loop, 0, { kind: 'relay', onMessage: () => undefined });
        const route = (relayed: RelaySocket, channel: number, peerPort: number) =>
          relay.setRoute(minuteRoute(listener, client, channel, relayed, peerPort, loop));
        route(a, 0x4010, 40001);
        route(a, 0x4011, 40001); // replaces the route to that peer
        const removed = route(a, 0x4012, 40002);
        relay.removeRoute(removed);
        route(a, 0x4013, 40003);
        route(b, 0x4014, 40004);
        assert.equal(relay.stats().routes, 3);
        const sockets = relay.stats().sockets;
        a.close();
        assert.equal(relay.stats().routes, 1, 'the routes through the closed socket are gone, the other one stays');
        // the closed socket's entry is taken by the next socket, which must not inherit any route
        const c = relay.openSocket(loop, 0, { kind: 'relay', onMessage: () => undefined });
        assert.equal(relay.stats().sockets, sockets);
        assert.equal(relay.stats().routes, 1);
        b.close();
        c.close();
        assert.equal(relay.stats().routes, 0);
        assert.equal(relay.stats().sockets, sockets - 2);
      });
    },
  );
}

for (const family of [4, 6] as const) {
  const loop = family === 6 ? '::1' : '127.0.0.1';
  describe(
    `a steered listener (SO_REUSEPORT group with a control socket) over IPv${family}`,
    { skip: availability.available ? false : availability.reason },
    () => {
      let relay: UdpRelay;
      let control: dgram.Socket;
      let listener: RelaySocket;
      let relayed: RelaySocket;
      const up = collector();
      let client: dgram.Socket;
      let peer: dgram.Socket;

      before(async () => {
        relay = UdpRelay.create();
        control = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6, reusePort: true });
        control.bind(0, loop);
        await once(control, 'listening');
        listener = relay.openSocket(loop, control.address().port, { kind: 'listener', steered: true, onMessage: up.onMessage });
        relayed = relay.openSocket(loop, 0, { kind: 'relay', onMessage: () => undefined });
        client = await udp(family);
        peer = await udp(family);
      });
      after(() => {
        relay.close();
        control.close();
        client.close();
        peer.close();
      });

      it("shares the control socket's port; STUN goes to the control socket, ChannelData to the native socket", async () => {
        assert.equal(listener.address().port, control.address().port);
        const port = control.address().port;
        const stun = Buffer.from('000100002112a442000102030405060708090a0b', 'hex');
        for (let i = 0; i < 20; i++) {
          const atControl = next(control);
          client.send(stun, port, loop);
          const r = await atControl;
          assert.deepEqual(r?.msg, stun, `STUN datagram ${i} reached the control socket`);
        }
        assert.equal(up.got.length, 0, 'no STUN datagram reached the native socket');
        // ChannelData without a route: the native socket takes it and hands it up (never the control socket)
        const stray = channelData(0x4002, Buffer.from('stray'));
        const atControl = next(control, 300);
        client.send(stray, port, loop);
        const [m] = await up.waitFor(1);
        assert.deepEqual(m.msg, stray);
        assert.equal(await atControl, undefined);
      });

      it('forwards ChannelData along routes both ways; the client sees one address for answers and data', async () => {
        const port = control.address().port;
        relay.setRoute(minuteRoute(listener, client, 0x4001, relayed, peer.address().port, loop));
        const atPeer = next(peer);
        client.send(channelData(0x4001, Buffer.from('hello')), port, loop);
        assert.equal((await atPeer)?.msg.toString(), 'hello');
        const atClient = next(client);
        peer.send(Buffer.from('back'), relayed.address().port, loop);
        const d = await atClient;
        assert.deepEqual(d?.msg, channelData(0x4001, Buffer.from('back')));
        assert.equal(d?.rinfo.port, port);
        const answer = next(client);
        control.send(Buffer.from('answer'), client.address().port, loop);
        assert.equal((await answer)?.rinfo.port, port);
      });

      it('is refused without a control socket bound with reusePort on that port', () => {
        const plain = dgram.createSocket('udp4');
        return new Promise<void>((resolve) => {
          plain.bind(0, '127.0.0.1', () => {
            assert.throws(
              () => relay.openSocket('127.0.0.1', plain.address().port, { kind: 'listener', steered: true, onMessage: () => undefined }),
              (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE',
            );
            plain.close();
            resolve();
          });
        });
      });
    },
  );
}

describe('UdpRelay lifecycle', { skip: availability.available ? false : availability.reason }, () => {
  it('close() stops the thread and closes the sockets; calls after it are refused or inert', async () => {
    const relay = UdpRelay.create();
    const got = collector();
    const s = relay.openSocket('127.0.0.1', 0, { kind: 'listener', onMessage: got.onMessage });
    const port = s.address().port;
    relay.close();
    relay.close();
    assert.equal(relay.closed, true);
    assert.equal(s.closed, true);
    assert.equal(s.send(Buffer.from('x'), 9, '127.0.0.1'), false);
    assert.throws(() => relay.openSocket('127.0.0.1', 0, { kind: 'relay', onMessage: () => undefined }), /closed/);
    // the port is free again
    const probe = dgram.createSocket('udp4');
    probe.bind(port, '127.0.0.1');
    await once(probe, 'listening');
    probe.close();
  });

  it('a process that exits with a relay still open (thread running, sockets bound) exits cleanly', () => {
    const script = `
      const { UdpRelay } = require(${JSON.stringify(require.resolve('./udp-relay'))});
      const relay = UdpRelay.create();
      const l = relay.openSocket('127.0.0.1', 0, { kind: 'listener', onMessage: () => undefined });
      const r = relay.openSocket('127.0.0.1', 0, { kind: 'relay', onMessage: () => undefined });
      relay.setRoute({ listener: l, client: { address: '127.0.0.1', port: 9 }, channel: 0x4000, relay: r, peer: { address: '127.0.0.1', port: 9 }, ttlMs: 1000 });
      l.send(Buffer.from('x'), r.address().port, '127.0.0.1');
      setTimeout(() => process.exit(3), 50);
    `;
    const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(res.stderr, '');
    assert.equal(res.status, 3);
  });

  it('hands up each datagram as its own callback: promise jobs one queues run before the next datagram', () => {
    // in a process of its own: the test runner's async context keeps jobs queued across callbacks
    const script = `
      const dgram = require('node:dgram');
      const { UdpRelay } = require(${JSON.stringify(require.resolve('./udp-relay'))});
      const relay = UdpRelay.create();
      const order = [];
      const l = relay.openSocket('127.0.0.1', 0, { kind: 'listener', onMessage: (m) => {
        order.push('datagram ' + m[0]);
        void Promise.resolve().then(() => order.push('job ' + m[0]));
      } });
      const c = dgram.createSocket('udp4');
      c.bind(0, '127.0.0.1', () => {
        for (let i = 0; i < 4; i++) c.send(Buffer.from([i]), l.address().port, '127.0.0.1');
        const t = setInterval(() => {
          if (order.length < 8) return;
          clearInterval(t);
          process.stdout.write(JSON.stringify(order));
          relay.close();
          c.close();
        }, 10);
      });
    `;
    const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(res.stderr, '');
    assert.deepEqual(JSON.parse(res.stdout), ['datagram 0', 'job 0', 'datagram 1', 'job 1', 'datagram 2', 'job 2', 'datagram 3', 'job 3']);
  });

  it('many relays and sockets opened and closed leave no sockets behind', () => {
    for (let i = 0; i < 20; i++) {
      const relay = UdpRelay.create();
      const socks = Array.from({ length: 10 }, () => relay.openSocket('127.0.0.1', 0, { kind: 'relay', onMessage: () => undefined }));
      assert.equal(relay.stats().sockets, 10);
      for (const s of socks.slice(0, 5)) s.close();
      assert.equal(relay.stats().sockets, 5);
      relay.close();
    }
  });

  it('survives arbitrary bytes from the network: every datagram is handed up intact', async () => {
    const relay = UdpRelay.create();
    const got = collector();
    const l = relay.openSocket('127.0.0.1', 0, { kind: 'listener', onMessage: got.onMessage });
    const r = relay.openSocket('127.0.0.1', 0, { kind: 'relay', onMessage: () => undefined });
    const client = await udp(4);
    try {
      relay.setRoute({
        listener: l,
        client: { address: '127.0.0.1', port: client.address().port },
        channel: 0x4000,
        relay: r,
        peer: { address: '127.0.0.1', port: 9 },
        ttlMs: 60_000,
      });
      const sent: Buffer[] = [];
      let seed = 7;
      const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
      for (let i = 0; i < 100; i++) {
        const b = Buffer.alloc(1 + (rnd() % 40));
        for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
        // never valid ChannelData of the routed channel
        if (b.length >= 4 && b[0] === 0x40 && b[1] === 0x00) b[0] = 0x41;
        sent.push(b);
        client.send(b, l.address().port, '127.0.0.1');
      }
      const got2 = await got.waitFor(100);
      assert.deepEqual(got2.map((g) => g.msg.toString('hex')).sort(), sent.map((b) => b.toString('hex')).sort());
    } finally {
      client.close();
      relay.close();
    }
  });
});

describe('udpRelayAvailability', () => {
  it('says whether the native data plane runs here, and why not', () => {
    const a = udpRelayAvailability();
    if (a.available) assert.match(a.path, /udp_relay\.node$/);
    else assert.ok(a.reason.length > 0);
    if (!a.available) assert.throws(() => UdpRelay.create(), /not available/);
  });

  it('resolves a setting: node is node:dgram; auto and native are native when it runs here, else auto falls back with the reason and native throws', () => {
    const a = udpRelayAvailability();
    assert.deepEqual(chooseUdpPlane('node', 'x'), { kind: 'node' });
    if (a.available) {
      assert.deepEqual(chooseUdpPlane('auto', 'x'), { kind: 'native' });
      assert.deepEqual(chooseUdpPlane('native', 'x'), { kind: 'native' });
    } else {
      assert.deepEqual(chooseUdpPlane('auto', 'x'), { kind: 'node', unavailable: a.reason });
      assert.throws(() => chooseUdpPlane('native', 'the plane'), (e: Error & { code?: string }) => e.code === 'ERR_UDP_RELAY_UNAVAILABLE' && e.message.startsWith('the plane is not available here ('));
    }
  });
});

describe('ownCopy', () => {
  it('copies kept bytes into memory of their own: a pool slice or an arena view holds its whole block, the copy only itself', () => {
    const pooled = Buffer.from('kept bytes');
    assert.ok(pooled.buffer.byteLength > pooled.length, 'Buffer.from takes a slice of the shared pool');
    const c = ownCopy(pooled);
    assert.equal(c.buffer.byteLength, c.length);
    assert.equal(c.toString(), 'kept bytes');
    pooled.fill(0);
    assert.equal(c.toString(), 'kept bytes', 'the copy does not follow the source');
    const arena = new Uint8Array(65536);
    arena.set([1, 2, 3], 100);
    assert.deepEqual([...ownCopy(arena.subarray(100, 103))], [1, 2, 3]);
    assert.equal(ownCopy(new Uint8Array(0)).length, 0);
  });
});

/** Datagrams of a control socket with a wait for the next arrivals. */
function controlCollector() {
  const got: { msg: Buffer; address: string; port: number }[] = [];
  const waiters: (() => void)[] = [];
  return {
    got,
    onMessage: (msg: Buffer, address: string, port: number) => {
      got.push({ msg, address, port });
      for (const w of waiters.splice(0)) w();
    },
    async waitFor(n: number, ms = 2000): Promise<void> {
      const end = Date.now() + ms;
      while (got.length < n) {
        const left = end - Date.now();
        if (left <= 0) throw new Error(`waited for ${n} datagrams, got ${got.length}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
  };
}

for (const family of [4, 6] as const) {
  const loop = family === 6 ? '::1' : '127.0.0.1';
  describe(`ControlSocket over IPv${family}`, { skip: availability.available ? false : availability.reason }, () => {
    /** A control socket on the loopback address and a client socket for `test`, both closed after it. */
    async function withControl(
      opts: ControlSocketOptions,
      test: (control: ControlSocket, client: dgram.Socket) => Promise<void>,
    ): Promise<void> {
      const control = ControlSocket.open(loop, 0, opts);
      const client = await udp(family);
      try {
        await test(control, client);
      } finally {
        control.close();
        client.close();
      }
    }

    it('takes datagrams with their source and answers from its own address', async () => {
      const c = controlCollector();
      await withControl({ onMessage: c.onMessage }, async (control, client) => {
        assert.deepEqual(control.address(), { address: loop, port: control.address().port, family: family === 6 ? 'IPv6' : 'IPv4' });
        assert.ok(control.address().port > 0);
        client.send(Buffer.from('request'), control.address().port, loop);
        await c.waitFor(1);
        assert.deepEqual(c.got[0], { msg: Buffer.from('request'), address: loop, port: client.address().port });
        await assertSendsFrom(control, client, loop);
      });
    });

    it('hands a burst over one datagram at a time, in order, each with the promise jobs it queued run before the next', async () => {
      const seen: string[] = [];
      let n = 0;
      await withControl(
        {
          onMessage: (msg) => {
            seen.push(msg.toString());
            n++;
            void Promise.resolve().then(() => seen.push(`job ${msg.toString()}`));
          },
        },
        async (control, client) => {
          // more than one recvmmsg batch, sent before the event loop reads any of them
          for (let i = 0; i < 100; i++) client.send(Buffer.from(`d${i}`), control.address().port, loop);
          const end = Date.now() + 2000;
          while (n < 100 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
          assert.equal(n, 100);
          assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => [`d${i}`, `job d${i}`]).flat());
        },
      );
    });

    it('takes a datagram of 64 KB whole, between small ones', async () => {
      const c = controlCollector();
      await withControl({ onMessage: c.onMessage }, async (control, client) => {
        const big = Buffer.alloc(family === 6 ? 65487 : 65507, 7);
        big.writeUInt32BE(0xdeadbeef, big.length - 4);
        client.send(Buffer.from('before'), control.address().port, loop);
        client.send(big, control.address().port, loop);
        client.send(Buffer.from('after'), control.address().port, loop);
        await c.waitFor(3);
        assert.equal(c.got[0].msg.toString(), 'before');
        assert.deepEqual(c.got[1].msg, big);
        assert.equal(c.got[2].msg.toString(), 'after');
      });
    });

    it('keeps the bytes of every datagram handed over intact while more arrive (several arenas)', async () => {
      const c = controlCollector();
      await withControl({ onMessage: c.onMessage }, async (control, client) => {
        const sent: Buffer[] = [];
        for (let round = 0; round < 10; round++) {
          for (let i = 0; i < 30; i++) {
            const d = Buffer.alloc(997 + ((round * 30 + i) % 13), round * 30 + i);
            sent.push(d);
            client.send(d, control.address().port, loop);
          }
          await c.waitFor(sent.length);
        }
        assert.equal(c.got.length, 300);
        for (let i = 0; i < 300; i++) assert.deepEqual(c.got[i].msg, sent[i], `datagram ${i}`);
        assert.ok(new Set(c.got.map((g) => g.msg.buffer)).size >= 4, 'more than 256 KB went through several arenas');
      });
    });

    it('does not send to the other family; after close it neither sends nor hands anything over', async () => {
      const c = controlCollector();
      await withControl({ onMessage: c.onMessage }, async (control, client) => {
        assert.equal(control.send(Buffer.from('x'), 9, family === 6 ? '127.0.0.1' : '::1'), false);
        const port = control.address().port;
        control.close();
        control.close();
        assert.equal(control.closed, true);
        assert.equal(control.send(Buffer.from('x'), client.address().port, loop), false);
        client.send(Buffer.from('late'), port, loop);
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(c.got.length, 0);
      });
    });

    it('names why the OS refused a datagram (trySend): too large, the other family, a closed socket; nothing when it went', async () => {
      await withControl({ onMessage: () => undefined }, async (control, client) => {
        const to = client.address().port;
        assert.equal(control.trySend(Buffer.from('x'), to, loop), undefined);
        assert.equal(control.trySend(Buffer.alloc(70_000), to, loop), 'EMSGSIZE');
        assert.equal(control.send(Buffer.alloc(70_000), to, loop), false);
        assert.equal(control.trySend(Buffer.from('x'), 9, family === 6 ? '127.0.0.1' : '::1'), 'EAFNOSUPPORT');
        control.close();
        assert.equal(control.trySend(Buffer.from('x'), to, loop), 'EBADF');
      });
    });

    it('a process or a worker thread that ends with it open ends cleanly', () => {
      const script = `
        const { Worker, isMainThread } = require('node:worker_threads');
        const { ControlSocket } = require(${JSON.stringify(require.resolve('./udp-relay'))});
        const c = ControlSocket.open(${JSON.stringify(loop)}, 0, { onMessage: () => undefined });
        c.send(Buffer.from('x'), c.address().port, ${JSON.stringify(loop)});
        if (isMainThread) {
          const w = new Worker(__filename);
          w.on('exit', (code) => setTimeout(() => process.exit(code === 1 ? 3 : 4), 20));
        } else setTimeout(() => process.exit(1), 20);
      `;
      const file = join(mkdtempSync(join(tmpdir(), 'control-socket-')), 'exit.js');
      writeFileSync(file, script);
      const res = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(res.stderr, '');
      assert.equal(res.status, 3);
    });

    it('what onMessage throws is an uncaught exception of the process', () => {
      const script = `
        const { ControlSocket } = require(${JSON.stringify(require.resolve('./udp-relay'))});
        process.on('uncaughtException', (e) => {
          console.log(e.message);
          process.exit(5);
        });
        const c = ControlSocket.open(${JSON.stringify(loop)}, 0, { onMessage: (m) => { throw new Error('thrown for ' + m); } });
        c.send(Buffer.from('x'), c.address().port, ${JSON.stringify(loop)});
      `;
      const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(res.stdout.trim(), 'thrown for x');
      assert.equal(res.status, 5);
    });

    it('fails to bind a port another socket holds, with the errno name as code', async () => {
      const holder = await udp(family);
      try {
        assert.throws(
          () => ControlSocket.open(loop, holder.address().port, { reusePort: true, onMessage: () => undefined }),
          (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE',
        );
        assert.throws(
          () => ControlSocket.open('nowhere', 0, { onMessage: () => undefined }),
          (e: NodeJS.ErrnoException) => e.code === 'EINVAL',
        );
      } finally {
        holder.close();
      }
    });

    it('heads a steered listener: STUN comes to it, ChannelData to the data plane socket', async () => {
      const c = controlCollector();
      const up = collector();
      const relay = UdpRelay.create();
      try {
        await withControl({ reusePort: true, onMessage: c.onMessage }, async (control, client) => {
          const port = control.address().port;
          relay.openSocket(loop, port, { kind: 'listener', steered: true, onMessage: up.onMessage });
          const stun = Buffer.from('000100002112a442000102030405060708090a0b', 'hex');
          const stray = channelData(0x4002, Buffer.from('stray'));
          for (let i = 0; i < 10; i++) client.send(stun, port, loop);
          client.send(stray, port, loop);
          await c.waitFor(10);
          await up.waitFor(1);
          assert.ok(c.got.every((g) => g.msg.equals(stun)));
          assert.deepEqual(up.got[0].msg, stray);
          await new Promise((r) => setTimeout(r, 50));
          assert.equal(c.got.length, 10);
          assert.equal(up.got.length, 1);
        });
      } finally {
        relay.close();
      }
    });
  });
}
