// Property-based tests: generated messages round-trip, checkers agree with parsers, and no input throws or hangs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDatagram, parseMessage, SipStreamParser } from './parser';
import { SipHeader, SipMessage, SipRequest, SipResponse } from './message';
import { SipUri, Uri, checkUri, formatUri, parseUri, uriEquals } from './uri';
import { checkNameAddr, formatNameAddr, parseNameAddr, NameAddr } from './name-addr';
import { checkVia, formatVia, headerKey, makeVia, parseVia } from './headers';
import * as T from './fixtures/rfc4475';
import * as F from './fixtures/rfc3665';
import { createResponse } from './builders';

const chars = (s: string): fc.Arbitrary<string> => fc.constantFrom(...s.split(''));
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const TOKEN_CHARS = ALNUM + "-.!%*_+`'~";
const str = (alphabet: string, minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: chars(alphabet), minLength, maxLength });
const token = str(TOKEN_CHARS, 1, 12);
const label = str('abcdefghijklmnopqrstuvwxyz0123456789', 1, 8);
const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((p) => '[' + p.map((x) => x.toString(16)).join(':') + ']');
const host = fc.oneof(domain, ipv4, ipv6);
// any byte but CR, LF, NUL in user parts; they are escaped as needed when formatting
const anyText = fc.string({
  unit: fc
    .integer({ min: 0, max: 255 })
    .filter((c) => c !== 10 && c !== 13)
    .map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 10,
});
const paramName = str('abcdefghijklmnopqrstuvwxyz0123456789-', 1, 8);

const sipUri: fc.Arbitrary<SipUri> = fc
  .record({
    scheme: fc.constantFrom('sip' as const, 'sips' as const),
    user: fc.option(anyText, { nil: undefined }),
    password: fc.option(anyText, { nil: undefined }),
    host,
    port: fc.option(fc.nat(65535), { nil: undefined }),
    params: fc.array(fc.tuple(paramName, fc.option(anyText, { nil: null })), { maxLength: 4 }),
  })
  .map((r) => ({
    kind: 'sip' as const,
    scheme: r.scheme,
    user: r.user,
    password: r.user === undefined ? undefined : r.password,
    host: r.host,
    port: r.port,
    params: new Map(r.params),
    headers: new Map<string, string>(),
  }));

const telUri: fc.Arbitrary<Uri> = fc
  .tuple(
    str('0123456789-.()', 1, 12).filter((n) => /[0-9]/.test(n)),
    fc.array(fc.tuple(paramName, fc.option(str(ALNUM, 1, 6), { nil: null })), { maxLength: 2 }),
  )
  .map(([n, p]) => ({ kind: 'tel' as const, scheme: 'tel' as const, number: '+' + n, params: new Map(p) }));

const quotedDisplay = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 12 });
const nameAddr: fc.Arbitrary<NameAddr> = fc.record({
  displayName: fc.option(quotedDisplay, { nil: undefined }),
  uri: fc.oneof({ weight: 4, arbitrary: sipUri }, { weight: 1, arbitrary: telUri }),
  params: fc.array(fc.tuple(paramName, fc.option(token, { nil: null })), { maxLength: 3 }).map((p) => new Map(p)),
});

const via = fc
  .record({
    transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'WS', 'WSS', 'SCTP'),
    host,
    port: fc.option(fc.nat(65535), { nil: undefined }),
    branch: token.map((t) => 'z9hG4bK' + t),
    rport: fc.boolean(),
  })
  .map((o) => makeVia(o));

const headerValue = fc.string({
  unit: fc.integer({ min: 0x21, max: 0xff }).map((c) => String.fromCharCode(c)),
  minLength: 0,
  maxLength: 30,
});
const extraName = fc.constantFrom('Subject', 'User-Agent', 'X-Custom', 'Supported', 'Allow', 'Organization', 'Accept', 'P-Foo');

interface Spec {
  request: boolean;
  method: string;
  status: number;
  reason: string;
  uri: Uri;
  vias: ReturnType<typeof makeVia>[];
  from: NameAddr;
  to: NameAddr;
  callId: string;
  seq: number;
  maxForwards: number | undefined;
  extra: Array<[string, string]>;
  body: Uint8Array;
}

const spec: fc.Arbitrary<Spec> = fc.record({
  request: fc.boolean(),
  method: fc.oneof(fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'ACK', 'BYE'), token),
  status: fc.integer({ min: 100, max: 699 }),
  reason: fc.string({
    unit: fc
      .integer({ min: 0x20, max: 0xff })
      .filter((c) => c !== 0x7f)
      .map((c) => String.fromCharCode(c)),
    maxLength: 20,
  }),
  uri: fc.oneof(sipUri as fc.Arbitrary<Uri>, telUri),
  vias: fc.array(via, { minLength: 1, maxLength: 4 }),
  from: nameAddr,
  to: nameAddr,
  callId: str(ALNUM + '-.!%*_+`\'~()<>:\\"/[]?{}', 1, 20),
  seq: fc.nat(4294967295),
  maxForwards: fc.option(fc.nat(255), { nil: undefined }),
  extra: fc.array(fc.tuple(extraName, headerValue), { maxLength: 5 }),
  body: fc.uint8Array({ maxLength: 200 }),
});

