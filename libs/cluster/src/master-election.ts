import type { RedisClient } from '@traverse/redis';
import type { KeySpace } from './keys';
import { LEASE_ACQUIRE, LEASE_RELEASE, LEASE_RENEW, runScript } from './lua';

export interface MasterInfo {
  name: string;
  token: number;
  address: string;
}

export interface ElectionOptions {
  nodeName: string;
  address: string;
  /** Lease time (ms): a dead master is replaced within this time. */
  leaseMs: number;
  /** Whether this node stands for election (default true). */
  electable?: boolean;
  /** Clock drift allowance (ms) subtracted from the local view of the lease (default leaseMs/10). */
  driftMs?: number;
  onError?: (e: unknown) => void;
}

export interface LeaseArithmetic {
  /** Until when (local clock) this node may act as master after a renew sent at `sentAt`. */
  validUntil(sentAt: number): number;
  /** When to renew next after a renew sent at `sentAt`. */
  renewAt(sentAt: number): number;
  /** When a contender tries again, given the remaining lease time it was told. */
  retryAt(now: number, pttl: number): number;
}

/** Pure timing rules of the lease (unit tested). */
export function leaseArithmetic(leaseMs: number, driftMs = Math.max(1, Math.floor(leaseMs / 10))): LeaseArithmetic {
  return {
    // The lease started no earlier than sentAt on Redis' clock; stop acting a drift margin before it ends.
    validUntil: (sentAt) => sentAt + leaseMs - driftMs,
    renewAt: (sentAt) => sentAt + Math.floor(leaseMs / 3),
    // Try right when the holder's lease runs out (pttl -1/-2: no expiry or gone: now), at least every lease/3.
    retryAt: (now, pttl) => now + (pttl > 0 ? Math.min(pttl + 5, Math.floor(leaseMs / 3)) : 5),
  };
}

export function parseLeaseValue(v: string): MasterInfo | undefined {
  const [name, token, address] = v.split('\n');
  if (!name || !token) return undefined;
  return { name, token: Number(token), address: address ?? '' };
}

/**
 * Master election by a Redis lease with a fencing token: SET NX PX plus INCR of a token
 * counter in one script; renewal is a check-and-extend script. The token grows with every new
 * master; writes that need authority carry it and are refused once a newer master fenced them.
 */
