#!/usr/bin/env node
// Runs the test suites with node's test runner on the compiled tree.
//   node scripts/run-tests.mjs unit [lib ...]   unit tests (*.spec.ts beside the code)
//   node scripts/run-tests.mjs e2e [file-filter] end-to-end suites in test/ (*.e2e-spec.ts), one file at a time
//   node scripts/run-tests.mjs all              both; ends with "N passed, N failed"
// Set TRAVERSE_SKIP_BUILD=1 to test what is already in dist/.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [kind = 'all', ...rest] = process.argv.slice(2);
if (!['unit', 'e2e', 'all'].includes(kind)) {
  console.error('usage: run-tests.mjs unit|e2e|all [lib ...]');
  process.exit(2);
}

function build(scopes) {
  if (process.env.TRAVERSE_SKIP_BUILD === '1') return;
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), ...scopes], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('build failed');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

function runNodeTest(patterns, extra) {
  const dir = mkdtempSync(join(tmpdir(), 'traverse-tests-'));
  const countFile = join(dir, 'count.json');
  const args = [
    '--enable-source-maps',
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'count-reporter.mjs')}`,
    `--test-reporter-destination=${countFile}`,
    ...extra,
    ...patterns,
  ];
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, TRAVERSE_ROOT: root } });
  let counts = { passed: 0, failed: r.status === 0 ? 0 : 1, skipped: 0 };
  if (existsSync(countFile)) {
    try {
      counts = JSON.parse(readFileSync(countFile, 'utf8').trim());
      if (r.status !== 0 && counts.failed === 0) counts.failed = 1;
    } catch {
      /* keep the fallback */
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return counts;
}

const total = { passed: 0, failed: 0, skipped: 0 };
const add = (c) => {
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
};

if (kind === 'unit') {
  build(rest);
  const patterns = rest.length
    ? rest.map((s) => (['signaling', 'media-engine', 'tunnel-client'].includes(s) ? `dist/apps/${s}/**/*.spec.js` : `dist/libs/${s}/**/*.spec.js`))
    : ['dist/libs/**/*.spec.js', 'dist/apps/**/*.spec.js'];
  add(runNodeTest(patterns, []));
} else if (kind === 'e2e') {
  build([]);
  const filter = rest[0] ? `dist/test/**/*${rest[0]}*.e2e-spec.js` : 'dist/test/**/*.e2e-spec.js';
  add(runNodeTest([filter], ['--test-concurrency=1', '--test-timeout=300000']));
} else {
  build([]);
  add(runNodeTest(['dist/libs/**/*.spec.js', 'dist/apps/**/*.spec.js'], []));
  add(runNodeTest(['dist/test/**/*.e2e-spec.js'], ['--test-concurrency=1', '--test-timeout=300000']));
}
const skipped = total.skipped ? `, ${total.skipped} skipped` : '';
console.log(`${total.passed} passed, ${total.failed} failed${skipped}`);
process.exit(total.failed > 0 ? 1 : 0);