function build(s: Spec): SipMessage {
  const headers: SipHeader[] = [];
  const h = (name: string, value: string): void => void headers.push({ name, key: headerKey(name), value: value.trim() });
  for (const v of s.vias) h('Via', formatVia(v));
  if (s.maxForwards !== undefined) h('Max-Forwards', String(s.maxForwards));
  h('From', formatNameAddr(s.from));
  h('To', formatNameAddr(s.to));
  h('Call-ID', s.callId);
  h('CSeq', s.seq + ' ' + s.method);
  for (const [n, v] of s.extra) h(n, v);
  const m = s.request ? new SipRequest(s.method, s.uri, headers) : new SipResponse(s.status, s.reason, headers);
  m.setBody(Buffer.from(s.body));
  return m;
}

function sameUri(a: Uri, b: Uri): void {
  assert.ok(uriEquals(a, b), `${formatUri(a)} vs ${formatUri(b)}`);
  assert.equal(formatUri(a), formatUri(b));
}

describe('round trips', () => {
  it('generated messages: serialise -> parse gives the same message', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const m = build(s);
        const r = parseMessage(m.toBuffer());
        if (!r.ok) assert.fail(`${r.error.code}: ${r.error.reason}\n${m.toString()}`);
        const p = r.value;
        assert.equal(p.startLine(), m.startLine());
        assert.deepEqual(p.headers, m.headers);
        assert.deepEqual(p.body, m.body);
        assert.deepEqual(p.vias, s.vias);
        assert.equal(p.callId, s.callId);
        assert.deepEqual(p.cseq, { seq: s.seq, method: s.method });
        assert.equal(p.maxForwards, s.maxForwards);
        for (const [got, want] of [
          [p.from, s.from],
          [p.to, s.to],
        ] as const) {
          assert.equal(got.displayName, want.displayName);
          assert.deepEqual(got.params, want.params);
          sameUri(got.uri, want.uri);
        }
        if (p.kind === 'request') {
          sameUri(p.uri, s.uri);
          assert.equal(p.method, s.method);
        } else {
          assert.equal(p.status, s.status);
          assert.equal(p.reason, s.reason);
        }
        // and a second round is byte-identical
        assert.deepEqual(p.toBuffer(), m.toBuffer());
      }),
      { numRuns: 400 },
    );
  });

  it('generated URIs: format -> parse gives the same fields', () => {
    fc.assert(
      fc.property(fc.oneof(sipUri as fc.Arbitrary<Uri>, telUri), (u) => {
        const r = parseUri(formatUri(u));
        if (!r.ok) assert.fail(formatUri(u) + ': ' + r.error.reason);
        assert.deepEqual(r.value, u);
        assert.ok(uriEquals(r.value, u));
      }),
      { numRuns: 500 },
    );
  });

  it('generated name-addrs and Vias: format -> parse gives the same fields', () => {
    fc.assert(
      fc.property(nameAddr, via, (na, v) => {
        const r = parseNameAddr(formatNameAddr(na));
        if (!r.ok) assert.fail(formatNameAddr(na));
        assert.equal(r.value.displayName, na.displayName);
        assert.deepEqual(r.value.params, na.params);
        assert.deepEqual(r.value.uri, na.uri);
        const pv = parseVia(formatVia(v));
        assert.ok(pv.ok);
        assert.deepEqual(pv.value, v);
      }),
      { numRuns: 300 },
    );
  });
});

