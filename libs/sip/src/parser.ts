import { TOKEN, parseUint, trimLws } from './chars';
import { SipError, SipErrorCode, SipResult } from './errors';
import { CSeq, checkViaList, headerKey, lookupHeaderName, isValidCallId, parseCSeq } from './headers';
import { SipHeader, SipMessage, SipRequest, SipResponse } from './message';
import { checkNameAddr } from './name-addr';
import { URI_HAS_HEADERS, checkUri, parseUri } from './uri';

/** Bounds on what the parsers accept. */
export interface SipParseLimits {
  /** Whole message (start line, headers, body) in bytes. Default 65535 (largest UDP datagram). */
  maxMessageSize: number;
  /** Header lines. Default 200. */
  maxHeaders: number;
  /** One header line after unfolding, in bytes. Default 8192. */
  maxHeaderLength: number;
}

export const DEFAULT_SIP_LIMITS: Readonly<SipParseLimits> = Object.freeze({
  maxMessageSize: 65535,
  maxHeaders: 200,
  maxHeaderLength: 8192,
});

export interface SipParseError extends SipError {
  /**
   * True when the message is a request whose request line, Via, Call-ID, CSeq, From and To could be read,
   * so a response (400, 505 ...) can be built from `message` with createResponse.
   */
  responsePossible: boolean;
  /**
   * The request as far as it was read, when responsePossible: hand it to createResponse. Its raw headers are all
   * there; typed getters of the faulty header read as placeholders (they never throw).
   */
  request?: SipRequest;
  /** Stream parser only: the byte stream lost its framing and the connection should be closed. */
  fatal?: boolean;
}

export type DatagramResult =
  { ok: true; kind: 'message'; value: SipMessage } | { ok: true; kind: 'ping' | 'pong' } | { ok: false; error: SipParseError };

type Head =
  | { ok: true; msg: SipMessage; contentLength: number; bodyStart: number }
  | { ok: false; error: SipParseError; contentLength: number; bodyStart: number };

function perr(code: SipErrorCode, reason: string, header?: string): SipParseError {
  const e: SipParseError = { code, reason, responsePossible: false };
  if (header !== undefined) e.header = header;
  return e;
}

function headFail(code: SipErrorCode, reason: string, header?: string): Head {
  return { ok: false, error: perr(code, reason, header), contentLength: -1, bodyStart: -1 };
}

function failWith(
  msg: SipMessage,
  contentLength: number,
  bodyStart: number,
  code: SipErrorCode,
  why: string,
  header?: string,
  possible = false,
): Head {
  const error = perr(code, why, header);
  if (possible && msg.kind === 'request') {
    error.responsePossible = true;
    error.request = msg;
  }
  return { ok: false, error, contentLength, bodyStart };
}

function isSipVersion(v: string): boolean {
  return v === 'SIP/2.0' || v.toUpperCase() === 'SIP/2.0';
}

