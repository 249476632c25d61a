#!/usr/bin/env node
// Compiles TypeScript into dist/ and rewrites @traverse/* aliases to relative paths.
// `node scripts/build.mjs` builds the whole tree; `node scripts/build.mjs sip stun`
// builds only those libs (plus what they import), so one broken lib does not stop
// work on another.
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scopes = process.argv.slice(2);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

let project = 'tsconfig.build.json';
if (scopes.length > 0) {
  const include = scopes.map((s) => {
    // A lib name (sip), an app name (signaling), or a folder path (test/node).
    const dir = s.includes('/') ? s.replace(/\/$/, '') : ['signaling', 'media-engine', 'tunnel-client'].includes(s) ? `apps/${s}` : s === 'test' ? 'test' : `libs/${s}`;
    if (!existsSync(join(root, dir))) {
      console.error(`build: no such app or lib: ${s} (looked for ${dir})`);
      process.exit(2);
    }
    return `${dir}/**/*.ts`;
  });
  mkdirSync(join(root, 'dist'), { recursive: true });
  project = join('dist', `.tsconfig.${scopes.join('-').replace(/[^A-Za-z0-9_-]/g, '_')}.json`);
  writeFileSync(
    join(root, project),
    JSON.stringify({
      extends: '../tsconfig.build.json',
      compilerOptions: { incremental: false, rootDir: '..', outDir: '.', baseUrl: '..', paths: { '@traverse/*': ['libs/*/src/index.ts'] } },
      include: include.map((p) => `../${p}`),
    }),
  );
}
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project]);
run(process.execPath, [join(root, 'node_modules', 'tsc-alias', 'dist', 'bin', 'index.js'), '-p', project]);
if (scopes.length > 0) rmSync(join(root, project), { force: true });
