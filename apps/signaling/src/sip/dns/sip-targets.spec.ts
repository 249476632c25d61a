import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseUri, parseVia, type SipUri } from '@traverse/sip';
import { SipDnsError } from './errors';
import { orderNaptr, orderSrv, planResolution, planVia, srvName, srvSaysUnavailable, appendUnique, type NaptrRecord, type SrvRecord, type SipTarget } from './sip-targets';

const ALL = ['udp', 'tcp', 'tls', 'ws', 'wss'] as const;

function uri(text: string): SipUri {
  const r = parseUri(text);
  assert.ok(r.ok, text);
  assert.equal(r.value.kind, 'sip');
  return r.value;
}

function refused(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof SipDnsError && e.code === code);
}

/** A random source returning the given numbers in turn. */
function seq(...xs: number[]): () => number {
  let i = 0;
  return () => {
    const x = xs[i % xs.length];
    i++;
    return x;
  };
}

const naptr = (order: number, preference: number, service: string, replacement: string, flags = 's', regexp = ''): NaptrRecord => ({ order, preference, service, replacement, flags, regexp });
const srv = (priority: number, weight: number, port: number, name: string): SrvRecord => ({ priority, weight, port, name });

describe('RFC 3263 plans', () => {
  it('takes an IP literal as it is: UDP for sip, TLS for sips, default or explicit port', () => {
    assert.deepEqual(planResolution(uri('sip:bob@192.0.2.7'), ALL), { kind: 'targets', targets: [{ transport: 'udp', address: '192.0.2.7', port: 5060 }] });
    assert.deepEqual(planResolution(uri('sips:bob@192.0.2.7'), ALL), { kind: 'targets', targets: [{ transport: 'tls', address: '192.0.2.7', port: 5061 }] });
    assert.deepEqual(planResolution(uri('sip:bob@[2001:DB8::7]:5080;transport=tcp'), ALL), {
      kind: 'targets',
      targets: [{ transport: 'tcp', address: '2001:db8::7', port: 5080 }],
    });
    assert.deepEqual(planResolution(uri('sip:bob@192.0.2.7;transport=ws'), ALL), { kind: 'targets', targets: [{ transport: 'ws', address: '192.0.2.7', port: 80 }] });
    assert.deepEqual(planResolution(uri('sips:bob@192.0.2.7;transport=ws'), ALL), { kind: 'targets', targets: [{ transport: 'wss', address: '192.0.2.7', port: 443 }] });
  });

  it('uses maddr as the target instead of the host', () => {
    assert.deepEqual(planResolution(uri('sip:bob@example.com;maddr=192.0.2.9'), ALL), { kind: 'targets', targets: [{ transport: 'udp', address: '192.0.2.9', port: 5060 }] });
    assert.deepEqual(planResolution(uri('sip:bob@example.com:5070;maddr=proxy.example.net'), ALL), { kind: 'address', host: 'proxy.example.net', port: 5070, transport: 'udp' });
  });

  it('with an explicit port looks up addresses only (UDP for sip, TLS for sips)', () => {
    assert.deepEqual(planResolution(uri('sip:bob@Example.COM:5070'), ALL), { kind: 'address', host: 'example.com', port: 5070, transport: 'udp' });
    assert.deepEqual(planResolution(uri('sips:bob@example.com:5071'), ALL), { kind: 'address', host: 'example.com', port: 5071, transport: 'tls' });
    assert.deepEqual(planResolution(uri('sip:bob@example.com:5070;transport=TCP'), ALL), { kind: 'address', host: 'example.com', port: 5070, transport: 'tcp' });
  });

  it('with an explicit transport and no port looks up the SRV of that transport', () => {
    assert.deepEqual(planResolution(uri('sip:bob@example.com;transport=tcp'), ALL), { kind: 'srv', host: 'example.com', transport: 'tcp' });
    assert.deepEqual(planResolution(uri('sips:bob@example.com;transport=tcp'), ALL), { kind: 'srv', host: 'example.com', transport: 'tls' });
    assert.deepEqual(planResolution(uri('sip:bob@example.com;transport=tls'), ALL), { kind: 'srv', host: 'example.com', transport: 'tls' });
  });

  it('with neither looks up NAPTR first', () => {
    assert.deepEqual(planResolution(uri('sip:bob@example.com.'), ALL), { kind: 'naptr', host: 'example.com', secure: false });
    assert.deepEqual(planResolution(uri('sips:bob@example.com'), ALL), { kind: 'naptr', host: 'example.com', secure: true });
  });

  it('refuses what cannot be resolved, with a typed code', () => {
    refused(() => planResolution(uri('sips:bob@example.com;transport=udp'), ALL), 'bad-uri');
    refused(() => planResolution(uri('sip:bob@example.com;transport=sctp'), ALL), 'unsupported-transport');
    refused(() => planResolution(uri('sip:bob@example.com;transport=ws'), ['udp', 'tcp', 'tls']), 'unsupported-transport');
    refused(() => planResolution(uri('sip:bob@192.0.2.1'), ['tcp']), 'unsupported-transport');
    refused(() => planResolution({ ...uri('sip:bob@example.com'), host: 'a..example.com' }, ALL), 'bad-uri');
    refused(() => planResolution(uri('sip:bob@' + 'a'.repeat(64) + '.com'), ALL), 'bad-uri');
  });

  it('names the SRV owner of each transport', () => {
    assert.deepEqual(
      ALL.map((t) => srvName(t, 'example.com')),
      ['_sip._udp.example.com', '_sip._tcp.example.com', '_sips._tcp.example.com', '_sip._ws.example.com', '_sips._ws.example.com'],
    );
  });

  it('plans a response from the top Via (RFC 3263 5)', () => {
    const via = (s: string) => {
      const r = parseVia(s);
      assert.ok(r.ok, s);
      return r.value;
    };
    assert.deepEqual(planVia(via('SIP/2.0/UDP 192.0.2.4:5062;branch=z9hG4bK1')), { kind: 'targets', targets: [{ transport: 'udp', address: '192.0.2.4', port: 5062 }] });
    assert.deepEqual(planVia(via('SIP/2.0/TLS client.example.com;branch=z9hG4bK1')), { kind: 'srv', host: 'client.example.com', transport: 'tls' });
    assert.deepEqual(planVia(via('SIP/2.0/TCP client.example.com:5070;branch=z9hG4bK1')), { kind: 'address', host: 'client.example.com', port: 5070, transport: 'tcp' });
    refused(() => planVia(via('SIP/2.0/SCTP client.example.com;branch=z9hG4bK1')), 'unsupported-transport');
  });
});

