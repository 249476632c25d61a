/**
 * Locating SIP servers of other domains by DNS (RFC 3263) with node:dns's Resolver: NAPTR to pick the
 * transport, SRV for hosts and ports (RFC 2782 order), A/AAAA for addresses, giving the ordered list
 * the proxy tries one after the other (4.3 failover: next target on transport error, 503 or timeout).
 *
 * Answers are cached (bounded, least recently used first out): A/AAAA for their TTL, NAPTR and SRV
 * for serviceTtlSeconds (node:dns does not report their TTL), names found missing for
 * negativeTtlSeconds. Concurrent lookups of one name share one query. SRV weighted selection is
 * drawn again on every resolve, so load spreads as the weights say even from the cache.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { SipUri, Via } from '@traverse/sip';
import { DnsCache } from './dns-cache';
import { SipDnsError, describeCode, dnsErrorCode, type DnsQueryFailure, type SipDnsErrorCode } from './errors';
import {
  appendUnique,
  defaultPort,
  isSecureTransport,
  orderNaptr,
  orderSrv,
  planResolution,
  planVia,
  srvName,
  srvSaysUnavailable,
  type NaptrRecord,
  type ResolutionPlan,
  type SipTarget,
  type SipTransportName,
  type SrvRecord,
} from './sip-targets';

/** What the proxy codes against: an ordered list of targets to try in turn. */
export interface SipTargetResolver {
  resolve(uri: SipUri): Promise<SipTarget[]>;
}

export interface DnsSipTargetResolverOptions {
  /** DNS servers as IP or IP:port ([v6]:port); empty or absent: the system's (/etc/resolv.conf). */
  servers?: readonly string[];
  /** Time to wait for an answer before retrying (ms); default 2000. */
  timeoutMs?: number;
  /** Attempts per query; default 2. */
  tries?: number;
  /** Answers kept in the cache (0: none); default 10000. */
  cacheSize?: number;
  /** How long a name or record found missing is remembered (s); default 30. */
  negativeTtlSeconds?: number;
  /** How long NAPTR and SRV answers are kept (s); default 60. */
  serviceTtlSeconds?: number;
  /** Look up AAAA records too (IPv6 addresses follow the IPv4 ones of the same host); default true. */
  ipv6?: boolean;
  /**
   * Transports this node can open, in the order it prefers them when the domain publishes no NAPTR
   * records; default udp, tcp, tls.
   */
  transports?: readonly SipTransportName[];
  /** Longest target list returned; default 32. */
  maxTargets?: number;
  /** Random numbers in [0, 1) for SRV weighted selection (tests inject their own). */
  random?: () => number;
  /** Clock in ms (tests inject their own to step over TTLs). */
  now?: () => number;
  /** Told of every lookup: answered from DNS, from the cache, or how it failed. */
  onLookup?: (e: DnsLookupEvent) => void;
}

export interface DnsLookupEvent {
  type: DnsQueryFailure['type'];
  name: string;
  /** answer: DNS answered with records; cache: served from the cache; else the failure. */
  result: 'answer' | 'cache' | SipDnsErrorCode;
  records: number;
}

/** At most this many NAPTR records and SRV records of one name are followed (a bound on the work per resolve). */
const MAX_NAPTR_FOLLOWED = 8;
const MAX_SRV_FOLLOWED = 16;
/** Longest TTL honoured (s): a day. */
const MAX_TTL_SECONDS = 86400;

type RecordType = DnsQueryFailure['type'];
type Lookup<T> = { ok: true; records: T[] } | { ok: false; code: SipDnsErrorCode };
interface CachedAnswer {
  records: unknown[];
  /** Set for a cached negative answer. */
  code?: 'no-records';
}

/** The failures seen while resolving one URI, for the error when nothing is found. */
class Trail {
  readonly failures: DnsQueryFailure[] = [];
  noService = false;
  add(type: RecordType, name: string, code: SipDnsErrorCode): void {
    this.failures.push({ type, name, code });
  }
}

export class DnsSipTargetResolver implements SipTargetResolver {
  private readonly resolver: Resolver;
  private readonly cache: DnsCache<CachedAnswer>;
  private readonly inflight = new Map<string, Promise<Lookup<unknown>>>();
  private readonly negativeTtlMs: number;
  private readonly serviceTtlMs: number;
  private readonly ipv6: boolean;
  private readonly maxTargets: number;
  private readonly random: () => number;
  private readonly now: () => number;
  /** Transports this node opens, in preference order. */
  readonly transports: readonly SipTransportName[];

