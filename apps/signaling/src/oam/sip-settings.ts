/**
 * The SIP settings of the O&M API: the sip and registrar sections of the configuration (the
 * seed's SIP Configuration and SIP Registrar Settings pages). A change is validated with the
 * configuration schema as a whole (so cross-key rules hold: t2Ms >= t1Ms, minExpires <=
 * maxExpires, ...) and refused entirely when any key is wrong. Keys the running node can take
 * at once are applied; the others (listeners, domains, security level, ...) are named as needing
 * a restart with the new value in the configuration.
 */
import { configSchema, type TraverseConfig } from '@traverse/config';
import { natKeepAliveSettings } from '../sip/nat/nat-setup';
import type { SipService } from '../sip/sip.service';

export type SipSettings = Pick<TraverseConfig, 'sip' | 'registrar'>;
export const SETTINGS_SECTIONS = ['sip', 'registrar'] as const;

/** Keys the running node applies at once; every other key of the two sections needs a restart. */
export const APPLIED_AT_RUN_TIME: ReadonlySet<string> = new Set([
  'sip.maxUdpPacketSize',
  'sip.rateLimit',
  'sip.rateLimitBurst',
  'sip.t1Ms',
  'sip.t2Ms',
  'sip.t4Ms',
  'sip.natKeepAlive',
  'sip.natKeepAliveInterval',
  'sip.natKeepAliveFailures',
  'sip.proxyMode',
  'sip.recurseOnRedirect',
  'sip.homeRouting',
  'sip.homeProxy',
  'sip.forking',
  'sip.sequentialForkingTime',
  'sip.alwaysRecordRoute',
  'sip.maxForwards',
  'registrar.minExpires',
  'registrar.maxExpires',
  'registrar.defaultExpires',
  'registrar.rejectAcrossNat',
]);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out;
}

export type SettingsChange = { ok: true; next: SipSettings; changed: string[] } | { ok: false; errors: string[] };

/**
 * Validates a change (a partial `{ sip: {...}, registrar: {...} }`) against the running
 * configuration; on success gives the new sections and the dotted keys whose value changes.
 */
export function validateSettingsChange(current: TraverseConfig, body: unknown): SettingsChange {
  if (!isPlainObject(body)) return { ok: false, errors: ['body: expected an object with sip and/or registrar settings'] };
  const errors: string[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (!(SETTINGS_SECTIONS as readonly string[]).includes(k)) errors.push(`${k}: not a SIP settings section (sip, registrar)`);
    else if (!isPlainObject(v)) errors.push(`${k}: expected an object`);
  }
  if (errors.length > 0) return { ok: false, errors };
  const merged = merge(structuredClone(current), body);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => {
        const path = i.path.map(String).join('.') || 'body';
        if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${path}.${k}: unknown setting`).join('; ');
        return `${path}: ${i.message.replace(/^Invalid input: /, '')}`;
      }),
    };
  }
  const next: SipSettings = { sip: parsed.data.sip, registrar: parsed.data.registrar };
  const changed: string[] = [];
  for (const section of SETTINGS_SECTIONS) {
    const before = current[section] as Record<string, unknown>;
    const after = next[section] as Record<string, unknown>;
    for (const key of Object.keys(after)) if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changed.push(`${section}.${key}`);
  }
  return { ok: true, next, changed };
}

/**
 * Applies the run-time keys of a validated change to the running node (transport, transactions
 * for new timers, NAT keep-alives, proxy, registrar) and to its running configuration. Keys that
 * need a restart are left as they are. Returns the keys applied and those needing a restart.
 */
export function applySettings(config: TraverseConfig, sip: SipService, next: SipSettings, changed: readonly string[]): { applied: string[]; restartRequired: string[] } {
  const applied = changed.filter((k) => APPLIED_AT_RUN_TIME.has(k));
  const restartRequired = changed.filter((k) => !APPLIED_AT_RUN_TIME.has(k));
  if (applied.length === 0) return { applied, restartRequired };
  const s = next.sip;
  const r = next.registrar;
  sip.transport?.configure({ maxUdpPacketSize: s.maxUdpPacketSize, rateLimit: { rate: s.rateLimit, burst: s.rateLimitBurst } });
  if (sip.layer !== undefined) Object.assign(sip.layer.timers, { t1: s.t1Ms, t2: s.t2Ms, t4: s.t4Ms });
  sip.nat?.configure(natKeepAliveSettings(s));
  if (sip.proxy !== undefined) {
    Object.assign(sip.proxy.opts, {
      mode: s.proxyMode,
      recurseOnRedirect: s.recurseOnRedirect,
      forking: s.forking,
      sequentialForkingTimeMs: s.sequentialForkingTime * 1000,
      homeRouting: s.homeRouting,
      homeProxy: s.homeProxy,
      alwaysRecordRoute: s.alwaysRecordRoute,
      maxForwards: s.maxForwards,
    });
  }
  sip.registrar?.configure({ minExpires: r.minExpires, maxExpires: r.maxExpires, defaultExpires: r.defaultExpires, rejectAcrossNat: r.rejectAcrossNat });
  // the running configuration says what is in force
  for (const key of applied) {
    const [section, name] = key.split('.') as ['sip' | 'registrar', string];
    (config[section] as Record<string, unknown>)[name] = (next[section] as Record<string, unknown>)[name];
  }
  return { applied, restartRequired };
}

/** The last change of one setting made through the O&M API, as the cluster keeps it. */
export interface SettingChange {
  value: unknown;
  /** ms since the epoch (clock of the node that took the change) */
  changedAt: number;
  /** Who changed it: the O&M client certificate's subject and/or the source address. */
  changedBy?: string;
  /** Node that took the change. */
  node: string;
  /** How many times the setting was changed. */
  revision: number;
}

/** Whether a dotted configuration path is a key of the SIP settings sections (sip.x, registrar.x). */
export function isSettingsKey(path: string): boolean {
  const [section, name, ...rest] = path.split('.');
  return rest.length === 0 && name !== undefined && name !== '' && (SETTINGS_SECTIONS as readonly string[]).includes(section);
}

/** The value of a dotted settings key in settings sections. */
export function settingValue(settings: SipSettings, key: string): unknown {
  const [section, name] = key.split('.') as ['sip' | 'registrar', string];
  return (settings[section] as Record<string, unknown>)[name];
}

export type ClusterMerge =
  | { ok: true; next: SipSettings; changed: string[]; ignored: string[] }
  | { ok: false; errors: string[]; ignored: string[] };

/**
 * The settings a node runs with: its own configuration (file and environment) with the
 * cluster's settings changed through the O&M API over it, the cluster winning (an operator
 * changed them later). Validated as a whole like a change; keys this node's schema does not
 * know (written by a newer node) are ignored and named. `changed` lists the keys that differ
 * from `base`.
 */
export function mergeClusterSettings(base: TraverseConfig, cluster: Readonly<Record<string, unknown>>): ClusterMerge {
  const body: Record<string, Record<string, unknown>> = {};
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(cluster)) {
    const [section, name] = key.split('.') as ['sip' | 'registrar', string];
    if (!isSettingsKey(key) || !(name in (base[section] as Record<string, unknown>))) {
      ignored.push(key);
      continue;
    }
    (body[section] ??= {})[name] = value;
  }
  const v = validateSettingsChange(base, body);
  return v.ok ? { ...v, ignored } : { ...v, ignored };
}