function looksLikeVersion(v: string): boolean {
  return (
    v.length > 4 &&
    (v.charCodeAt(0) | 0x20) === 0x73 &&
    (v.charCodeAt(1) | 0x20) === 0x69 &&
    (v.charCodeAt(2) | 0x20) === 0x70 &&
    v.charCodeAt(3) === 0x2f
  );
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Parse the start line and headers in buf[start, headEnd) (headEnd: index of the empty line).
 * `bodyStart` is where the body begins.
 */
function parseHead(buf: Buffer, start: number, headEnd: number, bodyStart: number, limits: SipParseLimits): Head {
  const s = buf.toString('latin1', start, headEnd);
  const n = s.length;
  let eol = s.indexOf('\n');
  if (eol < 0) eol = n;
  const sl = s.slice(0, eol > 0 && s.charCodeAt(eol - 1) === 13 ? eol - 1 : eol);
  if (sl.length > limits.maxHeaderLength) return headFail('HEADER_TOO_LONG', 'start line too long');

  // ---- start line
  let isRequest: boolean;
  let method = '';
  let uriRaw = '';
  let status = 0;
  let reason = '';
  let version: string;
  const sp1 = sl.indexOf(' ');
  if (sp1 <= 0) return headFail('BAD_START_LINE', 'malformed start line');
  const first = sl.slice(0, sp1);
  if (looksLikeVersion(first)) {
    isRequest = false;
    version = first;
    if (!isSipVersion(version)) return headFail('BAD_VERSION', 'SIP version not supported');
    let sp2 = sl.indexOf(' ', sp1 + 1);
    if (sp2 < 0) sp2 = sl.length;
    const code = sl.slice(sp1 + 1, sp2);
    status = code.length === 3 ? parseUint(code, 699) : -1;
    if (status < 100) return headFail('BAD_STATUS_CODE', 'bad status code');
    reason = sl.slice(sp2 + 1);
  } else {
    isRequest = true;
    method = first;
    for (let i = 0; i < method.length; i++) if (TOKEN[method.charCodeAt(i)] !== 1) return headFail('BAD_METHOD', 'bad method');
    const sp2 = sl.indexOf(' ', sp1 + 1);
    if (sp2 < 0) return headFail('BAD_START_LINE', 'malformed request line');
    uriRaw = sl.slice(sp1 + 1, sp2);
    version = sl.slice(sp2 + 1);
    if (uriRaw.length === 0 || version.indexOf(' ') >= 0 || version.length === 0)
      return headFail('BAD_START_LINE', 'malformed request line');
    if (!isSipVersion(version)) {
      return looksLikeVersion(version)
        ? headFail('BAD_VERSION', 'SIP version not supported')
        : headFail('BAD_START_LINE', 'malformed request line');
    }
  }

  // ---- header lines (scanned on the Buffer: typed-array reads are cheaper than charCodeAt; s[k] === buf[o + k])
  const o = start;
  const headers: SipHeader[] = [];
  const offs: number[] = [];
  let pos = eol + 1;
  let viaFirst = -1;
  let nVia = 0;
  // where the Via values are: source string and [a, b) for each line
  const viaSrc: string[] = [];
  const viaAt: number[] = [];
  let fromS = '';
  let fromA = 0;
  let fromB = -1;
  let toS = '';
  let toA = 0;
  let toB = -1;
  let fromV: string | undefined;
  let toV: string | undefined;
  let callIdV: string | undefined;
  let cseqV: string | undefined;
  let mfV: string | undefined;
  let clV: string | undefined;
  let dup: string | undefined;
  const maxLen = limits.maxHeaderLength;
  while (pos < n) {
    eol = s.indexOf('\n', pos);
    if (eol < 0) eol = n;
    let le = eol > pos && buf[o + eol - 1] === 13 ? eol - 1 : eol;
    if (le - pos > maxLen) return headFail('HEADER_TOO_LONG', 'header line too long');
    const next = eol + 1;
    let name: string;
    let value: string;
    let key: string;
    let src: string;
    let va: number;
    let vb: number;
    if (next < n && (buf[o + next] === 0x20 || buf[o + next] === 0x09)) {
      // folded: join the continuation lines with single spaces (RFC 3261 7.3.1)
      let line = s.slice(pos, le);
      pos = next;
      while (pos < n) {
        const c = buf[o + pos];
        if (c !== 0x20 && c !== 0x09) break;
        eol = s.indexOf('\n', pos);
        if (eol < 0) eol = n;
        le = eol > pos && buf[o + eol - 1] === 13 ? eol - 1 : eol;
        const cont = trimLws(s.slice(pos, le));
        line = cont.length > 0 ? trimLws(line) + ' ' + cont : line;
        if (line.length > maxLen) return headFail('HEADER_TOO_LONG', 'header line too long');
        pos = eol + 1;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) return headFail('BAD_HEADER_LINE', 'header line without name and colon');
      let ne = colon;
      while (ne > 0 && (line.charCodeAt(ne - 1) === 0x20 || line.charCodeAt(ne - 1) === 0x09)) ne--;
      if (ne === 0) return headFail('BAD_HEADER_LINE', 'empty header name');
      for (let i = 0; i < ne; i++) if (TOKEN[line.charCodeAt(i)] !== 1) return headFail('BAD_HEADER_LINE', 'bad header name');
      name = line.slice(0, ne);
      value = trimLws(line.slice(colon + 1));
      key = headerKey(name);
      src = value;
      va = 0;
      vb = value.length;
    } else {
      if (le === pos) {
        pos = next;
        continue;
      }
      // fast path: name and value sliced straight out of the header block
      let i = pos;
      for (; i < le; i++) {
        const c = buf[o + i];
        if (c === 0x3a || c === 0x20 || c === 0x09) break;
      }
      if (i === pos) return headFail('BAD_HEADER_LINE', 'bad header name');
      const ne = i;
      while (i < le && (buf[o + i] === 0x20 || buf[o + i] === 0x09)) i++;
      if (i >= le || buf[o + i] !== 0x3a) return headFail('BAD_HEADER_LINE', 'header line without name and colon');
      i++;
      while (i < le && (buf[o + i] === 0x20 || buf[o + i] === 0x09)) i++;
      let ve = le;
      while (ve > i && (buf[o + ve - 1] === 0x20 || buf[o + ve - 1] === 0x09)) ve--;
      value = s.slice(i, ve);
      src = s;
      va = i;
      vb = ve;
      const known = lookupHeaderName(s, pos, ne);
      if (known !== undefined) {
        name = known.name;
        key = known.key;
      } else {
        for (let k = pos; k < ne; k++) if (TOKEN[buf[o + k]] !== 1) return headFail('BAD_HEADER_LINE', 'bad header name');
        name = s.slice(pos, ne);
        key = headerKey(name);
      }
      pos = next;
    }
    if (headers.length >= limits.maxHeaders) return headFail('TOO_MANY_HEADERS', 'too many header fields');
    switch (key) {
      case 'via':
        if (viaFirst < 0) viaFirst = headers.length;
        nVia++;
        viaSrc.push(src);
        viaAt.push(va, vb);
        break;
      case 'from':
        if (fromV !== undefined) dup ??= 'from';
        fromV = value;
        fromS = src;
        fromA = va;
        fromB = vb;
        break;
      case 'to':
        if (toV !== undefined) dup ??= 'to';
        toV = value;
        toS = src;
        toA = va;
        toB = vb;
        break;
      case 'call-id':
        if (callIdV !== undefined) dup ??= 'call-id';
        callIdV = value;
        break;
      case 'cseq':
        if (cseqV !== undefined) dup ??= 'cseq';
        cseqV = value;
        break;
      case 'max-forwards':
        if (mfV !== undefined) dup ??= 'max-forwards';
        mfV = value;
        break;
      case 'content-length':
        if (clV !== undefined && clV !== value) dup ??= 'content-length';
        clV = value;
        break;
    }
    headers.push({ name, key, value });
    if (src === s) offs.push(va, vb);
    else offs.push(-1, -1);
  }

  // ---- Content-Length first: the stream parser needs it even when something else is wrong
  let contentLength = -1;
  if (clV !== undefined) {
    contentLength = parseUint(clV, 0x7fffffff);
    if (contentLength < 0) return headFail('BAD_CONTENT_LENGTH', 'bad Content-Length', 'content-length');
  }
  if (dup === 'content-length') return headFail('BAD_CONTENT_LENGTH', 'conflicting Content-Length headers', 'content-length');

  const msg: SipMessage = isRequest ? new SipRequest(method, uriRaw, headers) : new SipResponse(status, reason, headers);
  msg.version = version;
  msg._src = s;
  msg._offs = offs;

  // ---- Via (all of them): checked now, parsed on first access
  if (nVia === 0) return failWith(msg, contentLength, bodyStart, 'MISSING_HEADER', 'missing Via', 'via');
  let viaErr: string | undefined;
  for (let v = 0; v < nVia && viaErr === undefined; v++) viaErr = checkViaList(viaSrc[v], viaAt[2 * v], viaAt[2 * v + 1]);
  if (viaErr !== undefined) return failWith(msg, contentLength, bodyStart, 'BAD_HEADER_VALUE', viaErr, 'via');

  // ---- CSeq, Call-ID, From, To presence
  let cseq: CSeq | undefined;
  if (cseqV !== undefined) {
    const r = parseCSeq(cseqV);
    if (r.ok) cseq = r.value;
  }
  // A response can be built when the Vias are good and Call-ID, CSeq, From and To are there to be copied.
  const canAnswer = isRequest && cseqV !== undefined && callIdV !== undefined && fromV !== undefined && toV !== undefined;
  if (cseqV === undefined) return failWith(msg, contentLength, bodyStart, 'MISSING_HEADER', 'missing CSeq', 'cseq');
  if (callIdV === undefined) return failWith(msg, contentLength, bodyStart, 'MISSING_HEADER', 'missing Call-ID', 'call-id');
  if (fromV === undefined) return failWith(msg, contentLength, bodyStart, 'MISSING_HEADER', 'missing From', 'from');
  if (toV === undefined) return failWith(msg, contentLength, bodyStart, 'MISSING_HEADER', 'missing To', 'to');
  if (dup !== undefined)
    return failWith(msg, contentLength, bodyStart, 'DUPLICATE_HEADER', 'more than one ' + dup + ' header', dup, canAnswer);
  if (cseq === undefined) return failWith(msg, contentLength, bodyStart, 'BAD_HEADER_VALUE', 'bad CSeq', 'cseq', canAnswer);
  msg._cseq = cseq;
  if (isRequest) {
    const ru = checkUri(uriRaw);
    if (ru === 0) {
      const r = parseUri(uriRaw);
      return failWith(
        msg,
        contentLength,
        bodyStart,
        'BAD_REQUEST_URI',
        'bad Request-URI: ' + (r.ok ? 'syntax' : r.error.reason),
        undefined,
        canAnswer,
      );
    }
    if ((ru & URI_HAS_HEADERS) !== 0)
      return failWith(msg, contentLength, bodyStart, 'BAD_REQUEST_URI', 'headers in Request-URI', undefined, canAnswer);
    if (cseq.method !== method)
      return failWith(
        msg,
        contentLength,
        bodyStart,
        'CSEQ_METHOD_MISMATCH',
        'CSeq method does not match request method',
        'cseq',
        canAnswer,
      );
  }
  if (!isValidCallId(callIdV)) return failWith(msg, contentLength, bodyStart, 'BAD_HEADER_VALUE', 'bad Call-ID', 'call-id', canAnswer);
  const fromErr = checkNameAddr(fromS, fromA, fromB);
  if (fromErr !== undefined) return failWith(msg, contentLength, bodyStart, 'BAD_HEADER_VALUE', 'bad From: ' + fromErr, 'from', canAnswer);
  const toErr = checkNameAddr(toS, toA, toB);
  if (toErr !== undefined) return failWith(msg, contentLength, bodyStart, 'BAD_HEADER_VALUE', 'bad To: ' + toErr, 'to', canAnswer);
  if (mfV !== undefined && parseUint(mfV, 255) < 0)
    return failWith(msg, contentLength, bodyStart, 'BAD_HEADER_VALUE', 'bad Max-Forwards', 'max-forwards', canAnswer);
  return { ok: true, msg, contentLength, bodyStart };
}

/** Find the end of the header section from `start`: index of the empty line and where the body begins; -1 when not found. */
function findHeadEnd(buf: Buffer, start: number, limit: number): { headEnd: number; bodyStart: number } | undefined {
  const end = Math.min(buf.length, limit);
  let i = buf.indexOf(CRLFCRLF, start);
  if (i >= 0) return { headEnd: i, bodyStart: i + 4 };
  // tolerate bare LF line ends
  i = buf.indexOf(0x0a, start);
  while (i >= 0 && i < end) {
    if (buf[i + 1] === 0x0a) return { headEnd: i, bodyStart: i + 2 };
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return { headEnd: buf[i - 1] === 0x0d ? i - 1 : i, bodyStart: i + 3 };
    i = buf.indexOf(0x0a, i + 1);
  }
  return undefined;
}

function skipCrlf(buf: Buffer, i: number): number {
  while (i < buf.length && (buf[i] === 0x0d || buf[i] === 0x0a)) i++;
  return i;
}

/**
 * Parse one SIP message from a datagram (UDP, or one WebSocket message). Leading CRLFs are skipped;
 * a datagram of only `\r\n\r\n` is a keep-alive ping and of only `\r\n` a pong (RFC 5626).
 * Without Content-Length the body is the rest of the datagram; with it, extra bytes are ignored.
 */
export function parseDatagram(buf: Buffer, limits: SipParseLimits = DEFAULT_SIP_LIMITS): DatagramResult {
  if (buf.length === 0) return { ok: false, error: perr('EMPTY', 'empty datagram') };
  if (buf.length > limits.maxMessageSize) return { ok: false, error: perr('MESSAGE_TOO_LARGE', 'message too large') };
  const start = skipCrlf(buf, 0);
  if (start === buf.length) {
    if (buf.length === 4 && buf[0] === 13 && buf[1] === 10 && buf[2] === 13) return { ok: true, kind: 'ping' };
    if (buf.length === 2 && buf[0] === 13) return { ok: true, kind: 'pong' };
    return { ok: false, error: perr('EMPTY', 'only line breaks') };
  }
  const he = findHeadEnd(buf, start, buf.length);
  let head: Head;
  if (he === undefined) {
    // No empty line: treat everything as headers (a message without body and without final CRLF).
    let end = buf.length;
    while (end > start && (buf[end - 1] === 0x0a || buf[end - 1] === 0x0d)) end--;
    head = parseHead(buf, start, end, buf.length, limits);
    if (head.ok && head.contentLength > 0)
      return { ok: false, error: perr('BODY_TRUNCATED', 'message ends before its body', 'content-length') };
  } else head = parseHead(buf, start, he.headEnd, he.bodyStart, limits);
  if (!head.ok) return { ok: false, error: head.error };
  const msg = head.msg;
  if (head.contentLength >= 0) {
    if (head.bodyStart + head.contentLength > buf.length) {
      const error = perr('BODY_TRUNCATED', 'Content-Length larger than the message', 'content-length');
      if (msg.kind === 'request') {
        error.responsePossible = true;
        error.request = msg;
      }
      return { ok: false, error };
    }
    if (head.contentLength > 0) msg.body = buf.subarray(head.bodyStart, head.bodyStart + head.contentLength);
  } else if (head.bodyStart < buf.length) msg.body = buf.subarray(head.bodyStart);
  return { ok: true, kind: 'message', value: msg };
}

/** Parse one complete message (Buffer or latin1/ASCII string); keep-alives are refused with EMPTY. */
export function parseMessage(input: Buffer | string, limits: SipParseLimits = DEFAULT_SIP_LIMITS): SipResult<SipMessage, SipParseError> {
  const r = parseDatagram(typeof input === 'string' ? Buffer.from(input, 'latin1') : input, limits);
  if (!r.ok) return r;
  if (r.kind !== 'message') return { ok: false, error: perr('EMPTY', 'keep-alive, not a message') };
  return { ok: true, value: r.value };
}

export type StreamEvent =
  { kind: 'message'; value: SipMessage } | { kind: 'ping' } | { kind: 'pong' } | { kind: 'error'; error: SipParseError };

/**
 * Frames SIP messages out of a byte stream (TCP, TLS) by Content-Length, which is mandatory there.
 * Between messages `\r\n\r\n` is reported as a ping and a lone `\r\n` as a pong (RFC 5626 section 4.4.1).
 * A message that is malformed but framed (known Content-Length) yields a non-fatal error and parsing goes on;
 * when framing is lost the error is `fatal` and the parser refuses further input: close the connection.
 */
export class SipStreamParser {
  private buf: Buffer = Buffer.alloc(0);
  private scanned = 0;
  private dead = false;
  private pending: { head: Head; bodyStart: number; end: number } | undefined = undefined;
  private readonly limits: SipParseLimits;

  constructor(limits: Partial<SipParseLimits> = {}) {
    this.limits = { ...DEFAULT_SIP_LIMITS, ...limits };
  }

  /** True after a fatal error. */
  get failed(): boolean {
    return this.dead;
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.buf.length;
  }

  /** Feed bytes; returns what they completed, in order. */
  push(chunk: Buffer): StreamEvent[] {
    const out: StreamEvent[] = [];
    if (this.dead) {
      out.push({ kind: 'error', error: { ...perr('STREAM_FAILED', 'stream already failed'), fatal: true } });
      return out;
    }
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let buf = this.buf;
    let pos = 0;
    const limits = this.limits;
    for (;;) {
      const pending = this.pending;
      if (pending !== undefined) {
        // head already parsed, waiting for the body (a pending message always starts at 0)
        if (buf.length < pending.end) break;
        this.pending = undefined;
        this.emit(out, pending.head, buf, pending.bodyStart, pending.end);
        pos = pending.end;
        continue;
      }
      if (pos >= buf.length) break;
      // keep-alives and stray line breaks between messages
      if (buf[pos] === 0x0d || buf[pos] === 0x0a) {
        if (buf[pos] === 0x0d && buf[pos + 1] === 0x0a) {
          if (pos + 2 >= buf.length) {
            out.push({ kind: 'pong' });
            pos += 2;
            continue;
          }
          if (buf[pos + 2] === 0x0d) {
            if (pos + 3 >= buf.length) break; // wait: ping or pong + something
            if (buf[pos + 3] === 0x0a) {
              out.push({ kind: 'ping' });
              pos += 4;
              continue;
            }
          }
          out.push({ kind: 'pong' });
          pos += 2;
          continue;
        }
        if (buf[pos] === 0x0d && pos + 1 >= buf.length) break;
        pos++;
        continue;
      }
      const from = Math.max(pos, this.scanned - 3);
      const he = findHeadEnd(buf, from, pos + limits.maxMessageSize);
      if (he === undefined) {
        if (buf.length - pos > limits.maxMessageSize) {
          this.fail(out, 'MESSAGE_TOO_LARGE', 'header section too large');
          return out;
        }
        this.scanned = buf.length;
        break;
      }
      if (he.headEnd - pos > limits.maxMessageSize) {
        this.fail(out, 'MESSAGE_TOO_LARGE', 'header section too large');
        return out;
      }
      const head = parseHead(buf, pos, he.headEnd, he.bodyStart, limits);
      if (head.contentLength < 0) {
        if (head.ok) this.fail(out, 'MISSING_HEADER', 'Content-Length is mandatory on stream transports', 'content-length');
        else {
          out.push({ kind: 'error', error: { ...head.error, fatal: true } });
          this.stop();
        }
        return out;
      }
      const end = he.bodyStart + head.contentLength;
      if (end - pos > limits.maxMessageSize) {
        this.fail(out, 'MESSAGE_TOO_LARGE', 'message too large');
        return out;
      }
      this.scanned = 0;
      if (end > buf.length) {
        // wait for the body without parsing the head again
        this.pending = { head, bodyStart: he.bodyStart - pos, end: end - pos };
        break;
      }
      this.emit(out, head, buf, he.bodyStart, end);
      pos = end;
    }
    if (pos > 0) {
      buf = pos >= buf.length ? Buffer.alloc(0) : buf.subarray(pos);
      this.scanned = Math.max(0, this.scanned - pos);
    }
    this.buf = buf;
    return out;
  }

  private emit(out: StreamEvent[], head: Head, buf: Buffer, bodyStart: number, end: number): void {
    if (head.ok) {
      if (end > bodyStart) head.msg.body = buf.subarray(bodyStart, end);
      out.push({ kind: 'message', value: head.msg });
    } else out.push({ kind: 'error', error: head.error });
  }

  private stop(): void {
    this.pending = undefined;
    this.dead = true;
    this.buf = Buffer.alloc(0);
  }

  private fail(out: StreamEvent[], code: SipErrorCode, reason: string, header?: string): void {
    out.push({ kind: 'error', error: { ...perr(code, reason, header), fatal: true } });
    this.stop();
  }
}
