import { trimLws } from './chars';
import { SipResult, fail, ok } from './errors';
import {
  CSeq,
  ContactList,
  MediaType,
  Via,
  canonicalHeaderName,
  formatVia,
  headerKey,
  isValidCallId,
  nextListComma,
  parseCSeq,
  parseContactList,
  parseIntHeader,
  parseMediaType,
  parseNameAddrList,
  parseTokenList,
  parseVia,
  splitList,
  ValueRange,
  listBounds,
} from './headers';
import { NameAddr, formatNameAddr, parseNameAddr } from './name-addr';
import { Uri, formatUri, parseUri } from './uri';

/** One header line: the name as written, its key (lower-case full name) and its unfolded raw value. */
export interface SipHeader {
  name: string;
  key: string;
  value: string;
}

interface FastBuffer {
  latin1Write(s: string, offset: number): number;
}

const EMPTY = Buffer.alloc(0);

/** Header text set through the API never breaks a line (no header injection). */
function oneLine(v: string): string {
  return v.indexOf('\r') >= 0 || v.indexOf('\n') >= 0 ? v.replace(/[\r\n]+/g, ' ') : v;
}

/** Common part of requests and responses: ordered raw headers, body, typed accessors cached on first use. */
export abstract class SipMessageBase {
  abstract readonly kind: 'request' | 'response';
  /** SIP-Version as written (normally `SIP/2.0`). */
  version = 'SIP/2.0';
  /** Header lines in order. Mutate through the methods so that cached typed values stay right. */
  headers: SipHeader[];
  body: Buffer;

  /** @internal cached typed values, filled by the parser or on first access */
  _via: Via[] | undefined;
  /** @internal */
  _from: NameAddr | undefined;
  /** @internal */
  _to: NameAddr | undefined;
  /** @internal */
  _cseq: CSeq | undefined;
  /** @internal the top Via alone (null: none) when the others were not needed */
  _top: Via | null | undefined;
  /** @internal the parsed header text and [a, b) of each header's value in it (-1 when folded); dropped on mutation */
  _src: string | undefined;
  /** @internal */
  _offs: number[] | undefined;
  private cache: Map<string, unknown> | undefined;

  constructor(headers: SipHeader[] = [], body: Buffer = EMPTY) {
    this.headers = headers;
    this.body = body;
    this._via = undefined;
    this._from = undefined;
    this._to = undefined;
    this._cseq = undefined;
    this._top = undefined;
    this._src = undefined;
    this._offs = undefined;
    this.cache = undefined;
  }

  /** Where the values of a header are: in the flat parsed text when unchanged since parsing (faster to parse), else the value strings. */
  private rangesOf(key: string): ValueRange[] {
    const out: ValueRange[] = [];
    const hs = this.headers;
    const src = this._src;
    const offs = this._offs;
    for (let i = 0; i < hs.length; i++) {
      if (hs[i].key !== key) continue;
      const v = hs[i].value;
      if (src !== undefined && offs !== undefined && offs[2 * i] >= 0 && offs[2 * i + 1] - offs[2 * i] === v.length)
        out.push({ s: src, a: offs[2 * i], b: offs[2 * i + 1] });
      else out.push({ s: v, a: 0, b: v.length });
    }
    return out;
  }

  abstract startLine(): string;

  // ------------------------------------------------------------ raw access

