// Character classes of RFC 3261 section 25, as lookup tables over byte values (strings are latin1 byte strings).

function table(chars: string, alnum = true): Uint8Array {
  const t = new Uint8Array(256);
  if (alnum) {
    for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
    for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
    for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  }
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = table("-.!%*_+`'~");
/** word: token characters plus ( ) < > : \ " / [ ] ? { } */
export const WORD = table('-.!%*_+`\'~()<>:\\"/[]?{}');
const MARK = "-_.!~*'()";
/** unreserved = alphanum / mark */
export const UNRESERVED = table(MARK);
/** user = 1*( unreserved / escaped / user-unreserved ) */
export const USER = table(MARK + '&=+$,;?/');
/** password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ) */
export const PASSWORD = table(MARK + '&=+$,');
/** paramchar = param-unreserved / unreserved / escaped */
export const PARAMCHAR = table(MARK + '[]/:&+$');
/** hname / hvalue characters */
export const HNV = table(MARK + '[]/?:+$');
/** domain / IPv4 host characters; IPv6 references are checked apart. */
export const HOSTCHAR = table('-.');
/** characters allowed in a tel URI after the scheme (lenient superset of RFC 3966). */
export const TELCHAR = table("-.()+*#;=%!~_'&$,/:[]?");

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TOKEN[s.charCodeAt(i)] !== 1) return false;
  return true;
}

export function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** Trim SP and HTAB only (String#trim would also eat 0xA0, a UTF-8 continuation byte in latin1 form). */
export function trimLws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b) {
    const c = s.charCodeAt(a);
    if (c !== 0x20 && c !== 0x09) break;
    a++;
  }
  while (b > a) {
    const c = s.charCodeAt(b - 1);
    if (c !== 0x20 && c !== 0x09) break;
    b--;
  }
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

export function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** Parse a non-negative decimal integer of at most maxDigits digits (leading zeros allowed); -1 when invalid. */
export function parseUint(s: string, max: number): number {
  const n = s.length;
  if (n === 0) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
    if (v > max) return -1;
  }
  return v;
}

/** parseUint over s[a, b) without slicing. */
export function parseUintAt(s: string, a: number, b: number, max: number): number {
  if (b <= a) return -1;
  let v = 0;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
    if (v > max) return -1;
  }
  return v;
}

const HEX = '0123456789ABCDEF';

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Decode %XX escapes; undefined when an escape is malformed. */
export function unescapePct(s: string): string | undefined {
  let i = s.indexOf('%');
  if (i < 0) return s;
  let out = s.slice(0, i);
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= s.length) return undefined;
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h < 0 || l < 0) return undefined;
      out += String.fromCharCode(h * 16 + l);
      i += 3;
    } else {
      out += s[i];
      i++;
    }
  }
  return out;
}

/** Escape every character not allowed by the table. */
export function escapePct(s: string, allowed: Uint8Array): string {
  let i = 0;
  const n = s.length;
  while (i < n && allowed[s.charCodeAt(i)] === 1) i++;
  if (i === n) return s;
  let out = s.slice(0, i);
  for (; i < n; i++) {
    const c = s.charCodeAt(i) & 0xff;
    if (allowed[c] === 1) out += s[i];
    else out += '%' + HEX[c >> 4] + HEX[c & 15];
  }
  return out;
}

/** Check that a raw (escaped) component only holds allowed characters and well-formed escapes. */
export function validEscaped(s: string, allowed: Uint8Array): boolean {
  return validEscapedAt(s, 0, s.length, allowed);
}

/** validEscaped over s[a, n). */
export function validEscapedAt(s: string, a: number, n: number, allowed: Uint8Array): boolean {
  for (let i = a; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= n || hexVal(s.charCodeAt(i + 1)) < 0 || hexVal(s.charCodeAt(i + 2)) < 0) return false;
      i += 2;
    } else if (c > 0xff || allowed[c] !== 1) return false;
  }
  return true;
}

/**
 * A copy of a string that shares no memory with the text it was cut or joined from: one flat
 * string (V8 keeps the whole parent of a slice alive, and a joined string is a tree of its parts).
 * For what outlives the message it came from: a transaction's key and Call-ID (kept 32 s) or a
 * nonce in the nonce-count table (kept for the nonce's life) would otherwise hold the whole text of
 * the request, and a joined one half a dozen string objects.
 */
export function detached(s: string): string {
  // shorter strings are copied by V8 when cut or joined
  return s.length < 13 ? s : (' ' + s).slice(1);
}
