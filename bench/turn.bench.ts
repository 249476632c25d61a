/**
 * TURN / STUN benchmark (not a test): codec throughput, and the relay's CPU per packet measured in
 * the server process for traverse's TurnServer and, as the anchor, coturn's turnserver under the
 * same load on loopback. Run: node dist/bench/turn.bench.js [packets]
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import {
  Attr,
  StunClass,
  StunMessage,
  StunMethod,
  TransportProtocol,
  attributeValue,
  channelDataHeader,
  decodeChannelData,
  decodeMessage,
  encodeMessage,
  longTermKey,
  newTransactionId,
  shortTermKey,
  verifyFingerprint,
  verifyIntegrity,
} from '@traverse/stun';
import { TurnServer } from '../apps/media-engine/src/turn/turn-server';

const SAMPLE = Buffer.from(
  '000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf',
  'hex',
);

function opsPerSecond(name: string, fn: () => void, ms = 700): number {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const end = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
  }
  const ops = Math.round(n / (ms / 1000));
  console.log(`${name.padEnd(48)} ${ops.toLocaleString('en-US').padStart(14)} ops/s`);
  return ops;
}

function codecBench(): void {
  const key = shortTermKey('VOkJxbRl1RmTxUk/WvJxBt');
  const tid = newTransactionId();
  const cd = Buffer.concat([channelDataHeader(0x4000, 160), Buffer.alloc(160)]);
  opsPerSecond('decode RFC 5769 sample request', () => decodeMessage(SAMPLE));
  opsPerSecond('decode + FINGERPRINT + MESSAGE-INTEGRITY', () => {
    const r = decodeMessage(SAMPLE);
    if (r.ok) {
      verifyFingerprint(r.value);
      verifyIntegrity(r.value, key);
    }
  });
  opsPerSecond('encode Binding success (XOR-MAPPED, FINGERPRINT)', () =>
    encodeMessage(
      { method: StunMethod.Binding, cls: StunClass.SuccessResponse, transactionId: tid },
      [{ type: Attr.XorMappedAddress, value: { family: 4, address: '192.0.2.1', port: 32853 } }],
      {
        fingerprint: true,
      },
    ),
  );
  opsPerSecond('encode Data indication (160 B)', () =>
    encodeMessage({ method: StunMethod.Data, cls: StunClass.Indication, transactionId: tid }, [
      { type: Attr.XorPeerAddress, value: { family: 4, address: '192.0.2.1', port: 32853 } },
      { type: Attr.Data, value: cd.subarray(4) },
    ]),
  );
  opsPerSecond('decode ChannelData', () => decodeChannelData(cd));
}

// ------------------------------------------------------------------ relay load

interface Target {
  port: number;
  cpuMs: () => Promise<number>;
  stop: () => Promise<void>;
}

async function request(
  sock: dgram.Socket,
  port: number,
  method: number,
  attrs: Parameters<typeof encodeMessage>[1],
  auth?: { key: Buffer; realm: string; nonce: string; user: string },
): Promise<StunMessage> {
  const tid = newTransactionId();
  const all = auth
    ? [
        ...attrs,
        { type: Attr.Username, value: auth.user },
        { type: Attr.Realm, value: auth.realm },
        { type: Attr.Nonce, value: auth.nonce },
      ]
    : attrs;
  const buf = encodeMessage({ method, cls: StunClass.Request, transactionId: tid }, all, { integrityKey: auth?.key });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), 3000);
    const on = (msg: Buffer) => {
      const d = decodeMessage(msg);
      if (d.ok && Buffer.from(d.value.transactionId).equals(tid)) {
        clearTimeout(t);
        sock.off('message', on);
        resolve(d.value);
      }
    };
    sock.on('message', on);
    sock.send(buf, port, '127.0.0.1');
  });
}

async function relayLoad(target: Target, packets: number): Promise<{ cpuUsPerPacket: number; delivered: number }> {
  const client = dgram.createSocket('udp4');
  const sink = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
  for (const s of [client, sink]) {
    s.setRecvBufferSize(8 * 1024 * 1024);
    s.setSendBufferSize(8 * 1024 * 1024);
  }
  let delivered = 0;
  sink.on('message', () => delivered++);
  const first = await request(client, target.port, StunMethod.Allocate, [{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }]);
  const realm = attributeValue(first, Attr.Realm)!;
  const nonce = attributeValue(first, Attr.Nonce)!;
  const auth = { key: longTermKey('bench', realm, 'pw'), realm, nonce, user: 'bench' };
  const alloc = await request(
    client,
    target.port,
    StunMethod.Allocate,
    [{ type: Attr.RequestedTransport, value: TransportProtocol.UDP }],
    auth,
  );
  if (alloc.cls !== StunClass.SuccessResponse) throw new Error(`allocate failed: ${attributeValue(alloc, Attr.ErrorCode)?.code}`);
  const peer = { family: 4 as const, address: '127.0.0.1', port: sink.address().port };
  const cb = await request(
    client,
    target.port,
    StunMethod.ChannelBind,
    [
      { type: Attr.ChannelNumber, value: 0x4001 },
      { type: Attr.XorPeerAddress, value: peer },
    ],
    auth,
  );
  if (cb.cls !== StunClass.SuccessResponse) throw new Error(`channel bind failed: ${attributeValue(cb, Attr.ErrorCode)?.code}`);
  const pkt = Buffer.concat([channelDataHeader(0x4001, 160), Buffer.alloc(160, 0x80)]);
  const cpu0 = await target.cpuMs();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const burst = () => {
      for (let i = 0; i < 50 && sent < packets; i++, sent++) client.send(pkt, target.port, '127.0.0.1');
      if (sent < packets) setTimeout(burst, 1);
      else setTimeout(resolve, 300);
    };
    burst();
  });
  const cpu1 = await target.cpuMs();
  client.close();
  sink.close();
  return { cpuUsPerPacket: ((cpu1 - cpu0) * 1000) / Math.max(delivered, 1), delivered };
}

function traverseTarget(): Promise<Target> {
  const child = fork(__filename, ['--server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve) => {
    child.once('message', (m: { port: number }) => {
      resolve({
        port: m.port,
        cpuMs: () =>
          new Promise((r) => {
            child.once('message', (x: { cpuMs: number }) => r(x.cpuMs));
            child.send('cpu');
          }),
        stop: () =>
          new Promise((r) => {
            child.once('exit', () => r());
            child.kill();
          }),
      });
    });
  });
}

async function coturnTarget(): Promise<Target | undefined> {
  const bin = spawnSync('sh', ['-c', 'command -v turnserver'], { encoding: 'utf8' }).stdout.trim();
  if (!bin) return undefined;
  const port = 39000 + Math.floor(Math.random() * 500);
  const p = spawn(
    bin,
    [
      '-n',
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--listening-ip=127.0.0.1',
      `--listening-port=${port}`,
      '--relay-ip=127.0.0.1',
      '--min-port=46000',
      '--max-port=46999',
      '--lt-cred-mech',
      '--user=bench:pw',
      '--realm=bench',
      '--allow-loopback-peers',
      '--log-file=stdout',
      '--relay-threads=1',
    ],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 800));
  if (p.exitCode !== null) return undefined;
  const tck = 100; // USER_HZ
  return {
    port,
    cpuMs: async () => {
      const f = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return ((Number(f[11]) + Number(f[12])) * 1000) / tck;
    },
    stop: () =>
      new Promise((r) => {
        p.once('exit', () => r());
        p.kill();
      }),
  };
}

async function main(): Promise<void> {
  if (process.argv.includes('--server')) {
    const s = new TurnServer({
      listeners: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      relayAddresses: { ipv4: '127.0.0.1' },
      relayPorts: { min: 47000, max: 47999 },
      realm: 'bench',
      authenticate: async (u, r) => longTermKey(u, r, 'pw'),
      peerPolicy: { allow: ['127.0.0.1/32'] },
    });
    await s.start();
    process.on('message', () => {
      const u = process.cpuUsage();
      process.send!({ cpuMs: (u.user + u.system) / 1000 });
    });
    process.send!({ port: s.listeners[0].port });
    return;
  }
  const packets = Number(process.argv[2] ?? 100_000);
  console.log('codec');
  codecBench();
  console.log(`\nrelay: ${packets} ChannelData packets of 160 B, client -> TURN -> peer, CPU in the server process`);
  const t = await traverseTarget();
  const ours = await relayLoad(t, packets);
  await t.stop();
  console.log(`traverse TurnServer   ${ours.cpuUsPerPacket.toFixed(2).padStart(8)} us/packet  (${ours.delivered}/${packets} delivered)`);
  const c = await coturnTarget();
  if (!c) {
    console.log('coturn anchor: turnserver not available (Debian package "coturn")');
    return;
  }
  const anchor = await relayLoad(c, packets);
  await c.stop();
  console.log(
    `coturn turnserver     ${anchor.cpuUsPerPacket.toFixed(2).padStart(8)} us/packet  (${anchor.delivered}/${packets} delivered)`,
  );
  console.log(`ratio traverse/coturn ${(ours.cpuUsPerPacket / anchor.cpuUsPerPacket).toFixed(2).padStart(8)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
