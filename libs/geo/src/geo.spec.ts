import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GeoIpLocator, RegionMap, isLocalAddress, regionKeys } from './geo';

// Real public addresses, answered from the data files geoip-lite ships (no network).
describe('GeoIpLocator', () => {
  const geo = new GeoIpLocator();

  it('does not load the data until asked', () => {
    assert.equal(new GeoIpLocator().loaded, false);
    assert.equal(new GeoIpLocator().locate('127.0.0.1'), undefined);
  });

  it('locates public IPv4 and IPv6 addresses by country and region', () => {
    assert.equal(geo.locate('8.8.8.8')?.country, 'US');
    assert.deepEqual(geo.locate('81.2.69.142'), { country: 'GB', region: 'ENG' });
    const de = geo.locate('193.99.144.80');
    assert.equal(de?.country, 'DE');
    assert.match(de?.region ?? '', /^[A-Z]{2}$/);
    assert.equal(geo.locate('1.1.1.1')?.country, 'AU');
    assert.equal(geo.locate('2001:4860:4860::8888')?.country, 'US');
    assert.equal(geo.loaded, true);
  });

  it('locates an IPv4-mapped IPv6 address as its IPv4', () => {
    assert.deepEqual(geo.locate('::ffff:81.2.69.142'), geo.locate('81.2.69.142'));
  });

  it('locates nobody on loopback, private, link-local, unspecified, documentation or bad input', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '100.64.0.1', '169.254.1.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1', '203.0.113.5', 'not-an-ip'])
      assert.equal(geo.locate(ip), undefined, ip);
  });
});

describe('isLocalAddress', () => {
  it('tells local from public', () => {
    assert.equal(isLocalAddress('127.0.0.2'), true);
    assert.equal(isLocalAddress('::ffff:192.168.0.1'), true);
    assert.equal(isLocalAddress('8.8.8.8'), false);
    assert.equal(isLocalAddress('2001:4860::1'), false);
  });
});

describe('RegionMap', () => {
  const map = new RegionMap([
    { region: 'US-CA', target: 'me-west' },
    { region: 'us', target: 'me-us' },
    { region: 'DE', target: 'me-fra' },
    { region: 'DE', target: 'ignored-duplicate' },
  ]);

  it('matches country-region before country, case-insensitively', () => {
    assert.equal(map.match({ country: 'US', region: 'CA' }), 'me-west');
    assert.equal(map.match({ country: 'US', region: 'NY' }), 'me-us');
    assert.equal(map.match({ country: 'US', region: '' }), 'me-us');
    assert.equal(map.match({ country: 'DE', region: 'BY' }), 'me-fra');
    assert.equal(map.match({ country: 'FR', region: 'IDF' }), undefined);
    assert.equal(map.match(undefined), undefined);
    assert.deepEqual(regionKeys({ country: 'US', region: 'CA' }), ['US-CA', 'US']);
  });

  it('maps real addresses end to end', () => {
    const geo = new GeoIpLocator();
    assert.equal(map.match(geo.locate('8.8.8.8')), 'me-us');
    assert.equal(map.match(geo.locate('193.99.144.80')), 'me-fra');
    assert.equal(map.match(geo.locate('81.2.69.142')), undefined);
    assert.equal(map.match(geo.locate('127.0.0.1')), undefined);
  });
});
