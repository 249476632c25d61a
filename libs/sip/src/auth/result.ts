/** Outcome of an operation on untrusted input: a value, or a coded error. Never an exception. */
export type AuthResult<T, C extends string = string> = { ok: true; value: T } | { ok: false; error: { code: C; reason: string } };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail<C extends string>(code: C, reason: string): { ok: false; error: { code: C; reason: string } } {
  return { ok: false, error: { code, reason } };
}
