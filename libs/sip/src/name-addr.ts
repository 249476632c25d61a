import { TOKEN } from './chars';
import { SipResult, fail, ok } from './errors';
import { Params, formatParams, parseParamsInto, quote, quotedEnd, skipLws, unquote } from './params';
import { Uri, formatUri, parseUri } from './uri';

/** name-addr or addr-spec with header parameters (From, To, Contact, Route, Record-Route, Path ...). */
export interface NameAddr {
  /** Display name, unquoted and unescaped; undefined when absent. */
  displayName?: string;
  uri: Uri;
  /** Header parameters (after the URI) by lower-case name, values as written (quoted-strings keep quotes). */
  params: Params;
}

function collapseLws(s: string): string {
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

/** Parse `[display-name] <URI> *(;param)` or `addr-spec *(;param)`. Never throws. */
export function parseNameAddr(s: string): SipResult<NameAddr> {
  const n = s.length;
  let i = skipLws(s, 0);
  if (i >= n) return fail('BAD_HEADER_VALUE', 'empty address');
  let displayName: string | undefined;
  let c = s.charCodeAt(i);
  if (c === 0x22) {
    const e = quotedEnd(s, i);
    if (e < 0) return fail('BAD_HEADER_VALUE', 'unterminated quoted string in display name');
    displayName = unquote(s.slice(i, e));
    i = skipLws(s, e);
    if (i >= n || s.charCodeAt(i) !== 0x3c) return fail('BAD_HEADER_VALUE', 'quoted display name without <URI>');
  } else if (c !== 0x3c) {
    // Either display-name tokens followed by '<', or an addr-spec.
    const lt = s.indexOf('<', i);
    if (lt >= 0) {
      let tokens = true;
      for (let k = i; k < lt; k++) {
        const d = s.charCodeAt(k);
        if (TOKEN[d] !== 1 && d !== 0x20 && d !== 0x09 && d !== 0x0d && d !== 0x0a) {
          tokens = false;
          break;
        }
      }
      if (tokens) {
        displayName = collapseLws(s.slice(i, lt));
        i = lt;
      } else if (s.indexOf(':', i) < lt) {
        // looks like an addr-spec that is followed by a '<' somewhere in its parameters
        return parseAddrSpec(s, i);
      } else return fail('BAD_HEADER_VALUE', 'display name with characters that need quoting');
    } else return parseAddrSpec(s, i);
  }
  // s[i] === '<'
  const gt = s.indexOf('>', i + 1);
  if (gt < 0) return fail('BAD_HEADER_VALUE', 'missing > after URI');
  const u = parseUri(s.slice(i + 1, gt));
  if (!u.ok) return fail('BAD_HEADER_VALUE', u.error.reason);
  const params: Params = new Map();
  if (!parseParamsInto(s, gt + 1, params)) return fail('BAD_HEADER_VALUE', 'bad header parameter');
  return ok(displayName === undefined ? { uri: u.value, params } : { displayName, uri: u.value, params });
}

function parseAddrSpec(s: string, i: number): SipResult<NameAddr> {
  let end = s.indexOf(';', i);
  if (end < 0) end = s.length;
  let e = end;
  while (e > i && (s.charCodeAt(e - 1) === 0x20 || s.charCodeAt(e - 1) === 0x09)) e--;
  const us = s.slice(i, e);
  if (us.indexOf('?') >= 0 || us.indexOf(',') >= 0) return fail('BAD_HEADER_VALUE', 'URI with ? or , must be enclosed in <>');
  const u = parseUri(us);
  if (!u.ok) return fail('BAD_HEADER_VALUE', u.error.reason);
  const params: Params = new Map();
  if (!parseParamsInto(s, end, params)) return fail('BAD_HEADER_VALUE', 'bad header parameter');
  return ok({ uri: u.value, params });
}

function displayNeedsQuotes(d: string): boolean {
  if (d.length === 0) return true;
  for (let i = 0; i < d.length; i++) {
    const c = d.charCodeAt(i);
    if (TOKEN[c] !== 1 && c !== 0x20) return true;
  }
  return d.charCodeAt(0) === 0x20 || d.charCodeAt(d.length - 1) === 0x20 || d.indexOf('  ') >= 0;
}

/** Serialise as name-addr (always with <>, which is always valid). */
export function formatNameAddr(na: NameAddr): string {
  let out = '';
  if (na.displayName !== undefined) out = (displayNeedsQuotes(na.displayName) ? quote(na.displayName) : na.displayName) + ' ';
  return out + '<' + formatUri(na.uri) + '>' + formatParams(na.params);
}
