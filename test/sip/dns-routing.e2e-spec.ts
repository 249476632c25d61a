// Routing to a domain that is not local, by DNS (RFC 3263), through a node started with
// ./traverse start whose dns.servers is a dnsmasq on loopback: NAPTR picks UDP, SRV gives two
// servers in priority order, the first (a SIPp callee answering 503) is left for the second (a
// SIPp callee that answers) as RFC 3263 4.3 says; a domain DNS does not know ends the call with a
// server error. Every address DNS gives is 127.0.0.1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { SipNode } from './helpers';
import { DOMAIN, closedCall, receivedRequest, startProxyNode, startSipp } from './proxy-helpers';
import { freePorts } from './helpers';
import { Dnsmasq } from './dns-server';

const callId = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;

describe('routing to other domains by DNS (node, dnsmasq, SIPp)', () => {
  let n: SipNode;
  let dns: Dnsmasq;
  let downPort: number;
  let upPort: number;

  before(async () => {
    [downPort, upPort] = await freePorts(2);
    dns = await Dnsmasq.start('test', {
      naptr: [
        ['remote.test', 10, 10, 'SIP+D2U', '_sip._udp.remote.test'],
        ['remote.test', 20, 10, 'SIP+D2T', '_sip._tcp.remote.test'],
      ],
      srv: [
        ['_sip._udp.remote.test', 'down.remote.test', downPort, 0, 10],
        ['_sip._udp.remote.test', 'up.remote.test', upPort, 10, 10],
      ],
      hosts: [
        ['down.remote.test', '127.0.0.1'],
        ['up.remote.test', '127.0.0.1'],
      ],
    });
    n = await startProxyNode({ TRAVERSE_DNS__SERVERS: dns.server, TRAVERSE_DNS__IPV6: 'false' });
  });

  after(async () => {
    if (n) await n.stop();
    if (dns) await dns.stop();
  });

  it('calls a user of another domain at the server NAPTR and SRV name, moving on from one that answers 503', async () => {
    const down = await startSipp({ scenario: 'dns-uas-unavailable.xml', port: downPort });
    const up = await startSipp({ scenario: 'proxy-uas.xml', service: 'bob', port: upPort });
    const id = callId('dns');
    const uac = await startSipp({
      scenario: 'proxy-uac.xml',
      remote: `127.0.0.1:${n.sipPort}`,
      service: 'bob',
      callId: id,
      keys: { domain: 'remote.test', caller: 'alice', caller_domain: DOMAIN },
    });
    const [a, d, u] = await Promise.all([uac.result(), down.result(), up.result()]);
    assert.equal(a.code, 0, a.log);
    assert.equal(d.code, 0, `the server of priority 0 was tried first and answered 503\n${d.log}`);
    assert.equal(u.code, 0, u.log);
    assert.equal(receivedRequest(d.messages, 'INVITE')?.requestUri, 'sip:bob@remote.test');
    assert.equal(receivedRequest(u.messages, 'INVITE')?.requestUri, 'sip:bob@remote.test');
    assert.ok(dns.queries('NAPTR', 'remote.test') >= 1, dns.log());
    assert.ok(dns.queries('SRV', '_sip._udp.remote.test') >= 1, dns.log());
    assert.equal((await closedCall(n, id)).endReason, 'NORMAL');
  });

  it('answers a call to a domain DNS does not know with a server error', async () => {
    const id = callId('nxdomain');
    const a = await (
      await startSipp({
        scenario: 'dns-uac-unresolved.xml',
        remote: `127.0.0.1:${n.sipPort}`,
        service: 'bob',
        callId: id,
        keys: { domain: 'nowhere.test', caller: 'alice', caller_domain: DOMAIN },
      })
    ).result();
    assert.equal(a.code, 0, a.log);
    assert.ok(dns.queries('NAPTR', 'nowhere.test') >= 1, dns.log());
  });
});
