import { fail, ok, type Result } from './result';
import { parseConnection, parseMediaDescription, parseOrigin } from './fields';
import type { SdpErrorCode, SdpLine, SdpParseOptions, SessionDescription } from './types';

export const SDP_DEFAULT_MAX_BYTES = 65535;
export const SDP_DEFAULT_MAX_LINES = 1024;

const LETTER = /^[A-Za-z]$/;

/**
 * Parses an SDP body (RFC 8866). Lines end with CRLF; a lone LF is accepted. Empty lines at
 * the end are ignored. Line order and unknown lines are kept as they are; the structure checked
 * is the one a relay depends on: v=0 first, then o= and s=, and well-formed o=, c= and m= lines.
 * Never throws.
 */
export function parseSdp(input: string | Uint8Array, options: SdpParseOptions = {}): Result<SessionDescription, SdpErrorCode> {
  const maxBytes = options.maxBytes ?? SDP_DEFAULT_MAX_BYTES;
  const maxLines = options.maxLines ?? SDP_DEFAULT_MAX_LINES;
  let text: string;
  if (typeof input === 'string') {
    if (input.length > maxBytes || Buffer.byteLength(input, 'utf8') > maxBytes) return fail('too-large', `SDP larger than ${maxBytes} bytes`);
    text = input;
  } else {
    if (input.byteLength > maxBytes) return fail('too-large', `SDP larger than ${maxBytes} bytes`);
    text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  }

  const session: SdpLine[] = [];
  const media: { lines: SdpLine[] }[] = [];
  let current = session;
  let count = 0;
  let sawEmpty = false;
  let pos = 0;
  const len = text.length;
  while (pos < len) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? len : nl;
    const lineEnd = end > pos && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    const line = text.slice(pos, lineEnd);
    pos = nl < 0 ? len : nl + 1;
    if (line === '') {
      sawEmpty = true;
      continue;
    }
    count++;
    if (sawEmpty) return fail('malformed-line', `empty line before line ${count}`);
    if (count > maxLines) return fail('too-many-lines', `more than ${maxLines} lines`);
    if (line.includes('\r') || line.includes('\0')) return fail('invalid-character', `CR or NUL inside line ${count}`);
    const type = line[0] ?? '';
    if (line.length < 2 || line.charCodeAt(1) !== 61 /* = */ || !LETTER.test(type)) {
      return fail('malformed-line', `line ${count} is not <type>=<value>`);
    }
    const value = line.slice(2);
    if (type === 'm') {
      if (parseMediaDescription(value) === undefined) return fail('bad-media', `line ${count}: malformed m= line`);
      current = [];
      media.push({ lines: current });
    } else if (type === 'c' && parseConnection(value) === undefined) {
      return fail('bad-connection', `line ${count}: malformed c= line`);
    }
    current.push({ type, value });
  }

  const v = session[0];
  if (v === undefined || v.type !== 'v') return fail('missing-version', 'the first line is not v=');
  if (v.value !== '0') return fail('bad-version', `unsupported SDP version ${v.value.slice(0, 16)}`);
  const o = session[1];
  if (o === undefined || o.type !== 'o') return fail('missing-origin', 'the second line is not o=');
  if (parseOrigin(o.value) === undefined) return fail('bad-origin', 'malformed o= line');
  const s = session[2];
  if (s === undefined || s.type !== 's') return fail('missing-session-name', 'the third line is not s=');
  const out: SessionDescription = { session, media: media };
  return ok(out);
}

/** Writes a session description with CRLF line ends (also after the last line). */
export function serializeSdp(sdp: SessionDescription): string {
  const parts: string[] = [];
  for (const l of sdp.session) parts.push(`${l.type}=${l.value}\r\n`);
  for (const m of sdp.media) for (const l of m.lines) parts.push(`${l.type}=${l.value}\r\n`);
  return parts.join('');
}

export function serializeSdpToBuffer(sdp: SessionDescription): Buffer {
  return Buffer.from(serializeSdp(sdp), 'utf8');
}
