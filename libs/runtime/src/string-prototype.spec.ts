import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

/**
 * Runs a script in a Node of its own with V8's natives syntax, so that it can ask V8 whether
 * String.prototype has fast properties; returns the lines it printed.
 */
function inFreshNode(script: string): string[] {
  const prelude =
    `const { restoreFastStringPrototype } = require(${JSON.stringify(require.resolve('./string-prototype'))});\n` +
    `const fast = () => %HasFastProperties(String.prototype);\n`;
  const out = execFileSync(process.execPath, ['--allow-natives-syntax', '-e', prelude + script], { encoding: 'utf8' });
  return out.trim().split('\n');
}

describe('restoreFastStringPrototype', () => {
  it('puts String.prototype back into fast mode after a class extends String', () => {
    assert.deepEqual(inFreshNode('class Verbatim extends String {}\nconsole.log(fast());\nrestoreFastStringPrototype();\nconsole.log(fast());'), [
      'false',
      'true',
    ]);
  });

  it('does so as well when String.prototype had served as a prototype before the class (lookups through a wrapper alone do not)', () => {
    const script = [
      'const wrapper = new String("x");',
      'const read = (o) => o.charCodeAt;',
      'for (let i = 0; i < 3; i++) read(wrapper);',
      'class Verbatim extends String {}',
      'for (let i = 0; i < 3; i++) read(wrapper);',
      'console.log(fast());',
      'restoreFastStringPrototype();',
      'console.log(fast());',
    ].join('\n');
    assert.deepEqual(inFreshNode(script), ['false', 'true']);
  });

  it('undoes what loading ioredis does (its VerbatimString extends String)', () => {
    const [afterLoad, afterRestore] = inFreshNode('require("ioredis");\nconsole.log(fast());\nrestoreFastStringPrototype();\nconsole.log(fast());');
    assert.equal(afterLoad, 'false', 'ioredis no longer leaves String.prototype in dictionary mode: this test and its reason to be can go');
    assert.equal(afterRestore, 'true');
  });

  it('leaves a fast String.prototype fast', () => {
    assert.deepEqual(inFreshNode('console.log(fast());\nrestoreFastStringPrototype();\nconsole.log(fast());'), ['true', 'true']);
  });
});
