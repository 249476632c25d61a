// Benchmark (not a test): parse and serialise rates of @traverse/sip beside the npm `sip` package, in the same run.
import { parseDatagram } from '../parser';
import type { SipMessage } from '../message';

const REGISTER = [
  'REGISTER sip:registrar.biloxi.com SIP/2.0',
  'Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7;rport',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.com>',
  'From: Bob <sip:bob@biloxi.com>;tag=456248',
  'Call-ID: 843817637684230@998sdasdh09',
  'CSeq: 1826 REGISTER',
  'Contact: <sip:bob@192.0.2.4;transport=udp>;expires=7200;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1',
  'Supported: path, outbound, gruu',
  'User-Agent: Bobphone/1.0',
  'Expires: 7200',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const SDP = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.com',
  's=-',
  'c=IN IP4 192.0.2.101',
  't=0 0',
  'm=audio 49172 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=sendrecv',
  '',
].join('\r\n');

const INVITE = [
  'INVITE sip:bob@biloxi.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport',
  'Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2',
  'Max-Forwards: 69',
  'Record-Route: <sip:bigbox3.site3.atlanta.com;lr>',
  'To: Bob <sip:bob@biloxi.com>',
  'From: Alice <sip:alice@atlanta.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.com>',
  'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY',
  'Supported: replaces, timer',
  'Content-Type: application/sdp',
  `Content-Length: ${SDP.length}`,
  '',
  SDP,
].join('\r\n');

interface Measure {
  ops: number;
  opsPerSec: number;
  cpuUsPerOp: number;
}

function measure(fn: () => unknown, ms: number): Measure {
  // warm-up
  const wEnd = Date.now() + Math.min(300, ms / 3);
  while (Date.now() < wEnd) for (let i = 0; i < 100; i++) fn();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1_000_000n;
  let ops = 0;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 200; i++) fn();
    ops += 200;
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpu0);
  const secs = Number(now - t0) / 1e9;
  return { ops, opsPerSec: ops / secs, cpuUsPerOp: (cpu.user + cpu.system) / ops };
}

let sink: unknown;
const ROUNDS = 3;

function best(a: Measure | undefined, b: Measure): Measure {
  if (a === undefined) return b;
  return { ops: a.ops + b.ops, opsPerSec: Math.max(a.opsPerSec, b.opsPerSec), cpuUsPerOp: Math.min(a.cpuUsPerOp, b.cpuUsPerOp) };
}

function fmt(m: Measure): string {
  return `${Math.round(m.opsPerSec).toLocaleString('en-US').padStart(11)} ops/s  ${m.cpuUsPerOp.toFixed(2).padStart(7)} us CPU/op`;
}

/** Run the benchmark; returns the report lines. `ms` is the measuring time of each case. */
export async function runSipBench(ms = 1500): Promise<string[]> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const npmSip = require('sip') as { parse(s: string): unknown; stringify(m: unknown): string };
  const lines: string[] = [];
  lines.push(`@traverse/sip vs npm sip ${process.version}, ${ms} ms per side and case in ${ROUNDS} alternating rounds, best round kept`);
  lines.push(
    'parse: Buffer in (ours) vs string in (npm sip); serialise: one Buffer out; parse+read: also reads top Via branch, tags, To URI, Contact, CSeq',
  );
  for (const [name, text] of [
    ['REGISTER', REGISTER],
    ['INVITE+SDP', INVITE],
  ] as const) {
    const buf = Buffer.from(text, 'latin1');
    const first = parseDatagram(buf);
    if (!first.ok || first.kind !== 'message') throw new Error('bench message does not parse: ' + JSON.stringify(first));
    const parsed: SipMessage = first.value;
    const theirs = npmSip.parse(text);
    if (!theirs) throw new Error('npm sip does not parse the bench message');

    // parse and read what a registrar or proxy reads (npm sip has parsed all of it already; ours parses on access)
    type NpmMsg = {
      headers: {
        via: Array<{ params: { branch?: string } }>;
        from: { params: { tag?: string } };
        to: { uri: string };
        contact?: unknown;
        cseq: { seq: number };
      };
    };
    const cases: Array<[string, () => unknown, () => unknown]> = [
      ['parse', () => (sink = parseDatagram(buf)), () => (sink = npmSip.parse(text))],
      ['serialise', () => (sink = parsed.toBuffer()), () => (sink = Buffer.from(npmSip.stringify(theirs), 'binary'))],
      [
        'parse+serialise',
        () => {
          const r = parseDatagram(buf);
          if (r.ok && r.kind === 'message') sink = r.value.toBuffer();
        },
        () => (sink = Buffer.from(npmSip.stringify(npmSip.parse(text)), 'binary')),
      ],
      [
        'parse+read',
        () => {
          const r = parseDatagram(buf);
          if (r.ok && r.kind === 'message') {
            const m = r.value;
            sink = [m.topVia?.branch, m.fromTag, m.to.uri, m.contacts(), m.cseq.seq, m.callId];
          }
        },
        () => {
          const m = npmSip.parse(text) as NpmMsg;
          sink = [m.headers.via[0].params.branch, m.headers.from.params.tag, m.headers.to.uri, m.headers.contact, m.headers.cseq.seq];
        },
      ],
    ];
    lines.push(`${name} (${buf.length} bytes)`);
    for (const [label, ours, theirs2] of cases) {
      // alternate rounds and keep the best of each, so that load from other processes hurts both alike
      let a: Measure | undefined;
      let b: Measure | undefined;
      for (let round = 0; round < ROUNDS; round++) {
        a = best(a, measure(ours, ms / ROUNDS));
        b = best(b, measure(theirs2, ms / ROUNDS));
      }
      const x = a as Measure;
      const y = b as Measure;
      lines.push(
        `  ${label.padEnd(16)} ours ${fmt(x)} | npm sip ${fmt(y)} | ratio ${(x.opsPerSec / y.opsPerSec).toFixed(2)}x ops/s, ${(y.cpuUsPerOp / x.cpuUsPerOp).toFixed(2)}x less CPU`,
      );
    }
  }
  void sink;
  return lines;
}