  /** First raw value of a header (any spelling, compact forms included), or undefined. */
  header(name: string): string | undefined {
    const key = headerKey(name);
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i].key === key) return hs[i].value;
    return undefined;
  }

  /** Raw values of every line of a header, in order. */
  headerValues(name: string): string[] {
    return this.valuesOf(headerKey(name));
  }

  hasHeader(name: string): boolean {
    return this.header(name) !== undefined;
  }

  /** Elements of a comma-separated list header over all its lines (commas in quotes and <> respected). */
  listValues(name: string): string[] {
    const out: string[] = [];
    for (const v of this.valuesOf(headerKey(name))) for (const e of splitList(v)) out.push(e);
    return out;
  }

  private valuesOf(key: string): string[] {
    const out: string[] = [];
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i].key === key) out.push(hs[i].value);
    return out;
  }

  private cached<T>(key: string, make: () => T): T {
    if (this.cache === undefined) this.cache = new Map();
    else if (this.cache.has(key)) return this.cache.get(key) as T;
    const v = make();
    this.cache.set(key, v);
    return v;
  }

  /** @internal drop cached typed values of a header after a change */
  protected invalidate(key: string): void {
    this._src = undefined;
    this._offs = undefined;
    switch (key) {
      case 'via':
        this._via = undefined;
        this._top = undefined;
        break;
      case 'from':
        this._from = undefined;
        break;
      case 'to':
        this._to = undefined;
        break;
      case 'cseq':
        this._cseq = undefined;
        break;
    }
    this.cache?.delete(key);
  }

  // ------------------------------------------------------------ typed access: validated by the parser

  /** Every Via value, top first. Empty when absent (a parsed message always has at least one). */
  get vias(): Via[] {
    if (this._via === undefined) {
      const out: Via[] = [];
      const bounds: number[] = [];
      for (const r of this.rangesOf('via')) {
        if (r.s.indexOf(',', r.a) < 0 || r.s.indexOf(',', r.a) >= r.b) {
          const v = parseVia(r.s, r.a, r.b);
          if (v.ok) out.push(v.value);
          continue;
        }
        bounds.length = 0;
        listBounds(r.s, r.a, r.b, bounds);
        for (let k = 0; k < bounds.length; k += 2) {
          const v = parseVia(r.s, bounds[k], bounds[k + 1]);
          if (v.ok) out.push(v.value);
        }
      }
      this._via = out;
    }
    return this._via;
  }

  /** The top Via; parses only that one when the others have not been read. */
  get topVia(): Via | undefined {
    if (this._via !== undefined) return this._via[0];
    if (this._top === undefined) {
      const rs = this.rangesOf('via');
      let top: Via | null = null;
      for (let k = 0; k < rs.length && top === null; k++) {
        const r = rs[k];
        const bounds: number[] = [];
        listBounds(r.s, r.a, r.b, bounds);
        for (let j = 0; j < bounds.length; j += 2) {
          const v = parseVia(r.s, bounds[j], bounds[j + 1]);
          if (v.ok) {
            top = v.value;
            break;
          }
        }
      }
      this._top = top;
    }
    return this._top ?? undefined;
  }

  /**
   * From. Valid on every parsed message. Never throws: when absent or invalid (a request handed back in a
   * SipParseError, or broken by hand) it reads as a placeholder whose URI is of kind 'other' with the raw text.
   */
  get from(): NameAddr {
    return (this._from ??= this.requiredNameAddr('from'));
  }

  /** To; same rules as `from`. */
  get to(): NameAddr {
    return (this._to ??= this.requiredNameAddr('to'));
  }

  get fromTag(): string | undefined {
    return this.from.params.get('tag') ?? undefined;
  }

  get toTag(): string | undefined {
    return this.to.params.get('tag') ?? undefined;
  }

  /** Call-ID ('' when absent, which a parsed message never is). */
  get callId(): string {
    return this.header('call-id') ?? '';
  }

  /** CSeq; `{ seq: -1, method: '' }` when absent or invalid (never on a parsed message). */
  get cseq(): CSeq {
    if (this._cseq === undefined) {
      const rs = this.rangesOf('cseq');
      const r = rs.length === 0 ? parseCSeq('') : parseCSeq(rs[0].s, rs[0].a, rs[0].b);
      this._cseq = r.ok ? r.value : { seq: -1, method: '' };
    }
    return this._cseq;
  }

  /** Max-Forwards, or undefined when absent or invalid. */
  get maxForwards(): number | undefined {
    const v = this.header('max-forwards');
    if (v === undefined) return undefined;
    const r = parseIntHeader(v, 'Max-Forwards', 255);
    return r.ok ? r.value : undefined;
  }

  /** Content-Length, or undefined when absent or invalid. */
  get contentLength(): number | undefined {
    const v = this.header('content-length');
    if (v === undefined) return undefined;
    const r = parseIntHeader(v, 'Content-Length', 0x7fffffff);
    return r.ok ? r.value : undefined;
  }

  /** Content-Type raw value. */
  get contentType(): string | undefined {
    return this.header('content-type');
  }

  // ------------------------------------------------------------ typed access: parsed on first use, may be invalid

  mediaType(): SipResult<MediaType | undefined> {
    return this.cached('content-type', () => {
      const v = this.header('content-type');
      return v === undefined ? ok(undefined) : parseMediaType(v);
    });
  }

  /** Contact: `*`, or the list (empty when absent). */
  contacts(): SipResult<ContactList> {
    return this.cached('contact', () => parseContactList(this.rangesOf('contact')));
  }

  routes(): SipResult<NameAddr[]> {
    return this.cached('route', () => parseNameAddrList(this.rangesOf('route'), 'route'));
  }

  recordRoutes(): SipResult<NameAddr[]> {
    return this.cached('record-route', () => parseNameAddrList(this.rangesOf('record-route'), 'record-route'));
  }

  /** Path (RFC 3327). */
  paths(): SipResult<NameAddr[]> {
    return this.cached('path', () => parseNameAddrList(this.rangesOf('path'), 'path'));
  }

  /** Expires header (delta-seconds); ok(undefined) when absent. */
  expires(): SipResult<number | undefined> {
    return this.cached('expires', () => this.optionalInt('expires', 'Expires'));
  }

  minExpires(): SipResult<number | undefined> {
    return this.cached('min-expires', () => this.optionalInt('min-expires', 'Min-Expires'));
  }

  get supported(): string[] {
    return this.cached('supported', () => parseTokenList(this.valuesOf('supported')));
  }

  get require(): string[] {
    return this.cached('require', () => parseTokenList(this.valuesOf('require')));
  }

  get proxyRequire(): string[] {
    return this.cached('proxy-require', () => parseTokenList(this.valuesOf('proxy-require')));
  }

  get allow(): string[] {
    return this.cached('allow', () => parseTokenList(this.valuesOf('allow')));
  }

  private optionalInt(key: string, name: string): SipResult<number | undefined> {
    const v = this.header(key);
    if (v === undefined) return ok(undefined);
    return parseIntHeader(v, name);
  }

  private requiredNameAddr(key: string): NameAddr {
    const rs = this.rangesOf(key);
    const r = rs.length === 0 ? undefined : parseNameAddr(rs[0].s, true, rs[0].a, rs[0].b);
    if (r === undefined || !r.ok)
      return { displayName: undefined, uri: { kind: 'other', scheme: '', opaque: this.header(key) ?? '' }, params: new Map() };
    return r.value;
  }

  // ------------------------------------------------------------ mutations

  /** Append a header line (or insert it at `index`). */
  addHeader(name: string, value: string, index?: number): this {
    const key = headerKey(name);
    const h: SipHeader = { name: canonicalHeaderName(name), key, value: oneLine(value) };
    if (index === undefined || index >= this.headers.length) this.headers.push(h);
    else this.headers.splice(Math.max(0, index), 0, h);
    this.invalidate(key);
    return this;
  }

  /** Replace every line of a header by one line (several values become a comma list), at the place of the first; append if absent. */
  setHeader(name: string, value: string | string[]): this {
    const key = headerKey(name);
    const v = oneLine(typeof value === 'string' ? value : value.join(', '));
    const hs = this.headers;
    const first = hs.findIndex((h) => h.key === key);
    if (first < 0) return this.addHeader(name, v);
    hs[first] = { name: hs[first].name, key, value: v };
    for (let i = hs.length - 1; i > first; i--) if (hs[i].key === key) hs.splice(i, 1);
    this.invalidate(key);
    return this;
  }

  /** Remove every line of a header; returns how many lines went. */
  removeHeader(name: string): number {
    const key = headerKey(name);
    const before = this.headers.length;
    this.headers = this.headers.filter((h) => h.key !== key);
    this.invalidate(key);
    return before - this.headers.length;
  }

  private firstIndex(key: string): number {
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i].key === key) return i;
    return -1;
  }

  /** Insert a value in front of the first line of its header (or at `fallback` when there is none). */
  private prependValue(name: string, key: string, value: string, fallback: number): void {
    const i = this.firstIndex(key);
    this.headers.splice(i >= 0 ? i : fallback, 0, { name, key, value: oneLine(value) });
    this.invalidate(key);
  }

  /** Remove the first element of a list header (splitting a comma list line if needed); returns it raw. */
  private shiftValue(key: string): string | undefined {
    const i = this.firstIndex(key);
    if (i < 0) return undefined;
    const h = this.headers[i];
    const c = nextListComma(h.value);
    let removed: string;
    if (c < 0) {
      removed = h.value;
      this.headers.splice(i, 1);
    } else {
      removed = trimLws(h.value.slice(0, c));
      const rest = trimLws(h.value.slice(c + 1));
      if (rest.length === 0) this.headers.splice(i, 1);
      else this.headers[i] = { name: h.name, key, value: rest };
    }
    this.invalidate(key);
    return removed;
  }

  /** Add a Via on top (a proxy forwarding a request). */
  addVia(via: Via | string): this {
    this.prependValue('Via', 'via', typeof via === 'string' ? via : formatVia(via), 0);
    return this;
  }

  /** Remove the top Via (a proxy forwarding a response); returns it parsed, or undefined when there was none. */
  removeTopVia(): Via | undefined {
    const top = this.topVia;
    if (this.shiftValue('via') === undefined) return undefined;
    return top;
  }

  /** Put a Record-Route in front of the others. */
  prependRecordRoute(value: NameAddr | string): this {
    const v = typeof value === 'string' ? value : formatNameAddr(value);
    let fallback = 0;
    const hs = this.headers;
    // with none yet, it goes after the Vias and Max-Forwards (where RFC 3261's examples put it)
    for (let i = 0; i < hs.length; i++) if (hs[i].key === 'via' || hs[i].key === 'max-forwards') fallback = i + 1;
    this.prependValue('Record-Route', 'record-route', v, fallback);
    return this;
  }

  /** Remove the top Route value; returns it raw (e.g. `<sip:p1.example.com;lr>`), or undefined. */
  popRoute(): string | undefined {
    return this.shiftValue('route');
  }

  /**
   * Decrement Max-Forwards as a forwarding proxy does (RFC 3261 16.6 step 3): absent becomes 70.
   * Returns the new value, or -1 (unchanged) when it already was 0 or is invalid: the proxy answers 483.
   */
  decrementMaxForwards(): number {
    const raw = this.header('max-forwards');
    if (raw === undefined) {
      this.addHeader('Max-Forwards', '70');
      return 70;
    }
    const r = parseIntHeader(raw, 'Max-Forwards', 255);
    if (!r.ok || r.value === 0) return -1;
    const v = r.value - 1;
    this.setHeader('max-forwards', String(v));
    return v;
  }

  /** Replace the body and set Content-Length (and Content-Type when given; removed when the body is empty and no type is given). */
  setBody(body: Buffer | string, contentType?: string): this {
    this.body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (contentType !== undefined) this.setHeader('content-type', contentType);
    else if (this.body.length === 0) this.removeHeader('content-type');
    this.setHeader('content-length', String(this.body.length));
    return this;
  }

  // ------------------------------------------------------------ serialisation

  /** The message as one Buffer: start line, headers as they are, blank line, body. */
  toBuffer(): Buffer {
    const start = this.startLine();
    const hs = this.headers;
    let len = start.length + 4 + this.body.length;
    for (let i = 0; i < hs.length; i++) len += hs[i].name.length + hs[i].value.length + 4;
    const buf = Buffer.allocUnsafe(len);
    const fb = buf as unknown as FastBuffer;
    let off = fb.latin1Write(start, 0);
    buf[off++] = 13;
    buf[off++] = 10;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i];
      off += fb.latin1Write(h.name, off);
      buf[off++] = 58;
      buf[off++] = 32;
      off += fb.latin1Write(h.value, off);
      buf[off++] = 13;
      buf[off++] = 10;
    }
    buf[off++] = 13;
    buf[off++] = 10;
    if (this.body.length > 0) this.body.copy(buf, off);
    return buf;
  }

  toString(): string {
    return this.toBuffer().toString('latin1');
  }

  protected copyInto<T extends SipMessageBase>(m: T): T {
    m.version = this.version;
    m.headers = this.headers.slice();
    m.body = this.body;
    m._src = this._src;
    m._offs = this._offs;
    return m;
  }
}

