import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type TraverseConfig } from './schema';
import { configLeaves, type ConfigLeaf } from './reference';

export interface LoadConfigInput {
  /** Command-line arguments (process.argv.slice(2)); `--config FILE` names a file. */
  argv?: string[];
  /** Environment (process.env): TRAVERSE_CONFIG names a file, TRAVERSE_<PATH> sets keys. */
  env?: Record<string, string | undefined>;
  /** Already-parsed overrides applied last (tests, embedding). */
  overrides?: unknown;
}

export type LoadConfigResult = { ok: true; config: TraverseConfig; file: string | undefined } | { ok: false; errors: string[] };

/** Environment variables that belong to the launcher, not to the tree. */
const NOT_KEYS = new Set(['TRAVERSE_CONFIG', 'TRAVERSE_ROOT', 'TRAVERSE_SKIP_BUILD']);

type Source = string;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let o = target;
  for (const p of path.slice(0, -1)) {
    if (!isPlainObject(o[p])) o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[path[path.length - 1]] = value;
}

function coerceScalar(kind: string | undefined, raw: string): unknown {
  if (kind === 'integer' || kind === 'number') return raw.trim() !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  if (kind === 'boolean') {
    const l = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(l)) return true;
    if (['false', '0', 'no', 'off'].includes(l)) return false;
    return raw;
  }
  return raw;
}

function coerceEnv(leaf: ConfigLeaf, raw: string): unknown {
  if (leaf.kind === 'array') {
    const t = raw.trim();
    if (t.startsWith('[')) {
      try {
        return JSON.parse(t);
      } catch {
        return raw;
      }
    }
    if (t === '') return [];
    return t.split(',').map((s) => coerceScalar(leaf.itemKind, s.trim()));
  }
  return coerceScalar(leaf.kind, raw);
}

function describeValue(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? 'nothing' : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function valueAt(obj: unknown, path: PropertyKey[]): unknown {
  let o: unknown = obj;
  for (const p of path) {
    if (o === null || typeof o !== 'object') return undefined;
    o = (o as Record<PropertyKey, unknown>)[p];
  }
  return o;
}

function formatIssues(issues: z.core.$ZodIssue[], input: unknown, sources: Map<string, Source>, file: string | undefined): string[] {
  return issues.map((i) => {
    const path = i.path.map(String);
    let message = i.message;
    if (i.code === 'unrecognized_keys') {
      const keys = i.keys.map((k) => [...path, k].join('.'));
      return `${keys.join(', ')}: unknown configuration key${keys.length > 1 ? 's' : ''}${file ? ` (in ${file})` : ''}`;
    }
    const key = path.join('.') || '(root)';
    const topKey = [...path];
    let src = sources.get(key);
    while (!src && topKey.length > 0) {
      topKey.pop();
      src = sources.get(topKey.join('.'));
    }
    const from = src ? ` (from ${src})` : file ? ` (in ${file})` : '';
    const got = valueAt(input, i.path);
    message = message.replace(/^Invalid input: /, '');
    if (/, received \w+$/.test(message)) message = message.replace(/, received \w+$/, `, got ${describeValue(got)}`);
    else if (['invalid_value', 'too_small', 'too_big', 'invalid_format', 'custom'].includes(i.code)) message += `, got ${describeValue(got)}`;
    return `${key}${from}: ${message}`;
  });
}

/**
 * Builds the configuration tree: defaults, then the file (YAML or JSON), then
 * TRAVERSE_* environment variables, then overrides. Returns every problem found,
 * each as one line naming the key and the problem.
 */
export function loadConfig(input: LoadConfigInput = {}): LoadConfigResult {
  const env = input.env ?? process.env;
  const argv = input.argv ?? [];
  const errors: string[] = [];
  const sources = new Map<string, Source>();

  let file: string | undefined;
  const ai = argv.indexOf('--config');
  if (ai >= 0) {
    file = argv[ai + 1];
    if (!file) errors.push('--config: needs a file name');
  } else if (env.TRAVERSE_CONFIG) file = env.TRAVERSE_CONFIG;

  let fromFile: unknown = {};
  if (file) {
    if (!existsSync(file)) errors.push(`config file ${file}: not found`);
    else {
      try {
        fromFile = parseYaml(readFileSync(file, 'utf8')) ?? {};
        if (!isPlainObject(fromFile)) {
          errors.push(`config file ${file}: must hold a mapping of sections (node, sip, ...)`);
          fromFile = {};
        }
      } catch (e) {
        errors.push(`config file ${file}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }

  const leaves = new Map(configLeaves().map((l) => [l.env, l]));
  const fromEnv: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('TRAVERSE_') || NOT_KEYS.has(name) || raw === undefined) continue;
    const leaf = leaves.get(name);
    if (!leaf) {
      errors.push(`${name}: no such configuration key (see the configuration reference in README.md)`);
      continue;
    }
    setPath(fromEnv, leaf.path.split('.'), coerceEnv(leaf, raw));
    sources.set(leaf.path, name);
  }

  const merged = deepMerge(deepMerge(fromFile, fromEnv), input.overrides ?? {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) errors.push(...formatIssues(parsed.error.issues, merged, sources, file));
  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  return { ok: true, config: parsed.data, file };
}

/** A copy of the tree with secrets replaced, for logs and API responses. */
export function redactConfig(config: TraverseConfig): TraverseConfig {
  const copy = structuredClone(config);
  const hide = (v: string) => (v ? '********' : '');
  copy.redis.password = hide(copy.redis.password);
  copy.auth.fixedPassword = hide(copy.auth.fixedPassword);
  copy.mediaEngine.token = hide(copy.mediaEngine.token);
  copy.events.mailPassword = hide(copy.events.mailPassword);
  if (copy.redis.url) copy.redis.url = copy.redis.url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:********@');
  return copy;
}
