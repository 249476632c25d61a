// SDP benchmark: parse + relay rewrite + serialise of a typical audio+video offer.
// Build: npm run build (compiles bench/ with the tree); run: node dist/bench/sdp.bench.js
// SDP_BENCH_ITERATIONS sets the number of iterations per case (default 50 000).
import { addRelayCandidates, bumpOriginVersion, parseSdp, relayMedia, serializeSdp, stripIce } from '@traverse/sdp';

const OFFER = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 10.0.0.5',
  's=-',
  'c=IN IP4 10.0.0.5',
  't=0 0',
  'a=ice-ufrag:F7gI',
  'a=ice-pwd:x9cml/YzichV2+XlhiMu8g',
  'a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2',
  'm=audio 49170 RTP/AVP 0 8 97 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:97 opus/48000/2',
  'a=fmtp:97 minptime=10;useinbandfec=1',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=rtcp:49171',
  'a=ptime:20',
  'a=sendrecv',
  'a=setup:actpass',
  'a=candidate:1 1 UDP 2130706431 10.0.0.5 49170 typ host',
  'a=candidate:1 2 UDP 2130706430 10.0.0.5 49171 typ host',
  'a=candidate:2 1 UDP 1694498815 203.0.113.7 61000 typ srflx raddr 10.0.0.5 rport 49170',
  'm=video 51372 RTP/AVP 96 98',
  'b=AS:2000',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:98 H264/90000',
  'a=fmtp:98 profile-level-id=42e01f;packetization-mode=1',
  'a=rtcp-mux',
  'a=rtcp-fb:96 nack pli',
  'a=sendrecv',
  'a=setup:actpass',
  'a=candidate:1 1 UDP 2130706431 10.0.0.5 51372 typ host',
  'a=end-of-candidates',
]
  .map((l) => `${l}\r\n`)
  .join('');

const body = Buffer.from(OFFER);

type Case = { name: string; run: () => number };

const cases: Case[] = [
  {
    name: 'parse+serialise (round trip)',
    run: () => {
      const r = parseSdp(body);
      return r.ok ? serializeSdp(r.value).length : 0;
    },
  },
  {
    name: 'parse+relay rewrite+strip ICE+serialise',
    run: () => {
      const r = parseSdp(body);
      if (!r.ok) return 0;
      const out = bumpOriginVersion(
        stripIce(
          relayMedia(r.value, [
            { address: '198.51.100.20', port: 40000 },
            { address: '198.51.100.20', port: 40002 },
          ]),
        ),
      );
      return serializeSdp(out).length;
    },
  },
  {
    name: 'parse+relay rewrite+relay candidates+serialise',
    run: () => {
      const r = parseSdp(body);
      if (!r.ok) return 0;
      let out = relayMedia(r.value, [
        { address: '198.51.100.20', port: 40000 },
        { address: '198.51.100.20', port: 40002 },
      ]);
      out = addRelayCandidates(out, 0, { address: '198.51.100.20', port: 40000, relatedAddress: '203.0.113.7', relatedPort: 61000 });
      out = addRelayCandidates(out, 1, { address: '198.51.100.20', port: 40002, relatedAddress: '203.0.113.7', relatedPort: 61002 });
      return serializeSdp(bumpOriginVersion(out)).length;
    },
  },
];

function measure(c: Case, iterations: number): { opsPerSec: number; cpuUsPerOp: number } {
  let sink = 0;
  for (let i = 0; i < Math.min(5000, iterations); i++) sink += c.run(); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += c.run();
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  if (sink === 0) throw new Error('benchmark produced nothing');
  return { opsPerSec: (iterations * 1e9) / wallNs, cpuUsPerOp: (cpu.user + cpu.system) / iterations };
}

const iterations = Number(process.env.SDP_BENCH_ITERATIONS ?? 50_000);
console.log(`SDP benchmark: ${body.length}-byte audio+video offer, ${iterations} iterations, node ${process.version}`);
for (const c of cases) {
  const r = measure(c, iterations);
  console.log(`${c.name.padEnd(50)} ${Math.round(r.opsPerSec).toString().padStart(9)} ops/s  ${r.cpuUsPerOp.toFixed(2).padStart(7)} us CPU/op`);
}
