/** Codes of every way a SIP message, header or URI can be refused. The edge maps them to a status. */
export type SipErrorCode =
  | 'EMPTY'
  | 'MESSAGE_TOO_LARGE'
  | 'TOO_MANY_HEADERS'
  | 'HEADER_TOO_LONG'
  | 'NO_HEADER_END'
  | 'BAD_START_LINE'
  | 'BAD_VERSION'
  | 'BAD_METHOD'
  | 'BAD_REQUEST_URI'
  | 'BAD_STATUS_CODE'
  | 'BAD_HEADER_LINE'
  | 'MISSING_HEADER'
  | 'DUPLICATE_HEADER'
  | 'BAD_HEADER_VALUE'
  | 'BAD_CONTENT_LENGTH'
  | 'BODY_TRUNCATED'
  | 'CSEQ_METHOD_MISMATCH'
  | 'BAD_URI'
  | 'STREAM_FAILED';

export interface SipError {
  code: SipErrorCode;
  /** Short human text, fit for the reason phrase of a 400. */
  reason: string;
  /** Canonical lower-case name of the header at fault, when one is. */
  header?: string;
}

export type SipResult<T, E extends SipError = SipError> = { ok: true; value: T } | { ok: false; error: E };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail(code: SipErrorCode, reason: string, header?: string): { ok: false; error: SipError } {
  return { ok: false, error: header === undefined ? { code, reason } : { code, reason, header } };
}
