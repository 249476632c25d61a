/**
 * The media engines a signaling node's TURN front can send clients to, and the choice of one for a
 * client: by the client's location (turn.redirectByLocation, turn.regions and the engines' own
 * regions) or the default engine. Sources, merged by name: the engine in this process, the engines
 * the cluster announces (MediaEngineUp / MediaEngineLost read model), and turn.mediaEngines from
 * the configuration. Everything is read from memory: a redirect awaits nothing.
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import { MediaEngines } from '@traverse/cluster';
import { GeoIpLocator, RegionMap, type GeoLocator, type GeoLocation } from '@traverse/geo';
import { NODE_CONTEXT, type NodeContext } from '@traverse/runtime';
import type { TransportAddress } from '@traverse/stun';
import { MediaEngineService } from '../../../media-engine/src/media-engine.service';

export type TurnTransport = 'udp' | 'tcp' | 'tls';

export interface MediaEngineEntry {
  name: string;
  /** Address clients reach its TURN (and secondary STUN) at. */
  address: string;
  /** Its IPv6 address (same TURN ports), for IPv6 clients. */
  address6?: string;
  /** Node it runs on ('' for configured ones). */
  node: string;
  region: string;
  turn: { udp: number; tcp: number; tls: number };
  /** Its secondary STUN server, when it runs one. */
  stun?: { address: string; ports: number[]; control?: number };
  source: 'local' | 'cluster' | 'configuration';
}

export interface SelectOptions {
  redirectByLocation: boolean;
  /** Region -> engine name (turn.regions). */
  regions: RegionMap<string>;
  /** turn.defaultMediaEngine ('' : the local engine, else the first by name). */
  defaultName: string;
  geo: GeoLocator;
}

/** The address of an engine that a client of this family can be sent to (ALTERNATE-SERVER keeps the client's family). */
export function engineAddress(e: MediaEngineEntry, family: 4 | 6): string | undefined {
  const v6 = e.address.includes(':');
  if (family === 4) return v6 ? undefined : e.address;
  return e.address6 ?? (v6 ? e.address : undefined);
}

/**
 * The engine for a client: with redirect by location, the one turn.regions names for the client's
 * country-region or country, else one that announces that region; otherwise (or for clients that
 * locate nowhere: loopback, private, unknown) the default engine. Only engines offering the
 * transport count.
 */
export function selectMediaEngine(
  engines: readonly MediaEngineEntry[],
  client: string,
  transport: TurnTransport,
  o: SelectOptions,
): { engine: MediaEngineEntry; location?: GeoLocation; reason: 'region' | 'default' } | undefined {
  const family = client.includes(':') && !/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(client) ? 6 : 4;
  const usable = engines.filter((e) => e.turn[transport] > 0 && engineAddress(e, family) !== undefined);
  if (usable.length === 0) return undefined;
  if (o.redirectByLocation) {
    const location = o.geo.locate(client);
    if (location) {
      const named = o.regions.match(location);
      const byName = named !== undefined ? usable.find((e) => e.name === named) : undefined;
      if (byName) return { engine: byName, location, reason: 'region' };
      const own = new RegionMap(usable.filter((e) => e.region).map((e) => ({ region: e.region, target: e }))).match(location);
      if (own) return { engine: own, location, reason: 'region' };
    }
  }
  const def =
    (o.defaultName ? usable.find((e) => e.name === o.defaultName) : undefined) ??
    usable.find((e) => e.source === 'local') ??
    [...usable].sort((a, b) => a.name.localeCompare(b.name))[0];
  return { engine: def, reason: 'default' };
}

@Injectable()
export class MediaEngineDirectory {
  readonly options: SelectOptions;

  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    @Optional() private readonly local?: MediaEngineService,
    @Optional() private readonly cluster?: MediaEngines,
  ) {
    const t = ctx.config.turn;
    this.options = {
      redirectByLocation: t.redirectByLocation,
      regions: new RegionMap(t.regions.map((r) => ({ region: r.region, target: r.mediaEngine }))),
      defaultName: t.defaultMediaEngine,
      geo: new GeoIpLocator(),
    };
    // the location data (~110 MB) is loaded at start when it will be needed, not on the first client
    if (t.redirectByLocation) (this.options.geo as GeoIpLocator).load();
  }

  get localEngine(): MediaEngineService | undefined {
    return this.local;
  }

  /** The engines as known now, by name (local first, then the cluster's that are up, then configured). */
  list(): MediaEngineEntry[] {
    const out = new Map<string, MediaEngineEntry>();
    const l = this.local;
    if (l?.turn) {
      const stun = l.stunEndpoints;
      out.set(l.name, {
        name: l.name,
        address: l.advertised,
        ...(l.advertised6 ? { address6: l.advertised6 } : {}),
        node: this.ctx.nodeName,
        region: l.region,
        turn: l.turnPorts,
        ...(stun ? { stun: { address: l.advertised, ports: stun.map((e) => e.port), ...(l.stunControl ? { control: l.stunControl.port } : {}) } } : {}),
        source: 'local',
      });
    }
    for (const e of this.cluster?.list() ?? []) {
      if (!e.up || out.has(e.name)) continue;
      out.set(e.name, {
        name: e.name,
        address: e.address,
        ...(e.address6 ? { address6: e.address6 } : {}),
        node: e.node,
        region: (e.region ?? '').toUpperCase(),
        turn: { udp: e.turn?.udp ?? 0, tcp: e.turn?.tcp ?? 0, tls: e.turn?.tls ?? 0 },
        ...(e.stun ? { stun: e.stun } : {}),
        source: 'cluster',
      });
    }
    for (const c of this.ctx.config.turn.mediaEngines) {
      if (out.has(c.name)) continue;
      out.set(c.name, { name: c.name, address: c.address, node: '', region: '', turn: { udp: c.port, tcp: c.port, tls: c.tlsPort }, source: 'configuration' });
    }
    return [...out.values()];
  }

  select(client: TransportAddress, transport: TurnTransport): ReturnType<typeof selectMediaEngine> {
    return selectMediaEngine(this.list(), client.address, transport, this.options);
  }

  /** The primary media engine: the secondary STUN server of the primary STUN server (default engine first). */
  primaryStunEngine(): MediaEngineEntry | undefined {
    const withStun = this.list().filter((e) => e.stun && e.stun.ports.length > 0);
    const def = this.options.defaultName;
    return (def ? withStun.find((e) => e.name === def) : undefined) ?? withStun.find((e) => e.source === 'local') ?? withStun.sort((a, b) => a.name.localeCompare(b.name))[0];
  }
}