  constructor(private readonly opts: DnsSipTargetResolverOptions = {}) {
    const timeout = opts.timeoutMs ?? 2000;
    const tries = opts.tries ?? 2;
    if (!Number.isInteger(timeout) || timeout < 1) throw new RangeError(`DNS timeout must be a whole number of ms >= 1, got ${timeout}`);
    if (!Number.isInteger(tries) || tries < 1) throw new RangeError(`DNS tries must be a whole number >= 1, got ${tries}`);
    this.resolver = new Resolver({ timeout, tries });
    if (opts.servers !== undefined && opts.servers.length > 0) {
      try {
        this.resolver.setServers([...opts.servers]);
      } catch (e) {
        throw new RangeError(`bad DNS server list ${JSON.stringify(opts.servers)}: ${(e as Error).message}`, { cause: e });
      }
    }
    this.cache = new DnsCache(opts.cacheSize ?? 10000);
    this.negativeTtlMs = (opts.negativeTtlSeconds ?? 30) * 1000;
    this.serviceTtlMs = (opts.serviceTtlSeconds ?? 60) * 1000;
    this.ipv6 = opts.ipv6 ?? true;
    this.maxTargets = opts.maxTargets ?? 32;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    const transports = opts.transports ?? ['udp', 'tcp', 'tls'];
    if (transports.length === 0) throw new RangeError('at least one transport is needed');
    this.transports = [...new Set(transports)];
  }

  /** The DNS servers in use (the system's unless configured). */
  get servers(): string[] {
    return this.resolver.getServers();
  }

  /**
   * The targets of a sip/sips URI, in the order to try them (RFC 3263 4). Rejects with SipDnsError
   * when there is none: the code says why (no-records, timeout, servfail, bad-uri, ...), the message
   * lists the lookups that failed.
   */
  async resolve(uri: SipUri): Promise<SipTarget[]> {
    if ((uri as { kind?: string }).kind !== 'sip') throw new SipDnsError('bad-uri', 'only sip and sips URIs are located by DNS');
    const plan = planResolution(uri, this.transports);
    return this.follow(plan, `${uri.scheme}:${uri.host}`);
  }

  /** Where to send a response when the source of its request cannot be reached (RFC 3263 5): from the top Via's sent-by. */
  async resolveVia(via: Via): Promise<SipTarget[]> {
    return this.follow(planVia(via), `Via ${via.transport} ${via.host}${via.port !== undefined ? `:${via.port}` : ''}`);
  }

  /** Cancels lookups in progress (they reject with code cancelled). */
  close(): void {
    this.resolver.cancel();
  }

  onModuleDestroy(): void {
    this.close();
  }

