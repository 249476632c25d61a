import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { configReferenceMarkdown } from './reference';

function readme(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'README.md')) || !existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('README.md not found');
    dir = up;
  }
  return readFileSync(join(dir, 'README.md'), 'utf8');
}

describe('README configuration reference', () => {
  it('is exactly the reference generated from the schema (run node scripts/config-reference.mjs)', () => {
    const text = readme();
    const begin = '<!-- config-reference:begin -->\n';
    const a = text.indexOf(begin);
    const b = text.indexOf('\n<!-- config-reference:end -->');
    assert.ok(a >= 0 && b > a, 'README.md has the configuration reference markers');
    assert.equal(text.slice(a + begin.length, b), configReferenceMarkdown());
  });
});
