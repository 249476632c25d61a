/**
 * Values of WWW-Authenticate, Proxy-Authenticate, Authorization and Proxy-Authorization
 * (RFC 3261 section 25.1, RFC 7235 section 2.1): `scheme` followed by comma-separated
 * `name=token` / `name="quoted string"` parameters (or a token68). Linear whitespace, line
 * folding and backslash escapes are accepted. One value may carry several challenges.
 * Never throws.
 */
import { fail, ok, type AuthResult } from './result';

export interface AuthParam {
  /** As written; compare case-insensitively (see `getAuthParam`). */
  readonly name: string;
  /** Unescaped value. */
  readonly value: string;
  /** Whether the value was (or is to be) written as a quoted string. */
  readonly quoted: boolean;
}

export interface AuthHeaderValue {
  readonly scheme: string;
  readonly params: readonly AuthParam[];
  /** The token68 form (e.g. Basic), instead of params. */
  readonly token68?: string;
}

export type AuthHeaderErrorCode = 'too-large' | 'malformed-header';

export interface AuthHeaderLimits {
  /** Longest accepted header value, in characters (default 8192). */
  readonly maxLength?: number;
  /** Most parameters accepted over all challenges of one value (default 64). */
  readonly maxParams?: number;
}

export const AUTH_HEADER_DEFAULT_MAX_LENGTH = 8192;
export const AUTH_HEADER_DEFAULT_MAX_PARAMS = 64;

export function isTchar(c: number): boolean {
  // RFC 7230 tchar / RFC 3261 token: ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x27) ||
    c === 0x2a ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e
  );
}

function isToken68Char(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e || c === 0x2b || c === 0x2f;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

class Cursor {
  pos = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): number {
    return this.s.charCodeAt(this.pos);
  }
  skipWs(): boolean {
    const start = this.pos;
    while (this.pos < this.s.length && isWs(this.s.charCodeAt(this.pos))) this.pos++;
    return this.pos > start;
  }
  token(): string {
    const start = this.pos;
    while (this.pos < this.s.length && isTchar(this.s.charCodeAt(this.pos))) this.pos++;
    return this.s.slice(start, this.pos);
  }
  /** At a DQUOTE: reads the quoted string, returns its unescaped content or undefined. */
  quoted(): string | undefined {
    this.pos++; // opening quote
    let out = '';
    let runStart = this.pos;
    while (this.pos < this.s.length) {
      const c = this.s.charCodeAt(this.pos);
      if (c === 0x22) {
        out += this.s.slice(runStart, this.pos);
        this.pos++;
        return out;
      }
      if (c === 0x5c) {
        out += this.s.slice(runStart, this.pos);
        const next = this.s.charCodeAt(this.pos + 1);
        if (Number.isNaN(next) || next === 0x0d || next === 0x0a) return undefined;
        out += this.s[this.pos + 1];
        this.pos += 2;
        runStart = this.pos;
        continue;
      }
      if (c === 0x0d || c === 0x0a) {
        // Line folding inside a quoted string: the CRLF goes, the following whitespace stays.
        out += this.s.slice(runStart, this.pos);
        this.pos++;
        runStart = this.pos;
        continue;
      }
      if (c === 0x00 || c === 0x7f || (c < 0x20 && c !== 0x09)) return undefined;
      this.pos++;
    }
    return undefined; // unterminated
  }
}

/**
 * Parses one header value into its challenges or credentials. A SIP header normally
 * carries exactly one; HTTP allows `Digest ..., Basic ...` in one value.
 */
