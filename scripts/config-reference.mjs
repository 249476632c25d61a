#!/usr/bin/env node
// Writes the configuration reference (generated from the configuration schema)
// into README.md between its markers. `--check` exits 1 when the README is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { configReferenceMarkdown } = require(join(root, 'dist/libs/config/src/index.js'));
const readme = join(root, 'README.md');
const text = readFileSync(readme, 'utf8');
const begin = '<!-- config-reference:begin -->';
const end = '<!-- config-reference:end -->';
const a = text.indexOf(begin);
const b = text.indexOf(end);
if (a < 0 || b < a) {
  console.error('README.md has no configuration reference markers');
  process.exit(2);
}
const next = text.slice(0, a + begin.length) + '\n' + configReferenceMarkdown() + '\n' + text.slice(b);
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error('README.md configuration reference is stale: run node scripts/config-reference.mjs');
    process.exit(1);
  }
} else writeFileSync(readme, next);