export class SipRequest extends SipMessageBase {
  readonly kind = 'request' as const;
  method: string;
  private uriRaw: string;
  /** @internal */
  _uri: Uri | undefined;

  constructor(method: string, requestUri: string | Uri, headers?: SipHeader[], body?: Buffer) {
    super(headers, body);
    this.method = method;
    if (typeof requestUri === 'string') {
      this.uriRaw = requestUri;
      this._uri = undefined;
    } else {
      this.uriRaw = formatUri(requestUri);
      this._uri = requestUri;
    }
  }

  /** Request-URI as written. */
  get requestUri(): string {
    return this.uriRaw;
  }

  /** Request-URI parsed (a parsed request always has a valid one; an invalid one set by hand reads as an `other` URI). */
  get uri(): Uri {
    if (this._uri === undefined) {
      const r = parseUri(this.uriRaw);
      this._uri = r.ok ? r.value : { kind: 'other', scheme: '', opaque: this.uriRaw };
    }
    return this._uri;
  }

  setRequestUri(uri: Uri | string): SipResult<Uri> {
    if (typeof uri === 'string') {
      const r = parseUri(uri);
      if (!r.ok) return r;
      this.uriRaw = uri;
      this._uri = r.value;
      return r;
    }
    this.uriRaw = formatUri(uri);
    this._uri = uri;
    return ok(uri);
  }

