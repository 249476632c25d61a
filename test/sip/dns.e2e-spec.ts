// Locating SIP servers of other domains (RFC 3263) against a real DNS server: dnsmasq on loopback
// serving NAPTR, SRV, A and AAAA records of the zone "test" (RFC 6761), queried by the node's
// DnsSipTargetResolver through node:dns. Addresses in the answers are loopback ones; nothing is
// sent to them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { parseUri, parseVia, type SipUri } from '@traverse/sip';
import { waitFor } from '@traverse/testing';
import { DnsSipTargetResolver, SipDnsError, type DnsLookupEvent, type DnsSipTargetResolverOptions } from '../../apps/signaling/src/sip/dns';
import { Dnsmasq } from './dns-server';

function uri(text: string): SipUri {
  const r = parseUri(text);
  assert.ok(r.ok && r.value.kind === 'sip', text);
  return r.value;
}

/** Random numbers for SRV selection, in turn. */
function seq(...xs: number[]): () => number {
  let i = 0;
  return () => xs[i++ % xs.length];
}

const t = (transport: string, address: string, port: number) => ({ transport, address, port });

describe('RFC 3263 resolution against dnsmasq', () => {
  let dns: Dnsmasq;
  const resolvers: DnsSipTargetResolver[] = [];
  const resolver = (opts: DnsSipTargetResolverOptions = {}) => {
    const r = new DnsSipTargetResolver({ servers: [dns.server], timeoutMs: 1000, tries: 2, ...opts });
    resolvers.push(r);
    return r;
  };

  before(async () => {
    dns = await Dnsmasq.start('test', {
      naptr: [
        // example.test prefers TCP (order 10) to UDP (order 20); an SCTP record it cannot use
        ['example.test', 20, 10, 'SIP+D2U', '_sip._udp.example.test'],
        ['example.test', 10, 10, 'SIP+D2T', '_sip._tcp.example.test'],
        ['example.test', 5, 10, 'SIP+D2S', '_sip._sctp.example.test'],
        // secure.test offers UDP and TLS
        ['secure.test', 10, 10, 'SIP+D2U', '_sip._udp.secure.test'],
        ['secure.test', 20, 10, 'SIPS+D2T', '_sips._tcp.secure.test'],
        // lost.test points at an SRV name that has no records
        ['lost.test', 10, 10, 'SIP+D2T', '_sip._tcp.nowhere.lost.test'],
      ],
      srv: [
        ['_sip._tcp.example.test', 'sip1.example.test', 5070, 0, 10],
        ['_sip._udp.example.test', 'sip2.example.test', 5080, 0, 10],
        // weighted.test: no NAPTR; priority 0 shared 5:1 (the seed's example), priority 1 as backup
        ['_sip._udp.weighted.test', 'a.weighted.test', 5060, 0, 5],
        ['_sip._udp.weighted.test', 'b.weighted.test', 5062, 0, 1],
        ['_sip._udp.weighted.test', 'c.weighted.test', 5064, 1, 5],
        ['_sip._tcp.weighted.test', 'a.weighted.test', 5060, 0, 1],
        ['_sips._tcp.secure.test', 'tls.secure.test', 5061, 0, 1],
        ['_sip._udp.secure.test', 'udp.secure.test', 5060, 0, 1],
        // down.test: DNS says SIP over UDP is decidedly not available there
        ['_sip._udp.down.test'],
      ],
      hosts: [
        ['sip1.example.test', '127.0.0.2'],
        ['sip2.example.test', '127.0.0.3'],
        ['example.test', '127.0.0.10'],
        ['a.weighted.test', '127.0.1.1'],
        ['b.weighted.test', '127.0.1.2'],
        ['c.weighted.test', '127.0.1.3'],
        ['c.weighted.test', '127.0.1.4'],
        ['tls.secure.test', '127.0.2.1'],
        ['udp.secure.test', '127.0.2.2'],
        ['aonly.test', '127.0.3.1'],
        ['v6only.test', '::1'],
        ['dual.test', '127.0.4.1', '::1'],
        ['lost.test', '127.0.5.1'],
        ['ttl.test', '127.0.6.1', '5'],
      ],
    });
  });

  after(async () => {
    for (const r of resolvers) r.close();
    if (dns) await dns.stop();
  });

  it('follows NAPTR -> SRV -> A, choosing TCP over UDP by NAPTR order, with UDP after it for failover', async () => {
    const targets = await resolver({ ipv6: false }).resolve(uri('sip:bob@example.test'));
    assert.deepEqual(targets, [t('tcp', '127.0.0.2', 5070), t('udp', '127.0.0.3', 5080)]);
    assert.ok(dns.queries('NAPTR', 'example.test') >= 1, dns.log());
    assert.equal(dns.queries('SRV', '_sip._sctp.example.test'), 0, 'a service this node cannot use is not followed');
  });

  it('orders SRV records by priority, then by weighted random selection', async () => {
    const r = resolver({ ipv6: false, random: seq(0, 0) });
    // draw 0 of sum 6: a (weight 5) first, then b; priority 1 (c, two addresses in the order DNS gave them) after; then TCP
    const first = await r.resolve(uri('sip:bob@weighted.test'));
    assert.deepEqual(first.slice(0, 2), [t('udp', '127.0.1.1', 5060), t('udp', '127.0.1.2', 5062)]);
    assert.deepEqual(
      first.slice(2, 4).map((x) => `${x.transport} ${x.address}:${x.port}`).sort(),
      ['udp 127.0.1.3:5064', 'udp 127.0.1.4:5064'],
    );
    assert.deepEqual(first.slice(4), [t('tcp', '127.0.1.1', 5060)]);
    // a draw of 6 of 6 takes b (running sum 5 < 6 <= 6) first
    const r2 = resolver({ ipv6: false, random: seq(0.99, 0) });
    const second = await r2.resolve(uri('sip:bob@weighted.test'));
    assert.deepEqual(second.slice(0, 2), [t('udp', '127.0.1.2', 5062), t('udp', '127.0.1.1', 5060)]);
  });

  it('spreads the first choice as the weights say', async () => {
    const r = resolver({ ipv6: false });
    let a = 0;
    for (let i = 0; i < 600; i++) if ((await r.resolve(uri('sip:bob@weighted.test')))[0].address === '127.0.1.1') a++;
    assert.ok(a > 420 && a < 580, `weight 5 of 6 came first ${a} times of 600`);
  });

  it('falls back to the A records on the default port when there is neither NAPTR nor SRV', async () => {
    assert.deepEqual(await resolver().resolve(uri('sip:bob@aonly.test')), [t('udp', '127.0.3.1', 5060)]);
    assert.deepEqual(await resolver().resolve(uri('sips:bob@aonly.test')), [t('tls', '127.0.3.1', 5061)]);
    for (const name of ['_sip._udp.aonly.test', '_sip._tcp.aonly.test', '_sips._tcp.aonly.test']) assert.ok(dns.queries('SRV', name) >= 1, `${name} was asked: ${dns.log()}`);
  });

  it('uses AAAA records: IPv6 only, and IPv6 after IPv4 of the same host', async () => {
    assert.deepEqual(await resolver().resolve(uri('sip:bob@v6only.test')), [t('udp', '::1', 5060)]);
    assert.deepEqual(await resolver().resolve(uri('sip:bob@dual.test;transport=tcp')), [t('tcp', '127.0.4.1', 5060), t('tcp', '::1', 5060)]);
    assert.deepEqual(await resolver({ ipv6: false }).resolve(uri('sip:bob@dual.test;transport=tcp')), [t('tcp', '127.0.4.1', 5060)]);
  });

  it('reaches a sips URI over TLS only, and a sip URI over the TLS a domain offers too', async () => {
    assert.deepEqual(await resolver().resolve(uri('sips:bob@secure.test')), [t('tls', '127.0.2.1', 5061)]);
    assert.deepEqual(await resolver().resolve(uri('sip:bob@secure.test')), [t('udp', '127.0.2.2', 5060), t('tls', '127.0.2.1', 5061)]);
    assert.deepEqual(await resolver().resolve(uri('sips:bob@secure.test;transport=tcp')), [t('tls', '127.0.2.1', 5061)]);
    await assert.rejects(resolver().resolve(uri('sips:bob@secure.test;transport=udp')), (e: unknown) => e instanceof SipDnsError && e.code === 'bad-uri');
  });

  it('with an explicit port asks only for addresses; with an explicit transport, that transport SRV', async () => {
    const events: DnsLookupEvent[] = [];
    const r = resolver({ onLookup: (e) => events.push(e) });
    assert.deepEqual(await r.resolve(uri('sip:bob@example.test:5099')), [t('udp', '127.0.0.10', 5099)]);
    assert.deepEqual(events.map((e) => e.type).sort(), ['A', 'AAAA']);
    events.length = 0;
    assert.deepEqual(await r.resolve(uri('sip:bob@example.test;transport=udp')), [t('udp', '127.0.0.3', 5080)]);
    assert.deepEqual(events.filter((e) => e.type === 'SRV').map((e) => e.name), ['_sip._udp.example.test']);
    assert.equal(events.some((e) => e.type === 'NAPTR'), false);
  });

  it('takes IP literals and maddr without any lookup', async () => {
    const events: DnsLookupEvent[] = [];
    const r = resolver({ onLookup: (e) => events.push(e) });
    assert.deepEqual(await r.resolve(uri('sip:bob@127.0.0.7:5090;transport=tcp')), [t('tcp', '127.0.0.7', 5090)]);
    assert.deepEqual(await r.resolve(uri('sip:bob@[::1]')), [t('udp', '::1', 5060)]);
    assert.deepEqual(await r.resolve(uri('sip:bob@example.test;maddr=127.0.0.8')), [t('udp', '127.0.0.8', 5060)]);
    assert.deepEqual(events, []);
  });

  it('follows a NAPTR whose SRV has no records to the domain addresses over the transport NAPTR chose', async () => {
    assert.deepEqual(await resolver({ ipv6: false }).resolve(uri('sip:bob@lost.test')), [t('tcp', '127.0.5.1', 5060)]);
  });

  it('refuses an unknown domain with code no-records and says which lookups found nothing', async () => {
    await assert.rejects(resolver().resolve(uri('sip:bob@nosuch.test')), (e: unknown) => {
      assert.ok(e instanceof SipDnsError);
      assert.equal(e.code, 'no-records');
      assert.match(e.message, /NAPTR nosuch\.test: no records/);
      assert.match(e.message, /SRV _sip\._udp\.nosuch\.test: no records/);
      assert.match(e.message, /A nosuch\.test: no records/);
      assert.deepEqual(e.queries.map((q) => q.type).sort(), ['A', 'AAAA', 'NAPTR', 'SRV', 'SRV', 'SRV']);
      return true;
    });
  });

  it('refuses a domain whose SRV says the service is not available, without falling back to A', async () => {
    await assert.rejects(resolver().resolve(uri('sip:bob@down.test;transport=udp')), (e: unknown) => e instanceof SipDnsError && e.code === 'no-service');
    assert.equal(dns.queries('A', 'down.test'), 0);
  });

  it('reports a DNS server that does not answer as a timeout, one that refuses as refused', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const r = resolver({ servers: [`127.0.0.1:${silent.address().port}`], timeoutMs: 150, tries: 1 });
      await assert.rejects(r.resolve(uri('sip:bob@example.test')), (e: unknown) => {
        assert.ok(e instanceof SipDnsError);
        assert.equal(e.code, 'timeout');
        assert.match(e.message, /NAPTR example\.test: timed out/);
        return true;
      });
    } finally {
      silent.close();
    }
    // dnsmasq refuses names outside its zone (it has no upstream)
    await assert.rejects(resolver().resolve(uri('sip:bob@example.org:5060')), (e: unknown) => e instanceof SipDnsError && e.code === 'refused');
  });

  it('keeps answers for their TTL, asks again after it, and remembers missing names for the negative TTL', async () => {
    let clock = 1_000_000;
    const r = resolver({ ipv6: false, now: () => clock, negativeTtlSeconds: 30 });
    const before = dns.queries('A', 'ttl.test');
    assert.deepEqual(await r.resolve(uri('sip:bob@ttl.test:5060')), [t('udp', '127.0.6.1', 5060)]);
    await waitFor('the first query at dnsmasq', () => (dns.queries('A', 'ttl.test') === before + 1 ? true : undefined), 5000, 20);
    // within the 5 s TTL: from the cache
    clock += 4_000;
    assert.deepEqual(await r.resolve(uri('sip:bob@ttl.test:5060')), [t('udp', '127.0.6.1', 5060)]);
    // past it: asked again
    clock += 1_500;
    assert.deepEqual(await r.resolve(uri('sip:bob@ttl.test:5060')), [t('udp', '127.0.6.1', 5060)]);
    await waitFor('the second query at dnsmasq', () => (dns.queries('A', 'ttl.test') === before + 2 ? true : undefined), 5000, 20);

    const missing = dns.queries('A', 'gone.test');
    await assert.rejects(r.resolve(uri('sip:bob@gone.test:5060')), (e: unknown) => e instanceof SipDnsError && e.code === 'no-records');
    await waitFor('the query of a missing name', () => (dns.queries('A', 'gone.test') === missing + 1 ? true : undefined), 5000, 20);
    clock += 29_000;
    await assert.rejects(r.resolve(uri('sip:bob@gone.test:5060')), (e: unknown) => e instanceof SipDnsError && e.code === 'no-records');
    clock += 2_000;
    await assert.rejects(r.resolve(uri('sip:bob@gone.test:5060')), (e: unknown) => e instanceof SipDnsError && e.code === 'no-records');
    await waitFor('the missing name asked again', () => (dns.queries('A', 'gone.test') === missing + 2 ? true : undefined), 5000, 20);
    // nothing else asked for these names in between
    assert.equal(dns.queries('A', 'ttl.test'), before + 2);
    assert.equal(dns.queries('A', 'gone.test'), missing + 2);
  });

  it('asks once for concurrent lookups of one name, and bounds the cache', async () => {
    const r = resolver({ ipv6: false, cacheSize: 3 });
    const before = dns.queries('NAPTR', 'weighted.test');
    const all = await Promise.all(Array.from({ length: 20 }, () => r.resolve(uri('sip:bob@weighted.test'))));
    assert.equal(all.length, 20);
    await waitFor('the NAPTR query', () => (dns.queries('NAPTR', 'weighted.test') >= before + 1 ? true : undefined), 5000, 20);
    assert.equal(dns.queries('NAPTR', 'weighted.test'), before + 1);
    assert.ok(r.cacheSize <= 3, `cache holds ${r.cacheSize}`);
  });

  it('locates where a response goes from a Via sent-by (RFC 3263 5)', async () => {
    const via = parseVia('SIP/2.0/UDP secure.test;branch=z9hG4bK77');
    assert.ok(via.ok);
    assert.deepEqual(await resolver().resolveVia(via.value), [t('udp', '127.0.2.2', 5060)]);
  });

  it('refuses a bad DNS server list at construction', () => {
    assert.throws(() => new DnsSipTargetResolver({ servers: ['not an address'] }), /bad DNS server list/);
  });
});
