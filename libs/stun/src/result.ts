/** Typed result of every decoder in this lib: bad bytes never throw. */
export type Result<T, E = StunError> = { ok: true; value: T } | { ok: false; error: E };

/** Error codes of the codec and of the TURN logic; the edge maps them to STUN error codes. */
export type StunErrorCode =
  | 'TRUNCATED'
  | 'TOO_LARGE'
  | 'NOT_STUN'
  | 'BAD_LENGTH'
  | 'BAD_ATTRIBUTE'
  | 'TOO_MANY_ATTRIBUTES'
  | 'BAD_FINGERPRINT'
  | 'BAD_INTEGRITY'
  | 'BAD_ADDRESS'
  | 'BAD_CHANNEL'
  | 'BAD_VALUE'
  | 'PROHIBITED_CHARACTER';

export interface StunError {
  code: StunErrorCode;
  reason: string;
}

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const fail = <E extends string>(code: E, reason: string): { ok: false; error: { code: E; reason: string } } => ({
  ok: false,
  error: { code, reason },
});
