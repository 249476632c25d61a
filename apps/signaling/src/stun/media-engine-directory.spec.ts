import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GeoIpLocator, RegionMap } from '@traverse/geo';
import { configSchema } from '@traverse/config';
import type { MediaEngines } from '@traverse/cluster';
import type { NodeContext } from '@traverse/runtime';
import { MediaEngineDirectory, engineAddress, selectMediaEngine, type MediaEngineEntry, type SelectOptions } from './media-engine-directory';

const engine = (name: string, region = '', source: MediaEngineEntry['source'] = 'cluster', turn = { udp: 3560, tcp: 3560, tls: 5349 }): MediaEngineEntry => ({
  name,
  address: `192.0.2.${name.length}`,
  node: `node-${name}`,
  region,
  turn,
  source,
});

const geo = new GeoIpLocator();
const options = (o: Partial<SelectOptions> = {}): SelectOptions => ({
  redirectByLocation: true,
  regions: new RegionMap([
    { region: 'US-CA', target: 'me-sfo' },
    { region: 'US', target: 'me-nyc' },
  ]),
  defaultName: '',
  geo,
  ...o,
});

// Real public addresses, located from geoip-lite's shipped data (no network).
describe('selectMediaEngine (TURN redirect by client location)', () => {
  const engines = [engine('me-local', '', 'local'), engine('me-nyc'), engine('me-sfo'), engine('me-fra', 'DE'), engine('me-lon', 'GB-ENG')];

  it('sends a client to the engine turn.regions names for its country', () => {
    const s = selectMediaEngine(engines, '8.8.8.8', 'udp', options());
    assert.equal(s?.engine.name, 'me-nyc');
    assert.equal(s?.reason, 'region');
    assert.equal(s?.location?.country, 'US');
  });

  it('falls back to an engine announcing the client country or country-region', () => {
    assert.equal(selectMediaEngine(engines, '193.99.144.80', 'udp', options())?.engine.name, 'me-fra');
    assert.equal(selectMediaEngine(engines, '81.2.69.142', 'tcp', options())?.engine.name, 'me-lon');
    assert.equal(selectMediaEngine(engines, '::ffff:81.2.69.142', 'tls', options())?.engine.name, 'me-lon');
  });

  it('sends loopback, private and unlocated clients to the default engine (the local one, or turn.defaultMediaEngine)', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '192.168.0.7', '1.1.1.1'])
      assert.deepEqual([ip, selectMediaEngine(engines, ip, 'udp', options())?.engine.name, selectMediaEngine(engines, ip, 'udp', options())?.reason], [ip, 'me-local', 'default']);
    assert.equal(selectMediaEngine(engines, '127.0.0.1', 'udp', options({ defaultName: 'me-fra' }))?.engine.name, 'me-fra');
    assert.equal(selectMediaEngine(engines.slice(1), '127.0.0.1', 'udp', options())?.engine.name, 'me-fra', 'first by name without a local engine');
  });

  it('ignores the location when redirect by location is off', () => {
    assert.equal(selectMediaEngine(engines, '8.8.8.8', 'udp', options({ redirectByLocation: false }))?.engine.name, 'me-local');
  });

  it('only counts engines that offer the transport, and answers undefined when none does', () => {
    const noTls = [engine('me-local', '', 'local', { udp: 3560, tcp: 3560, tls: 0 }), engine('me-nyc', '', 'cluster', { udp: 3560, tcp: 3560, tls: 0 }), engine('me-b')];
    assert.equal(selectMediaEngine(noTls, '8.8.8.8', 'tls', options())?.engine.name, 'me-b');
    assert.equal(selectMediaEngine(noTls.slice(0, 2), '8.8.8.8', 'tls', options()), undefined);
    assert.equal(selectMediaEngine([], '8.8.8.8', 'udp', options()), undefined);
  });

  it('keeps the client address family: IPv6 clients go to engines with an IPv6 address', () => {
    const v6 = { ...engine('me-six', '', 'cluster'), address6: '2001:db8::6' };
    const list = [engine('me-local', '', 'local'), v6];
    assert.equal(selectMediaEngine(list, '2001:4860:4860::8888', 'udp', options({ redirectByLocation: false }))?.engine.name, 'me-six');
    assert.equal(selectMediaEngine(list, '::ffff:8.8.8.8', 'udp', options({ redirectByLocation: false }))?.engine.name, 'me-local');
    assert.equal(selectMediaEngine([engine('me-local', '', 'local')], '::1', 'udp', options()), undefined);
    assert.equal(engineAddress(v6, 6), '2001:db8::6');
    assert.equal(engineAddress(v6, 4), v6.address);
  });

  it('skips a region entry whose engine is not available', () => {
    const s = selectMediaEngine([engine('me-local', '', 'local'), engine('me-sfo')], '8.8.8.8', 'udp', options());
    assert.equal(s?.engine.name, 'me-local');
  });
});

describe('MediaEngineDirectory.list (where the engines come from)', () => {
  const ctx = (turn: Record<string, unknown> = {}) =>
    ({ nodeName: 'n1', config: configSchema.parse({ turn: { mediaEngines: [{ name: 'me-conf', address: '198.51.100.7' }, { name: 'me-b', address: '198.51.100.8' }], ...turn } }) }) as unknown as NodeContext;
  const cluster = {
    list: () => [
      { name: 'me-b', address: '203.0.113.2', node: 'n2', up: true, since: 0, region: 'de', turn: { udp: 3560, tcp: 3560, tls: 5349 }, stun: { address: '203.0.113.2', ports: [3478, 34501], control: 8043 } },
      { name: 'me-down', address: '203.0.113.3', node: 'n3', up: false, since: 0, turn: { udp: 3560 } },
      { name: 'me-old', address: '203.0.113.4', node: 'n4', up: true, since: 0 },
    ],
  } as unknown as MediaEngines;

  it('merges the cluster (up only, announced ports) and the configured list; the cluster wins a name', () => {
    const d = new MediaEngineDirectory(ctx(), undefined, cluster);
    assert.deepEqual(
      d.list().map((e) => [e.name, e.address, e.source, e.region, e.turn.udp, e.turn.tls]),
      [
        ['me-b', '203.0.113.2', 'cluster', 'DE', 3560, 5349],
        ['me-old', '203.0.113.4', 'cluster', '', 0, 0],
        ['me-conf', '198.51.100.7', 'configuration', '', 3560, 5349],
      ],
    );
    assert.equal(d.primaryStunEngine()?.name, 'me-b');
    // an engine that announced no TURN ports is never chosen
    assert.equal(d.select({ family: 4, address: '127.0.0.1', port: 1 }, 'udp')?.engine.name, 'me-b');
  });

  it('without the cluster, the configured media engines are the ones redirected to', () => {
    const d = new MediaEngineDirectory(ctx({ defaultMediaEngine: 'me-conf' }));
    assert.deepEqual(
      d.list().map((e) => e.name),
      ['me-conf', 'me-b'],
    );
    assert.equal(d.select({ family: 4, address: '127.0.0.1', port: 1 }, 'tls')?.engine.name, 'me-conf');
    assert.equal(d.primaryStunEngine(), undefined);
  });
});
