// SDP benchmark: parse + relay rewrite + serialise of a typical audio+video offer.
// Build: npm run build (compiles bench/ with the tree); run: node dist/bench/sdp.bench.js
// SDP_BENCH_ITERATIONS sets the number of iterations per case (default 50 000).
import { addRelayCandidates, bumpOriginVersion, parseSdp, relayMedia, serializeSdp, stripIce } from '@traverse/sdp';
import { AUDIO_VIDEO_OFFER } from '../libs/sdp/src/testdata';

// The same offer the SDP unit tests use.
const body = Buffer.from(AUDIO_VIDEO_OFFER);

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
