import { z } from 'zod';
import { configSchema } from './schema';

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
}

export interface ConfigLeaf {
  /** Dotted path, e.g. sip.udpPort */
  path: string;
  /** Environment variable that sets it, e.g. TRAVERSE_SIP__UDP_PORT */
  env: string;
  type: string;
  default: unknown;
  description: string;
  /** JSON schema type of the leaf: string, integer, number, boolean, array, object */
  kind: string;
  itemKind?: string;
}

let cached: JsonSchema | undefined;
function jsonSchema(): JsonSchema {
  cached ??= z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return cached;
}

/** camelCase key -> UPPER_SNAKE env segment. */
export function envSegment(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function kindOf(s: JsonSchema): string {
  if (s.enum) return 'string';
  const t = Array.isArray(s.type) ? s.type[0] : s.type;
  return t ?? 'string';
}

function typeText(s: JsonSchema): string {
  if (s.enum) return s.enum.map(String).join(' \\| ');
  const k = kindOf(s);
  if (k === 'array') {
    const it = s.items ?? {};
    if (it.enum) return `list of (${it.enum.map(String).join(' \\| ')})`;
    if (kindOf(it) === 'object') return `list of {${Object.keys(it.properties ?? {}).join(', ')}}`;
    return `list of ${kindOf(it)}`;
  }
  if (k === 'integer' && s.minimum !== undefined && s.maximum !== undefined) return `integer ${s.minimum}-${s.maximum}`;
  return k;
}

/** Every configurable leaf of the tree, in schema order. */
export function configLeaves(): ConfigLeaf[] {
  const out: ConfigLeaf[] = [];
  const walk = (s: JsonSchema, path: string[]) => {
    if (kindOf(s) === 'object' && s.properties) {
      for (const [k, v] of Object.entries(s.properties)) walk(v, [...path, k]);
      return;
    }
    const leaf: ConfigLeaf = {
      path: path.join('.'),
      env: 'TRAVERSE_' + path.map(envSegment).join('__'),
      type: typeText(s),
      default: s.default,
      description: s.description ?? '',
      kind: kindOf(s),
    };
    if (leaf.kind === 'array') leaf.itemKind = kindOf(s.items ?? {});
    out.push(leaf);
  };
  walk(jsonSchema(), []);
  return out;
}

function defaultText(v: unknown): string {
  if (v === undefined) return '(none)';
  if (v === '') return '""';
  return '`' + JSON.stringify(v) + '`';
}

/** The configuration reference as a Markdown table (the README embeds it). */
export function configReferenceMarkdown(): string {
  const rows = configLeaves().map((l) => `| \`${l.path}\` | \`${l.env}\` | ${l.type} | ${defaultText(l.default)} | ${l.description.replace(/\|/g, '\\|')} |`);
  return ['| key | environment | type | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}