export function parseAuthHeader(value: string, limits: AuthHeaderLimits = {}): AuthResult<AuthHeaderValue[], AuthHeaderErrorCode> {
  const maxLength = limits.maxLength ?? AUTH_HEADER_DEFAULT_MAX_LENGTH;
  const maxParams = limits.maxParams ?? AUTH_HEADER_DEFAULT_MAX_PARAMS;
  if (value.length > maxLength) return fail('too-large', `header value longer than ${maxLength}`);
  const c = new Cursor(value);
  const out: { scheme: string; params: AuthParam[]; token68?: string }[] = [];
  let paramCount = 0;
  c.skipWs();
  // Leading empty list elements (`, Digest ...`) are allowed by the #rule.
  while (!c.done && c.peek() === 0x2c) {
    c.pos++;
    c.skipWs();
  }
  if (c.done) return fail('malformed-header', 'empty header value');
  let current: { scheme: string; params: AuthParam[]; token68?: string } | undefined;
  while (!c.done) {
    // Either a new scheme, or a parameter of the current one.
    const itemStart = c.pos;
    const name = c.token();
    if (name === '') return fail('malformed-header', `unexpected character at ${c.pos}`);
    const afterName = c.pos;
    c.skipWs();
    if (current !== undefined && !c.done && c.peek() === 0x3d) {
      // name = value
      c.pos++;
      c.skipWs();
      if (c.done) return fail('malformed-header', `missing value of ${name}`);
      let v: string | undefined;
      let quoted = false;
      if (c.peek() === 0x22) {
        v = c.quoted();
        quoted = true;
        if (v === undefined) return fail('malformed-header', `bad quoted string in ${name}`);
      } else {
        v = c.token();
        if (v === '') return fail('malformed-header', `missing value of ${name}`);
      }
      if (++paramCount > maxParams) return fail('too-large', `more than ${maxParams} parameters`);
      current.params.push({ name, value: v, quoted });
    } else {
      // A scheme: must be followed by whitespace (then params / token68), a comma, or the end.
      c.pos = afterName;
      current = { scheme: name, params: [] };
      out.push(current);
      if (!c.skipWs() && !c.done && c.peek() !== 0x2c) return fail('malformed-header', `bad scheme at ${itemStart}`);
      if (!c.done && c.peek() !== 0x2c) {
        // The first parameter (`name = token / quoted-string`) or a token68.
        const first = c.pos;
        c.token();
        c.skipWs();
        if (!c.done && c.peek() === 0x3d) {
          c.pos++;
          c.skipWs();
          if (!c.done && (c.peek() === 0x22 || isTchar(c.peek()))) {
            c.pos = first;
            continue; // parsed as a parameter by the loop
          }
        }
        c.pos = first;
        while (!c.done && isToken68Char(c.peek())) c.pos++;
        if (c.pos === first) return fail('malformed-header', `unexpected character at ${c.pos}`);
        while (!c.done && c.peek() === 0x3d) c.pos++;
        current.token68 = value.slice(first, c.pos);
      }
    }
    // Separator: comma(s) or end.
    c.skipWs();
    if (c.done) break;
    if (c.peek() !== 0x2c) return fail('malformed-header', `expected ',' at ${c.pos}`);
    while (!c.done && c.peek() === 0x2c) {
      c.pos++;
      c.skipWs();
    }
  }
  return ok(out);
}

/** Case-insensitive parameter lookup; the first occurrence wins. */
export function getAuthParam(h: AuthHeaderValue, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const p of h.params) if (p.name.toLowerCase() === lower) return p.value;
  return undefined;
}

/** A quoted string with `"` and `\` escaped; control characters (CR, LF, NUL...) are dropped. */
export function quoteAuthString(v: string): string {
  let plain = true;
  for (let i = 0; i < v.length && plain; i++) {
    const c = v.charCodeAt(i);
    plain = !((c < 0x20 && c !== 0x09) || c === 0x7f || c === 0x22 || c === 0x5c);
  }
  if (plain) return `"${v}"`;
  // eslint-disable-next-line no-control-regex
  return `"${v.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '').replace(/(["\\])/g, '\\$1')}"`;
}

function isToken(v: string): boolean {
  if (v === '') return false;
  for (let i = 0; i < v.length; i++) if (!isTchar(v.charCodeAt(i))) return false;
  return true;
}

/** A token parameter's value as written: itself, or quoted when it is not a valid token. */
export function tokenOrQuoted(v: string): string {
  return isToken(v) ? v : quoteAuthString(v);
}

/** Writes `Scheme name="v", name=token, ...`. A token value that is not a valid token is quoted. */
export function serializeAuthHeader(h: AuthHeaderValue): string {
  if (h.token68 !== undefined) return `${h.scheme} ${h.token68}`;
  if (h.params.length === 0) return h.scheme;
  const parts = h.params.map((p) => `${p.name}=${p.quoted || !isToken(p.value) ? quoteAuthString(p.value) : p.value}`);
  return `${h.scheme} ${parts.join(', ')}`;
}
