// Lint rules that keep the layout of ARCHITECTURE.md true:
// - protocol libs (sip, sdp, stun, rtp, tunnel-protocol) import nothing from Nest and do no I/O;
// - nothing imports deep paths of another lib (`@traverse/sip`, never `@traverse/sip/src/x`);
// - libs never import apps; apps never reach into another lib's files by relative path;
// - the media engine never imports the signaling app (a signaling node may host the media engine's module);
// - promises are never left floating.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const protocolLibs = ['sip', 'sdp', 'stun', 'rtp', 'tunnel-protocol'];
const deepImport = { group: ['@traverse/*/*'], message: 'Import a lib by its name only (@traverse/<lib>), never a deep path.' };
const relativeLib = { group: ['**/libs/**'], message: 'Import another lib as @traverse/<lib>, not by relative path.' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', 'data/**', 'charts/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
      'no-restricted-imports': ['error', { patterns: [deepImport] }],
    },
  },
  {
    files: ['libs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [deepImport, { group: ['**/apps/**'], message: 'A lib never imports an app.' }],
        },
      ],
    },
  },
  {
    files: ['apps/**/*.ts', 'test/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [deepImport, relativeLib] }] },
  },
  {
    files: ['apps/media-engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            deepImport,
            relativeLib,
            { group: ['**/signaling/**'], message: 'The media engine runs alone too: what it shares with the signaling app lives in a lib (e.g. @traverse/stun-turn).' },
          ],
        },
      ],
    },
  },
  {
    files: protocolLibs.map((l) => `libs/${l}/**/*.ts`),
    ignores: protocolLibs.map((l) => `libs/${l}/**/*.spec.ts`),
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            deepImport,
            { group: ['@nestjs/*', 'ioredis', 'bullmq', 'pino', 'pino-*'], message: 'Protocol libs are pure: no Nest, no Redis, no logging.' },
            { group: ['node:fs', 'node:net', 'node:dgram', 'node:tls', 'node:http', 'node:https', 'node:child_process', 'fs', 'net', 'dgram', 'tls', 'http', 'https', 'child_process'], message: 'Protocol libs do no I/O; the app does it.' },
            { group: ['**/apps/**'], message: 'A lib never imports an app.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { parserOptions: { projectService: false, project: null }, globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly' } },
  },
);
