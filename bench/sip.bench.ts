// SIP parse/serialise benchmark beside the npm `sip` package (logic in libs/sip/src/bench/sip-bench.ts).
// Build: npm run build (compiles bench/ with the tree); run: node dist/bench/sip.bench.js. SIP_BENCH_MS: ms per side and case.
import { runSipBench } from '../libs/sip/src/bench/sip-bench';

runSipBench(Number(process.env.SIP_BENCH_MS ?? 1500))
  .then((lines) => console.log(lines.join('\n')))
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
