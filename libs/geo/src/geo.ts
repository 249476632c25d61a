/**
 * Where a client comes from: country and region (ISO 3166-1 alpha-2 and the subdivision code,
 * e.g. US and CA) of a public IP address, from geoip-lite's data files (shipped inside the npm
 * package, no download). The data (~110 MB) is loaded on first use only, so nodes that never
 * locate anybody do not pay for it.
 */
import { isIP } from 'node:net';

export interface GeoLocation {
  /** ISO 3166-1 alpha-2, upper case (DE). */
  country: string;
  /** Subdivision code within the country (CA for California), upper case; '' when unknown. */
  region: string;
}

export interface GeoLocator {
  /** The location of an address, or undefined (local, private, reserved or unknown). */
  locate(ip: string): GeoLocation | undefined;
}

interface GeoipLite {
  lookup(ip: string): { country?: string; region?: string } | null;
}

/** geoip-lite behind GeoLocator, loaded lazily (or at once with load()). */
export class GeoIpLocator implements GeoLocator {
  private geo: GeoipLite | undefined;

  /** Loads the data files now (takes ~0.2 s and ~110 MB); later calls do nothing. */
  load(): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    this.geo ??= require('geoip-lite') as GeoipLite;
  }

  get loaded(): boolean {
    return this.geo !== undefined;
  }

  locate(ip: string): GeoLocation | undefined {
    if (isLocalAddress(ip)) return undefined;
    this.load();
    const r = this.geo!.lookup(ip);
    if (!r || !r.country) return undefined;
    return { country: r.country.toUpperCase(), region: (r.region ?? '').toUpperCase() };
  }
}

/**
 * Addresses that locate nowhere: loopback, unspecified, private (RFC 1918, CGNAT, ULA),
 * link-local, and their IPv4-mapped forms. Clients from there fall back to the default.
 */
export function isLocalAddress(ip: string): boolean {
  let a = ip;
  if (a.toLowerCase().startsWith('::ffff:') && isIP(a.slice(7)) === 4) a = a.slice(7);
  const v = isIP(a);
  if (v === 4) {
    const [p, q] = a.split('.').map(Number);
    return p === 0 || p === 10 || p === 127 || (p === 100 && q >= 64 && q <= 127) || (p === 169 && q === 254) || (p === 172 && q >= 16 && q <= 31) || (p === 192 && q === 168) || p >= 224;
  }
  if (v === 6) {
    const l = a.toLowerCase();
    return l === '::' || l === '::1' || /^f[cd]/.test(l) || /^fe[89ab]/.test(l) || l.startsWith('ff');
  }
  return true;
}

/** The keys a location matches, most specific first: US-CA, US. */
export function regionKeys(loc: GeoLocation): string[] {
  return loc.region ? [`${loc.country}-${loc.region}`, loc.country] : [loc.country];
}

/**
 * Region -> target (e.g. a media engine name): entries keyed by country (DE) or country-region
 * (US-CA), case-insensitive. match() tries country-region first, then country.
 */
export class RegionMap<T> {
  private readonly map = new Map<string, T>();
  constructor(entries: Iterable<{ region: string; target: T }>) {
    for (const e of entries) {
      const k = e.region.toUpperCase();
      if (!this.map.has(k)) this.map.set(k, e.target);
    }
  }
  get size(): number {
    return this.map.size;
  }
  match(loc: GeoLocation | undefined): T | undefined {
    if (!loc) return undefined;
    for (const k of regionKeys(loc)) {
      const t = this.map.get(k);
      if (t !== undefined) return t;
    }
    return undefined;
  }
}