export class MasterElection {
  private readonly math: LeaseArithmetic;
  private value: string | undefined;
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private validity: NodeJS.Timeout | undefined;
  private running = false;
  private current: MasterInfo | undefined;
  private readonly became: ((token: number) => void | Promise<void>)[] = [];
  private readonly lost: (() => void | Promise<void>)[] = [];
  private readonly changed: ((m: MasterInfo | undefined) => void)[] = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    private readonly o: ElectionOptions,
  ) {
    this.math = leaseArithmetic(o.leaseMs, o.driftMs);
  }

  get isMaster(): boolean {
    return this.value !== undefined && Date.now() < this.validUntil;
  }
  /** Fencing token of this node's mastership (undefined when not master). */
  get token(): number | undefined {
    return this.isMaster ? parseLeaseValue(this.value!)!.token : undefined;
  }
  /** The master as last seen by this node (name, token, address) — for the status API. */
  get master(): MasterInfo | undefined {
    return this.current;
  }

  onBecameMaster(fn: (token: number) => void | Promise<void>): void {
    this.became.push(fn);
  }
  onLostMaster(fn: () => void | Promise<void>): void {
    this.lost.push(fn);
  }
  onMasterChanged(fn: (m: MasterInfo | undefined) => void): void {
    this.changed.push(fn);
  }

  /**
   * Runs `fn` whenever this node is master; the signal aborts when mastership is lost or the
   * node stops. Returns a function that unregisters it.
   */
  runAsMaster(fn: (signal: AbortSignal, token: number) => void | Promise<void>): () => void {
    let ctl: AbortController | undefined;
    let active = true;
    const start = (token: number) => {
      if (!active) return;
      ctl?.abort();
      ctl = new AbortController();
      const signal = ctl.signal;
      Promise.resolve()
        .then(() => fn(signal, token))
        .catch((e) => {
          if (!signal.aborted) this.o.onError?.(e);
        });
    };
    const stop = () => {
      ctl?.abort();
      ctl = undefined;
    };
    this.became.push(start);
    this.lost.push(stop);
    if (this.isMaster) start(this.token!);
    return () => {
      active = false;
      stop();
    };
  }

  /** Reads the lease from Redis: who is master now. */
  async readMaster(): Promise<MasterInfo | undefined> {
    const v = (await this.redis.call('GET', this.keys.lease)) as string | null;
    return v ? parseLeaseValue(v) : undefined;
  }

  /**
   * Whether `token` is the current master's token according to Redis. For authority outside the
   * streams (e.g. the subscriber database): check it in the same transaction as the write where
   * the store allows, or at least right before it.
   */
  async isCurrent(token: number): Promise<boolean> {
    return (await this.readMaster())?.token === token;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops campaigning; a master releases the lease so that another node takes over at once. */
  async stop(release = true): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    const v = this.value;
    if (v !== undefined) {
      await this.loseMastership();
      if (release) await runScript(this.redis, LEASE_RELEASE, [this.keys.lease], [v]).catch(() => undefined);
    }
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), Math.max(0, ms));
    this.timer.unref?.();
  }

  private setCurrent(m: MasterInfo | undefined): void {
    const same = m?.name === this.current?.name && m?.token === this.current?.token;
    this.current = m;
    if (!same) for (const f of this.changed) f(m);
  }

  private async tick(): Promise<void> {
    const sentAt = Date.now();
    try {
      if (this.value !== undefined) {
        const ok = Number(await runScript(this.redis, LEASE_RENEW, [this.keys.lease], [this.value, this.o.leaseMs]));
        if (!this.running) return;
        if (ok === 1) {
          this.extendValidity(sentAt);
          this.schedule(this.math.renewAt(sentAt) - Date.now());
          return;
        }
        await this.loseMastership();
      }
      if (this.o.electable === false) {
        this.setCurrent(await this.readMaster());
        this.schedule(Math.floor(this.o.leaseMs / 3));
        return;
      }
      const r = (await runScript(
        this.redis,
        LEASE_ACQUIRE,
        [this.keys.lease, this.keys.leaseToken],
        [this.o.nodeName, this.o.leaseMs, this.o.address],
      )) as [number, string, number];
      if (!this.running) {
        if (Number(r[0]) === 1) await runScript(this.redis, LEASE_RELEASE, [this.keys.lease], [r[1]]).catch(() => undefined);
        return;
      }
      const info = parseLeaseValue(String(r[1]));
      this.setCurrent(info);
      if (Number(r[0]) === 1 && info) {
        this.value = String(r[1]);
        this.extendValidity(sentAt);
        for (const f of this.became) await Promise.resolve(f(info.token)).catch((e) => this.o.onError?.(e));
        this.schedule(this.math.renewAt(sentAt) - Date.now());
      } else {
        this.schedule(this.math.retryAt(Date.now(), Number(r[2])) - Date.now());
      }
    } catch (e) {
      this.o.onError?.(e);
      if (this.value !== undefined && Date.now() >= this.validUntil) await this.loseMastership();
      this.schedule(Math.min(250, Math.floor(this.o.leaseMs / 5)));
    }
  }

  private extendValidity(sentAt: number): void {
    this.validUntil = this.math.validUntil(sentAt);
    clearTimeout(this.validity);
    // If renewals stop succeeding (Redis unreachable), step down locally when the lease may have ended.
    this.validity = setTimeout(() => void this.loseMastership(), Math.max(0, this.validUntil - Date.now()));
    this.validity.unref?.();
  }

  private async loseMastership(): Promise<void> {
    if (this.value === undefined) return;
    this.value = undefined;
    this.validUntil = 0;
    clearTimeout(this.validity);
    for (const f of this.lost) await Promise.resolve(f()).catch((e) => this.o.onError?.(e));
  }
}
