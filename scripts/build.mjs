#!/usr/bin/env node
// Compiles TypeScript into dist/ and rewrites @traverse/* aliases to relative paths.
// `node scripts/build.mjs` builds the whole tree; `node scripts/build.mjs sip stun`
// builds only those libs (plus what they import), so one broken lib does not stop
// work on another.
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdirSync, rmSync, existsSync, statSync, cpSync, mkdtempSync, renameSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

// The UDP data plane addon of the TURN relay (libs/udp-relay/native), built with node-gyp against
// the running Node's headers (Node-API only: the binary loads in any Node >= 18) into
// dist/libs/udp-relay/native/. Without a compiler the product runs on node:dgram: the reason is
// written beside it and the relay reports it.
function nodeGyp() {
  const candidates = [];
  try {
    candidates.push(
      join(
        dirname(realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim())),
        '..',
        'node_modules',
        'node-gyp',
        'bin',
        'node-gyp.js',
      ),
    );
  } catch {
    /* no npm on PATH */
  }
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c));
}

function buildAddon() {
  const src = join(root, 'libs', 'udp-relay');
  const outDir = join(root, 'dist', 'libs', 'udp-relay', 'native');
  const out = join(outDir, 'udp_relay.node');
  const reasonFile = join(outDir, 'unavailable.txt');
  const inputs = [join(src, 'binding.gyp'), join(src, 'native', 'udp_relay.c')];
  if (existsSync(out) && inputs.every((f) => statSync(f).mtimeMs <= statSync(out).mtimeMs)) return;
  mkdirSync(outDir, { recursive: true });
  const fail = (reason) => {
    rmSync(out, { force: true });
    writeFileSync(reasonFile, reason + '\n');
    console.warn(`build: udp-relay addon not built (${reason}); the TURN relay runs on node:dgram`);
  };
  if (process.platform !== 'linux') return fail(`no native data plane on ${process.platform}`);
  const gyp = nodeGyp();
  if (!gyp) return fail('node-gyp not found (it ships with npm)');
  // Headers of the running Node when its install has them (no download); else node-gyp's own cache.
  const prefix = join(dirname(process.execPath), '..');
  const nodedir = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
  // Built in a private copy so that concurrent builds do not share node-gyp's build/ folder.
  const work = mkdtempSync(join(tmpdir(), 'traverse-udp-relay-'));
  try {
    cpSync(join(src, 'binding.gyp'), join(work, 'binding.gyp'));
    cpSync(join(src, 'native'), join(work, 'native'), { recursive: true });
    const r = spawnSync(process.execPath, [gyp, 'rebuild', '--loglevel=error', ...nodedir], { cwd: work, encoding: 'utf8' });
    const built = join(work, 'build', 'Release', 'udp_relay.node');
    if (r.status !== 0 || !existsSync(built)) {
      const lines = `${r.stderr ?? ''}${r.stdout ?? ''}${r.error ? r.error.message : ''}`.trim().split('\n');
      const reason =
        lines
          .filter((l) => /error|not found|No such/i.test(l))
          .slice(0, 3)
          .join(' | ') || lines.slice(-2).join(' | ');
      return fail(`node-gyp failed: ${reason || 'exit ' + r.status}`);
    }
    const tmp = `${out}.${process.pid}.tmp`;
    cpSync(built, tmp);
    renameSync(tmp, out);
    rmSync(reasonFile, { force: true });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (scopes.length === 0 || scopes.some((s) => ['udp-relay', 'media-engine', 'signaling'].includes(s) || s.startsWith('test') || s.startsWith('bench')))
  buildAddon();