describe('NAPTR selection (RFC 3263 4.1, RFC 3403)', () => {
  it('orders by order, then preference, keeping the answer order on ties', () => {
    const got = orderNaptr(
      [
        naptr(20, 10, 'SIP+D2U', '_sip._udp.example.com'),
        naptr(10, 20, 'SIP+D2T', '_sip._tcp.b.example.com'),
        naptr(10, 10, 'SIP+D2T', '_sip._tcp.a.example.com'),
        naptr(10, 20, 'SIPS+D2T', '_sips._tcp.example.com'),
      ],
      { secure: false, transports: ALL },
    );
    assert.deepEqual(
      got.map((c) => `${c.transport} ${c.replacement}`),
      ['tcp _sip._tcp.a.example.com', 'tcp _sip._tcp.b.example.com', 'tls _sips._tcp.example.com', 'udp _sip._udp.example.com'],
    );
  });

  it('keeps only SIPS services for a sips URI', () => {
    const got = orderNaptr([naptr(10, 10, 'SIP+D2T', '_sip._tcp.example.com'), naptr(20, 10, 'SIPS+D2T', '_sips._tcp.example.com'), naptr(30, 10, 'SIPS+D2W', '_sips._ws.example.com')], {
      secure: true,
      transports: ALL,
    });
    assert.deepEqual(got.map((c) => c.transport), ['tls', 'wss']);
  });

  it('drops services this node cannot open, other applications, other flags, regexps and empty replacements', () => {
    const got = orderNaptr(
      [
        naptr(1, 1, 'SIP+D2S', '_sip._sctp.example.com'),
        naptr(2, 1, 'SIP+D2W', '_sip._ws.example.com'),
        naptr(3, 1, 'E2U+sip', 'x.example.com'),
        naptr(4, 1, 'SIP+D2U', '_sip._udp.example.com', 'a'),
        naptr(5, 1, 'SIP+D2U', '', 's', '!^.*$!sip:info@example.com!'),
        naptr(6, 1, 'SIP+D2U', '.'),
        naptr(7, 1, 'sip+d2u', '_sip._udp.example.com.'),
      ],
      { secure: false, transports: ['udp', 'tcp', 'tls'] },
    );
    assert.deepEqual(got, [{ transport: 'udp', replacement: '_sip._udp.example.com', order: 7, preference: 1 }]);
  });
});

