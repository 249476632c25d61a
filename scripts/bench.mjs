#!/usr/bin/env node
// npm run bench: runs every compiled benchmark (dist/bench/*.bench.js) one after the other.
// Benchmarks measure and print; they are not tests and assert nothing.
//   node scripts/bench.mjs [name-filter]
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'dist', 'bench');
if (!existsSync(dir)) {
  console.error('no compiled benchmarks: run ./traverse build first');
  process.exit(2);
}
const filter = process.argv[2] ?? '';
const files = readdirSync(dir).filter((f) => f.endsWith('.bench.js') && f.includes(filter)).sort();
let failed = 0;
for (const f of files) {
  console.log(`\n== ${f.replace(/\.bench\.js$/, '')}`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(dir, f)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
