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
