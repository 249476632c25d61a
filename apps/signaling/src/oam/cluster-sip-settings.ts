/**
 * The SIP settings shared by the cluster. A change through the O&M API is validated on the node
 * that takes it, then appended to the cluster's streams as configuration.changed events (one per
 * key, with who changed it; the event carries when and on which node) in one atomic step, which
 * every node folds in one batch into its configuration read model (snapshotted with the others). Every node then applies the
 * run-time keys at once and keeps the others for its next start. A starting node puts the
 * cluster's settings over its own configuration (file and environment) before SIP starts: a
 * setting changed through the API wins over the file, since an operator changed it later.
 */
import { ConfigurationChanged, type ClusterNode } from '@traverse/cluster';
import type { TraverseConfig } from '@traverse/config';
import type { NodeContext } from '@traverse/runtime';
import type { SipService } from '../sip/sip.service';
import {
  APPLIED_AT_RUN_TIME,
  applySettings,
  isSettingsKey,
  mergeClusterSettings,
  settingValue,
  validateSettingsChange,
  type SettingChange,
  type SipSettings,
} from './sip-settings';

export type SettingsOutcome = { ok: true; applied: string[]; restartRequired: string[] } | { ok: false; errors: string[] };

export class ClusterSipSettings {
  /** The node's own configuration as loaded from file and environment. */
  private readonly base: TraverseConfig;
  /** Keys whose cluster value needs a restart here, with that value. */
  private pending = new Map<string, unknown>();
  private scheduled = false;
  private lastRefusal = '';

  constructor(
    private readonly ctx: NodeContext,
    private readonly sip: SipService,
    private readonly node: ClusterNode | undefined,
  ) {
    this.base = structuredClone(ctx.config);
  }

  private get log() {
    return this.ctx.logging.group('oam');
  }

  /**
   * Waits until the cluster's read models have caught up, puts the cluster's settings over the
   * configuration (every key: SIP is not listening yet), then follows later changes.
   */
  async start(): Promise<void> {
    const node = this.node;
    if (!node) return;
    await node.start();
    const m = mergeClusterSettings(this.base, this.clusterValues());
    if (m.ignored.length > 0) this.log.warning({ keys: m.ignored }, 'cluster SIP settings unknown to this node ignored');
    if (!m.ok) {
      this.log.warning({ errors: m.errors }, 'cluster SIP settings refused with this node configuration; starting with its own');
    } else if (m.changed.length > 0) {
      for (const key of m.changed) this.set(key, settingValue(m.next, key));
      this.log.info({ settings: Object.fromEntries(m.changed.map((k) => [k, settingValue(m.next, k)])) }, 'cluster SIP settings in force over the configuration');
    }
    node.configuration.onChange((path) => {
      if (!isSettingsKey(path) || this.scheduled) return;
      // the keys of one change are folded together: apply once they all are
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.reconcile();
      });
    });
  }

  /** The cluster's settings: dotted key -> value. */
  clusterValues(): Record<string, unknown> {
    if (!this.node) return {};
    return Object.fromEntries(Object.entries(this.node.configuration.all()).filter(([k]) => isSettingsKey(k)));
  }

  /** The last change of each setting changed through the API. */
  changes(): Record<string, SettingChange> {
    const out: Record<string, SettingChange> = {};
    if (!this.node) return out;
    for (const key of Object.keys(this.clusterValues())) {
      const e = this.node.configuration.entry(key);
      if (!e) continue;
      out[key] = { value: e.value, changedAt: e.changedAt, node: e.node, revision: e.revision, ...(e.by !== undefined ? { changedBy: e.by } : {}) };
    }
    return out;
  }

  /** Cluster values that need a restart of this node to be in force. */
  pendingRestart(): Record<string, unknown> {
    return Object.fromEntries(this.pending);
  }

  /** The settings as they will be after a restart: in force, with the pending ones over them. */
  private upcoming(): TraverseConfig {
    const c = structuredClone(this.ctx.config);
    for (const [key, value] of this.pending) {
      const [section, name] = key.split('.') as ['sip' | 'registrar', string];
      (c[section] as Record<string, unknown>)[name] = structuredClone(value);
    }
    return c;
  }

  /**
   * Validates a change and makes it the cluster's: appended, folded here, then in force here
   * (run-time keys). Other nodes apply it when they fold it. Nothing is appended when any key is
   * wrong.
   */
  async change(body: unknown, by: string): Promise<SettingsOutcome> {
    const v = validateSettingsChange(this.upcoming(), body);
    if (!v.ok) return v;
    const applied = v.changed.filter((k) => APPLIED_AT_RUN_TIME.has(k));
    const restartRequired = v.changed.filter((k) => !APPLIED_AT_RUN_TIME.has(k));
    if (v.changed.length === 0) return { ok: true, applied, restartRequired };
    if (!this.node) {
      const r = applySettings(this.ctx.config, this.sip, v.next, v.changed);
      this.logChange(r.applied, r.restartRequired, v.next, by);
      return { ok: true, ...r };
    }
    const node = this.node;
    // one atomic step: no node ever folds half of a change
    const stored = await node.publishTogether(v.changed.map((path) => new ConfigurationChanged({ path, value: settingValue(v.next, path), by })));
    await Promise.all(stored.map((r) => node.waitFor(r)));
    this.reconcile(by);
    return { ok: true, applied, restartRequired };
  }

  /**
   * Brings this node in line with the cluster's settings: run-time keys applied, the others kept
   * for the next start. A set of cluster settings this node's configuration refuses (a cross-key
   * rule with one of its own values) changes nothing here and is logged.
   */
  reconcile(by?: string): void {
    const m = mergeClusterSettings(this.base, this.clusterValues());
    if (!m.ok) {
      const text = m.errors.join('; ');
      if (text !== this.lastRefusal) this.log.warning({ errors: m.errors }, 'cluster SIP settings refused with this node configuration; nothing changed');
      this.lastRefusal = text;
      return;
    }
    this.lastRefusal = '';
    const inForce = { sip: this.ctx.config.sip, registrar: this.ctx.config.registrar };
    const differ = (k: string) => JSON.stringify(settingValue(inForce, k)) !== JSON.stringify(settingValue(m.next, k));
    const keys = [...new Set([...m.changed, ...Object.keys(this.clusterValues()).filter(isSettingsKey), ...this.pending.keys()])];
    const changed = keys.filter(differ);
    const r = applySettings(this.ctx.config, this.sip, m.next, changed);
    const pendingBefore = JSON.stringify([...this.pending]);
    this.pending = new Map(r.restartRequired.map((k) => [k, settingValue(m.next, k)]));
    if (r.applied.length > 0 || JSON.stringify([...this.pending]) !== pendingBefore) this.logChange(r.applied, r.restartRequired, m.next, by);
  }

  private logChange(applied: string[], restartRequired: string[], next: SipSettings, by: string | undefined): void {
    const values = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, settingValue(next, k)]));
    this.log.info({ applied: values(applied), restartRequired: values(restartRequired), ...(by !== undefined ? { by } : {}) }, 'SIP settings changed');
  }

  private set(key: string, value: unknown): void {
    const [section, name] = key.split('.') as ['sip' | 'registrar', string];
    (this.ctx.config[section] as Record<string, unknown>)[name] = structuredClone(value);
  }
}
