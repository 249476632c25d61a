import { TOKEN } from './chars';

/** Parameters by lower-case name, in order of appearance; `null` for a parameter without a value. */
export type Params = Map<string, string | null>;

export function skipLws(s: string, i: number, n = s.length): number {
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) break;
    i++;
  }
  return i;
}

/** Index just past the quoted-string starting at s[i] === '"', or -1 when it is not terminated. */
export function quotedEnd(s: string, i: number, n = s.length): number {
  // fast path: the next quote is not preceded by any backslash inside the string
  const q = s.indexOf('"', i + 1);
  if (q < 0 || q >= n) return -1;
  const bs = s.indexOf('\\', i + 1);
  if (bs < 0 || bs > q) return q + 1;
  for (i++; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
  return -1;
}

/** Remove the quotes and quoted-pair escapes of a quoted-string; other values are returned unchanged. */
export function unquote(v: string): string {
  if (v.length < 2 || v.charCodeAt(0) !== 0x22 || v.charCodeAt(v.length - 1) !== 0x22) return v;
  const inner = v.slice(1, -1);
  if (inner.indexOf('\\') < 0) return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '\\' && i + 1 < inner.length) {
      out += inner[i + 1];
      i++;
    } else out += c;
  }
  return out;
}

/** Make a quoted-string of any text. */
export function quote(v: string): string {
  let out = '"';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '"' || c === '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

function isGenValueChar(c: number): boolean {
  return TOKEN[c] === 1 || c === 0x3a || c === 0x5b || c === 0x5d; // token, or host (IPv6 reference)
}

/**
 * Parse `*( SEMI generic-param )` from s[i, n); names are lower-cased, values kept as written
 * (quoted-strings keep their quotes). With `out` null it only checks. Returns false when the text is not a parameter list.
 */
export function parseParamsInto(s: string, i: number, out: Params | null, n = s.length): boolean {
  return parseParamsAt(s, i, out, n) === n;
}

/**
 * Like parseParamsInto, but stops at the first character that cannot continue the list and returns its index
 * (n when everything was consumed), or -1 when a parameter is malformed.
 */
export function parseParamsAt(s: string, i: number, out: Params | null, n = s.length): number {
  for (;;) {
    i = skipLws(s, i, n);
    if (i >= n) return n;
    if (s.charCodeAt(i) !== 0x3b) return i;
    i = skipLws(s, i + 1, n);
    let a = i;
    let lower = true;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (TOKEN[c] !== 1) break;
      if (c >= 0x41 && c <= 0x5a) lower = false;
    }
    if (i === a) return -1;
    const name = out === null ? '' : lower ? s.slice(a, i) : s.slice(a, i).toLowerCase();
    i = skipLws(s, i, n);
    if (i < n && s.charCodeAt(i) === 0x3d) {
      i = skipLws(s, i + 1, n);
      if (i < n && s.charCodeAt(i) === 0x22) {
        const e = quotedEnd(s, i, n);
        if (e < 0) return -1;
        if (out !== null) out.set(name, s.slice(i, e));
        i = e;
      } else {
        a = i;
        while (i < n && isGenValueChar(s.charCodeAt(i))) i++;
        if (i === a) return -1;
        if (out !== null) out.set(name, s.slice(a, i));
      }
    } else if (out !== null) out.set(name, null);
  }
}

export function formatParams(params: Params): string {
  if (params.size === 0) return '';
  let out = '';
  for (const [k, v] of params) out += v === null ? ';' + k : ';' + k + '=' + v;
  return out;
}