describe('syntax checkers agree with the parsers', () => {
  const uriish = str(ALNUM.slice(0, 8) + 'sipSIPtel:@;=?&%[]<>"., -+/12', 0, 30);
  it('checkUri(s) !== 0 exactly when parseUri(s) succeeds', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          uriish,
          uriish.map((s) => 'sip:' + s),
          uriish.map((s) => 'tel:' + s),
          sipUri.map(formatUri),
        ),
        (s) => {
          assert.equal(checkUri(s) !== 0, parseUri(s).ok, JSON.stringify(s));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('checkNameAddr and checkVia agree with parseNameAddr and parseVia', () => {
    const naish = str('ab:@;=<>" \\,?sip.1', 0, 30);
    const viaish = str('SIP/2.0UDPab ;:=[]1,"', 0, 30);
    fc.assert(
      fc.property(
        fc.oneof(
          naish,
          naish.map((s) => '<sip:' + s),
          nameAddr.map(formatNameAddr),
        ),
        viaish,
        (na, v) => {
          assert.equal(checkNameAddr(na) === undefined, parseNameAddr(na).ok, JSON.stringify(na));
          assert.equal(checkNameAddr(na) === undefined, parseNameAddr(na, true).ok, JSON.stringify(na));
          assert.equal(checkVia(v) === undefined, parseVia(v).ok, JSON.stringify(v));
          assert.equal(checkVia('SIP/2.0/UDP ' + v) === undefined, parseVia('SIP/2.0/UDP ' + v).ok, JSON.stringify(v));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

/** Read everything a consumer could read; none of it may throw on a message the parser accepted. */
function touch(m: SipMessage): void {
  void m.vias;
  void m.from.uri;
  void m.to.uri;
  void m.fromTag;
  void m.toTag;
  void m.callId;
  void m.cseq;
  void m.maxForwards;
  void m.contentLength;
  m.contacts();
  m.routes();
  m.recordRoutes();
  m.paths();
  m.expires();
  m.minExpires();
  m.mediaType();
  void m.supported;
  void m.require;
  void m.proxyRequire;
  void m.allow;
  if (m.kind === 'request') void m.uri;
  m.toBuffer();
}

function feedAll(buf: Buffer, chunk: number): void {
  const d = parseDatagram(buf);
  if (d.ok && d.kind === 'message') touch(d.value);
  // a request handed back for a 400 must be just as safe to read and answer
  if (!d.ok && d.error.request) {
    touch(d.error.request);
    createResponse(d.error.request, 400, { reason: d.error.reason }).toBuffer();
  }
  const p = new SipStreamParser();
  for (let i = 0; i < buf.length; i += chunk) {
    for (const e of p.push(buf.subarray(i, i + chunk))) {
      if (e.kind === 'message') touch(e.value);
      else if (e.kind === 'error' && e.error.request) touch(e.error.request);
    }
  }
}

const SEEDS = [
  T.wsinv,
  T.intmeth,
  T.esc01,
  T.esc02,
  T.longreq,
  T.mpart01,
  T.unreason,
  T.badinv01,
  T.quotbal,
  F.inv3,
  F.ringing,
  F.ack,
  F.reg3,
].map((s) => Buffer.from(s, 'latin1'));
const SPECIAL = Buffer.from(':;,"<>\\\r\n \t%[]@?=/0', 'latin1');

describe('no input throws or hangs', () => {
  it('random bytes into the datagram and stream parsers', { timeout: 120000 }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500, size: 'large' }), fc.integer({ min: 1, max: 64 }), (bytes, chunk) => {
        feedAll(Buffer.from(bytes), chunk);
      }),
      { numRuns: 1500 },
    );
  });

  it('random printable text shaped like SIP', { timeout: 120000 }, () => {
    const line = fc.tuple(
      fc.constantFrom(
        'Via',
        'v',
        'From',
        'f',
        'To',
        't',
        'Call-ID',
        'i',
        'CSeq',
        'Contact',
        'm',
        'Route',
        'Content-Length',
        'l',
        'Max-Forwards',
        'X',
      ),
      str('SIP/2.0UDP ab:@;=<>",\\sip1234567890 \t', 0, 40),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('INVITE sip:a@b SIP/2.0', 'SIP/2.0 200 OK', 'REGISTER sip:b SIP/2.0'),
        fc.array(line, { maxLength: 12 }),
        fc.integer({ min: 1, max: 32 }),
        (start, lines, chunk) => {
          const text = start + '\r\n' + lines.map(([n, v]) => n + ': ' + v).join('\r\n') + '\r\n\r\n';
          feedAll(Buffer.from(text, 'latin1'), chunk);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('mutated valid messages (flips, special characters, cuts, duplicated ranges)', { timeout: 120000 }, () => {
    const mutation = fc.tuple(fc.constantFrom('flip', 'special', 'delete', 'dup', 'cut'), fc.nat(), fc.nat(), fc.nat(255));
    fc.assert(
      fc.property(
        fc.constantFrom(...SEEDS),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 200 }),
        (seed, muts, chunk) => {
          let b = Buffer.from(seed);
          for (const [kind, p, q, v] of muts) {
            const i = p % Math.max(1, b.length);
            if (kind === 'flip' && b.length > 0) b[i] = v;
            else if (kind === 'special')
              b = Buffer.concat([b.subarray(0, i), SPECIAL.subarray(v % SPECIAL.length, (v % SPECIAL.length) + 1), b.subarray(i)]);
            else if (kind === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + (q % 20))]);
            else if (kind === 'dup') b = Buffer.concat([b.subarray(0, i), b.subarray(i, i + (q % 40)), b.subarray(i)]);
            else b = b.subarray(0, i);
          }
          feedAll(b, chunk);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