  /** Forgets every cached answer. */
  clearCache(): void {
    this.cache.clear();
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  // ------------------------------------------------------------------ plans

  private async follow(plan: ResolutionPlan, what: string): Promise<SipTarget[]> {
    if (plan.kind === 'targets') return plan.targets;
    const trail = new Trail();
    const targets: SipTarget[] = [];
    switch (plan.kind) {
      case 'address':
        appendUnique(targets, await this.hostTargets(plan.host, plan.port, plan.transport, trail), this.maxTargets);
        break;
      case 'srv':
        await this.srvThenAddress(plan.host, plan.transport, targets, trail);
        break;
      case 'naptr':
        await this.naptrThenSrv(plan.host, plan.secure, targets, trail);
        break;
    }
    if (targets.length > 0) return targets;
    throw this.failure(what, plan.host, trail);
  }

  /** An explicit transport without a port (4.2): SRV of that transport, else A/AAAA on its default port. */
  private async srvThenAddress(host: string, transport: SipTransportName, targets: SipTarget[], trail: Trail): Promise<void> {
    const srv = await this.srvTargets(srvName(transport, host), transport, trail);
    appendUnique(targets, srv.targets, this.maxTargets);
    if (srv.found) return;
    appendUnique(targets, await this.hostTargets(host, defaultPort(transport), transport, trail), this.maxTargets);
  }

  /**
   * Neither transport nor port (4.1): the usable NAPTR records in order, each followed to its SRV
   * records; with no usable NAPTR, the SRV of every transport this node opens (in its order of
   * preference); with no SRV either, A/AAAA on the default port of UDP (sip) or TLS (sips).
   */
  private async naptrThenSrv(host: string, secure: boolean, targets: SipTarget[], trail: Trail): Promise<void> {
    const naptr = await this.lookup<NaptrRecord>('NAPTR', host, trail);
    const choices = naptr.ok ? orderNaptr(naptr.records, { secure, transports: this.transports }).slice(0, MAX_NAPTR_FOLLOWED) : [];
    if (choices.length > 0) {
      const lists = await Promise.all(choices.map((c) => this.srvTargets(c.replacement, c.transport, trail)));
      for (const l of lists) appendUnique(targets, l.targets, this.maxTargets);
      if (targets.length > 0 || lists.some((l) => l.found)) return;
      // 4.2: no SRV records: the addresses of the domain, over the transport NAPTR chose, on its default port
      const t = choices[0].transport;
      appendUnique(targets, await this.hostTargets(host, defaultPort(t), t, trail), this.maxTargets);
      return;
    }
    const candidates = this.transports.filter((t) => !secure || isSecureTransport(t));
    const lists = await Promise.all(candidates.map((t) => this.srvTargets(srvName(t, host), t, trail)));
    for (const l of lists) appendUnique(targets, l.targets, this.maxTargets);
    if (targets.length > 0 || lists.some((l) => l.found)) return;
    const t: SipTransportName = secure ? 'tls' : 'udp';
    if (!this.transports.includes(t)) return;
    appendUnique(targets, await this.hostTargets(host, defaultPort(t), t, trail), this.maxTargets);
  }

  /**
   * The targets of one SRV name, in RFC 2782 order, each host's addresses in turn. `found` is true
   * when DNS had SRV records there (even ones saying the service is unavailable): then A/AAAA of the
   * domain is not a fallback.
   */
  private async srvTargets(name: string, transport: SipTransportName, trail: Trail): Promise<{ targets: SipTarget[]; found: boolean }> {
    const srv = await this.lookup<SrvRecord>('SRV', name, trail);
    if (!srv.ok) return { targets: [], found: false };
    if (srvSaysUnavailable(srv.records)) {
      trail.noService = true;
      trail.add('SRV', name, 'no-service');
      return { targets: [], found: true };
    }
    const ordered = orderSrv(srv.records.slice(0, MAX_SRV_FOLLOWED), this.random);
    const per = await Promise.all(ordered.map((r) => this.hostTargets(r.name, r.port, transport, trail)));
    return { targets: per.flat(), found: true };
  }

  /** The addresses of a host (IPv4 first, then IPv6) as targets on one port and transport. */
  private async hostTargets(host: string, port: number, transport: SipTransportName, trail: Trail): Promise<SipTarget[]> {
    const bare = host.endsWith('.') ? host.slice(0, -1) : host;
    if (isIP(bare) !== 0) return [{ transport, address: bare, port }];
    const [v4, v6] = await Promise.all([
      this.lookup<{ address: string; ttl: number }>('A', bare, trail),
      this.ipv6 ? this.lookup<{ address: string; ttl: number }>('AAAA', bare, trail) : Promise.resolve<Lookup<{ address: string; ttl: number }>>({ ok: true, records: [] }),
    ]);
    const out: SipTarget[] = [];
    if (v4.ok) for (const r of v4.records) out.push({ transport, address: r.address, port });
    if (v6.ok) for (const r of v6.records) out.push({ transport, address: r.address, port });
    return out;
  }

  private failure(what: string, host: string, trail: Trail): SipDnsError {
    const f = trail.failures;
    // a failure other than "no records" explains the empty result better (the records may exist)
    const code: SipDnsErrorCode = f.find((x) => x.code !== 'no-records' && x.code !== 'no-service')?.code ?? (trail.noService ? 'no-service' : 'no-records');
    const detail = f.length > 0 ? f.map((x) => `${x.type} ${x.name}: ${describeCode(x.code)}`).join('; ') : 'no usable records';
    return new SipDnsError(code, `no SIP server found for ${what}: ${detail}`, { target: host, queries: [...f] });
  }

  // ------------------------------------------------------------------ lookups with the cache

  private async lookup<T>(type: RecordType, name: string, trail: Trail): Promise<Lookup<T>> {
    const key = `${type} ${name.toLowerCase()}`;
    const cached = this.cache.get(key, this.now());
    let r: Lookup<unknown>;
    if (cached !== undefined) {
      r = cached.code !== undefined ? { ok: false, code: cached.code } : { ok: true, records: cached.records };
      this.opts.onLookup?.({ type, name, result: 'cache', records: r.ok ? r.records.length : 0 });
    } else {
      let p = this.inflight.get(key);
      if (p === undefined) {
        p = this.query(type, name, key).finally(() => this.inflight.delete(key));
        this.inflight.set(key, p);
      }
      r = await p;
    }
    if (!r.ok) trail.add(type, name, r.code);
    return r as Lookup<T>;
  }

  private async query(type: RecordType, name: string, key: string): Promise<Lookup<unknown>> {
    let records: unknown[];
    let ttlMs: number;
    try {
      switch (type) {
        case 'NAPTR':
          records = await this.resolver.resolveNaptr(name);
          ttlMs = this.serviceTtlMs;
          break;
        case 'SRV':
          records = await this.resolver.resolveSrv(name);
          ttlMs = this.serviceTtlMs;
          break;
        case 'A':
        case 'AAAA': {
          const rs = type === 'A' ? await this.resolver.resolve4(name, { ttl: true }) : await this.resolver.resolve6(name, { ttl: true });
          records = rs;
          ttlMs = Math.min(MAX_TTL_SECONDS, ...rs.map((x) => x.ttl)) * 1000;
          break;
        }
      }
    } catch (e) {
      const code = dnsErrorCode(e);
      this.opts.onLookup?.({ type, name, result: code, records: 0 });
      // only a definite "does not exist" is remembered; failures are asked again next time
      if (code === 'no-records') this.cache.set(key, { records: [], code }, this.negativeTtlMs, this.now());
      return { ok: false, code };
    }
    this.opts.onLookup?.({ type, name, result: 'answer', records: records.length });
    if (records.length === 0) {
      this.cache.set(key, { records: [], code: 'no-records' }, this.negativeTtlMs, this.now());
      return { ok: false, code: 'no-records' };
    }
    this.cache.set(key, { records }, ttlMs, this.now());
    return { ok: true, records };
  }
}