  startLine(): string {
    return this.method + ' ' + this.uriRaw + ' ' + this.version;
  }

  /** A copy with its own header list (header objects and body are shared; they are replaced, never mutated in place). */
  clone(): SipRequest {
    const m = this.copyInto(new SipRequest(this.method, this.uriRaw));
    m._uri = this._uri;
    return m;
  }
}

export class SipResponse extends SipMessageBase {
  readonly kind = 'response' as const;
  status: number;
  reason: string;

  constructor(status: number, reason: string, headers?: SipHeader[], body?: Buffer) {
    super(headers, body);
    this.status = status;
    this.reason = reason;
  }

  startLine(): string {
    return this.version + ' ' + this.status + ' ' + this.reason;
  }

  clone(): SipResponse {
    return this.copyInto(new SipResponse(this.status, this.reason));
  }
}

export type SipMessage = SipRequest | SipResponse;

/** Check the headers a request or response must carry (used by the parser; useful after building by hand). */
export function validateCore(m: SipMessage): SipResult<true> {
  if (m.vias.length === 0) return fail('MISSING_HEADER', 'missing Via', 'via');
  if (!isValidCallId(trimLws(m.header('call-id') ?? ''))) return fail('MISSING_HEADER', 'missing or bad Call-ID', 'call-id');
  for (const key of ['from', 'to']) {
    const v = m.header(key);
    if (v === undefined) return fail('MISSING_HEADER', 'missing ' + key, key);
    const r = parseNameAddr(v);
    if (!r.ok) return fail('BAD_HEADER_VALUE', r.error.reason, key);
  }
  const c = parseCSeq(m.header('cseq') ?? '');
  if (!c.ok) return c;
  return ok(true);
}

/** Convert a JS (UTF-16) string to the latin1 byte-string form used in messages (UTF-8 bytes). */
export function toWire(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** Convert a byte string from a message to a JS string, decoding UTF-8. */
export function fromWire(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}
