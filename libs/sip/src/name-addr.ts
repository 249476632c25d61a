import { TOKEN } from './chars';
import { SipResult, fail, ok } from './errors';
import { Params, formatParams, parseParamsInto, quote, quotedEnd, skipLws, unquote } from './params';
import { Uri, checkUri, formatUri, parseUri } from './uri';

/** name-addr or addr-spec with header parameters (From, To, Contact, Route, Record-Route, Path ...). */
export interface NameAddr {
  /** Display name, unquoted and unescaped; undefined when absent. */
  displayName?: string;
  uri: Uri;
  /** Header parameters (after the URI) by lower-case name, values as written (quoted-strings keep quotes). */
  params: Params;
}

/** A NameAddr whose URI is parsed on first access (it was syntax-checked when the value was read). */
class LazyNameAddr implements NameAddr {
  displayName: string | undefined;
  params: Params;
  private src: string;
  private a: number;
  private b: number;
  private parsed: Uri | undefined;

  constructor(displayName: string | undefined, src: string, a: number, b: number, params: Params) {
    this.displayName = displayName;
    this.src = src;
    this.a = a;
    this.b = b;
    this.params = params;
    this.parsed = undefined;
  }

  get uri(): Uri {
    if (this.parsed === undefined) {
      const r = parseUri(this.src, this.a, this.b);
      this.parsed = r.ok ? r.value : { kind: 'other', scheme: '', opaque: this.src.slice(this.a, this.b) };
    }
    return this.parsed;
  }

  set uri(u: Uri) {
    this.parsed = u;
  }
}

function collapseLws(s: string): string {
  let simple = s.length > 0 && s.charCodeAt(s.length - 1) !== 0x20;
  let prevSp = true;
  for (let i = 0; simple && i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20) {
      if (prevSp) simple = false;
      prevSp = true;
    } else if (c === 0x09 || c === 0x0d || c === 0x0a) simple = false;
    else prevSp = false;
  }
  if (simple) return s;
  let out = '';
  let sp = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) sp = out.length > 0;
    else {
      if (sp) out += ' ';
      sp = false;
      out += s[i];
    }
  }
  return out;
}

interface Parts {
  /** check the URI syntax here (check mode and lazy mode); otherwise the caller parses it */
  checkUri: boolean;
  displayName: string | undefined;
  uriStart: number;
  uriEnd: number;
  params: Params | null;
}

/** The grammar of name-addr / addr-spec with params over s[0, n); fills `out` when given. Returns an error reason or undefined. */
function nameAddrCore(s: string, a: number, n: number, out: Parts): string | undefined {
  let i = skipLws(s, a, n);
  if (i >= n) return 'empty address';
  const c = s.charCodeAt(i);
  if (c === 0x22) {
    const e = quotedEnd(s, i, n);
    if (e < 0) return 'unterminated quoted string in display name';
    if (out.params !== null) out.displayName = unquote(s.slice(i, e));
    i = skipLws(s, e, n);
    if (i >= n || s.charCodeAt(i) !== 0x3c) return 'quoted display name without <URI>';
  } else if (c !== 0x3c) {
    // Either display-name tokens followed by '<', or an addr-spec.
    let lt = s.indexOf('<', i);
    if (lt >= n) lt = -1;
    let tokens = lt >= 0;
    for (let k = i; tokens && k < lt; k++) {
      const d = s.charCodeAt(k);
      if (TOKEN[d] !== 1 && d !== 0x20 && d !== 0x09 && d !== 0x0d && d !== 0x0a) tokens = false;
    }
    if (tokens) {
      if (out.params !== null) out.displayName = collapseLws(s.slice(i, lt));
      i = lt;
    } else {
      const colon = s.indexOf(':', i);
      if (lt >= 0 && !(colon >= 0 && colon < lt)) return 'display name with characters that need quoting';
      // addr-spec: the URI runs to the first ';', the rest are header parameters
      let end = s.indexOf(';', i);
      if (end < 0 || end > n) end = n;
      let e = end;
      while (e > i && (s.charCodeAt(e - 1) === 0x20 || s.charCodeAt(e - 1) === 0x09)) e--;
      for (let k = i; k < e; k++) {
        const d = s.charCodeAt(k);
        if (d === 0x3f || d === 0x2c) return 'URI with ? or , must be enclosed in <>';
      }
      if (out.checkUri && checkUri(s, i, e) === 0) return 'bad URI';
      out.uriStart = i;
      out.uriEnd = e;
      return parseParamsInto(s, end, out.params, n) ? undefined : 'bad header parameter';
    }
  }
  // s[i] === '<'
  let gt = s.indexOf('>', i + 1);
  if (gt >= n) gt = -1;
  if (gt < 0) return 'missing > after URI';
  if (out.checkUri && checkUri(s, i + 1, gt) === 0) return 'bad URI';
  out.uriStart = i + 1;
  out.uriEnd = gt;
  return gt + 1 >= n || parseParamsInto(s, gt + 1, out.params, n) ? undefined : 'bad header parameter';
}

/** Syntax check of a name-addr / addr-spec header value; undefined when good, else the reason. Agrees with parseNameAddr. */
export function checkNameAddr(s: string, a = 0, n = s.length): string | undefined {
  return nameAddrCore(s, a, n, { checkUri: true, displayName: undefined, uriStart: 0, uriEnd: 0, params: null });
}

/**
 * Parse `[display-name] <URI> *(;param)` or `addr-spec *(;param)` from s[a, n). Never throws.
 * With lazyUri the URI is only syntax-checked now and parsed when `uri` is first read.
 */
export function parseNameAddr(s: string, lazyUri = false, a = 0, n = s.length): SipResult<NameAddr> {
  const parts: Parts = { checkUri: lazyUri, displayName: undefined, uriStart: 0, uriEnd: 0, params: new Map() };
  const err = nameAddrCore(s, a, n, parts);
  if (err !== undefined) return fail('BAD_HEADER_VALUE', err);
  const params = parts.params as Params;
  if (lazyUri) return ok(new LazyNameAddr(parts.displayName, s, parts.uriStart, parts.uriEnd, params));
  const u = parseUri(s, parts.uriStart, parts.uriEnd);
  if (!u.ok) return fail('BAD_HEADER_VALUE', u.error.reason);
  return ok({ displayName: parts.displayName, uri: u.value, params });
}

function displayNeedsQuotes(d: string): boolean {
  if (d.length === 0) return true;
  for (let i = 0; i < d.length; i++) {
    const c = d.charCodeAt(i);
    if (TOKEN[c] !== 1 && c !== 0x20) return true;
  }
  return d.charCodeAt(0) === 0x20 || d.charCodeAt(d.length - 1) === 0x20 || d.indexOf('  ') >= 0;
}

/** A display name as written on the wire: as tokens when it can be, else quoted. */
export function formatDisplayName(d: string): string {
  return displayNeedsQuotes(d) ? quote(d) : d;
}

/** Serialise as name-addr (always with <>, which is always valid). */
export function formatNameAddr(na: NameAddr): string {
  let out = '';
  if (na.displayName !== undefined) out = formatDisplayName(na.displayName) + ' ';
  return out + '<' + formatUri(na.uri) + '>' + formatParams(na.params);
}