describe('SRV ordering (RFC 2782)', () => {
  const records = [srv(10, 60, 5060, 'b.example.com'), srv(0, 5, 5060, 'sip-server.example.com'), srv(0, 1, 5060, 'test.example.com'), srv(10, 0, 5060, 'c.example.com'), srv(10, 40, 5060, 'd.example.com')];

  it('puts lower priorities first and draws by weight within one', () => {
    // priority 0: sum 6; draw 0 -> first whose running sum >= 0 is sip-server (5); then test alone
    // priority 10: c (weight 0) first, b 60, d 40: sum 100, draw 100 -> d; then sum 60, draw 0 -> c; then b
    const got = orderSrv(records, seq(0, 0.5, 0.999, 0, 0.3));
    assert.deepEqual(got.map((r) => r.name), ['sip-server.example.com', 'test.example.com', 'd.example.com', 'c.example.com', 'b.example.com']);
  });

  it('a high draw picks the later record of a priority', () => {
    // priority 0: sum 6, random 0.99 -> floor(6.93) = 6 -> running 5 < 6, 6 >= 6: test first
    const got = orderSrv(records.slice(1, 3), seq(0.99, 0));
    assert.deepEqual(got.map((r) => r.name), ['test.example.com', 'sip-server.example.com']);
  });

  it('gives the same order for the same draws whatever the order of the answer (RFC 3263 4.4)', () => {
    const reversed = [...records].reverse();
    for (const draws of [[0, 0, 0, 0, 0], [0.7, 0.2, 0.5, 0.9, 0.1], [0.99, 0.99, 0.99, 0.99, 0.99]]) {
      assert.deepEqual(
        orderSrv(reversed, seq(...draws)).map((r) => r.name),
        orderSrv(records, seq(...draws)).map((r) => r.name),
      );
    }
  });

  it('spreads load as the weights say', () => {
    let state = 12345;
    const lcg = () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
    const firsts = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const first = orderSrv([srv(0, 5, 5060, 'five'), srv(0, 1, 5060, 'one')], lcg)[0].name;
      firsts.set(first, (firsts.get(first) ?? 0) + 1);
    }
    // 5/6 and 1/6 (plus the chance 1/7 that the draw is 0, which favours the weight listed first)
    const five = firsts.get('five')! / 6000;
    assert.ok(five > 0.78 && five < 0.9, `share of weight 5: ${five}`);
  });

  it('keeps every record, drops "." targets, and tells an unavailable service', () => {
    assert.equal(orderSrv(records).length, records.length);
    assert.deepEqual(orderSrv([srv(0, 0, 0, '.'), srv(1, 0, 5060, 'x.example.com')]).map((r) => r.name), ['x.example.com']);
    assert.equal(srvSaysUnavailable([srv(0, 0, 0, '')]), true);
    assert.equal(srvSaysUnavailable([srv(0, 0, 5060, 'x.example.com')]), false);
    assert.equal(srvSaysUnavailable([]), false);
  });
});

describe('target lists', () => {
  it('appends without duplicates, up to a bound', () => {
    const a: SipTarget = { transport: 'udp', address: '192.0.2.1', port: 5060 };
    const b: SipTarget = { transport: 'tcp', address: '192.0.2.1', port: 5060 };
    const c: SipTarget = { transport: 'udp', address: '192.0.2.2', port: 5060 };
    assert.deepEqual(appendUnique([a], [a, b, c], 10), [a, b, c]);
    assert.deepEqual(appendUnique([a], [b, c], 2), [a, b]);
  });
});
