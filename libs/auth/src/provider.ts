/**
 * Who may use the server: the authentication-provider interface that SIP digest (registrar,
 * proxy), TURN long-term credentials and tunnel logins ask, and the fixed-password provider
 * (the seed's recommended default: every user shares one password). RADIUS, database and
 * plugin providers implement the same interface.
 */

/** What asks: the credential is the same for all of them, the caller's protocol is logged. */
export type AuthProtocol = 'sip' | 'turn' | 'tunnel' | 'oam';

export interface AuthRequest {
  /** The user name as the client sent it (digest username, TURN USERNAME, tunnel login). */
  user: string;
  realm: string;
  protocol: AuthProtocol;
  /** Where the client connects from, for providers that log or restrict by address. */
  source?: { address: string; port: number };
}

/**
 * The outcome of a look-up. `password`: the clear password (digest of any algorithm and TURN
 * keys can be computed from it). `ha1`: only the stored MD5 HA1 (MD5(user:realm:password)),
 * which serves MD5 digest and the TURN long-term key alike. `unknown-user`: no such user
 * (answer as for a wrong password). `unavailable`: the provider cannot answer now (server
 * down, time-out): answer 503 / 500 with a retry, never as a wrong password.
 */
export type AuthLookup =
  | { kind: 'password'; password: string }
  | { kind: 'ha1'; algorithm: 'MD5'; ha1: string }
  | { kind: 'unknown-user' }
  | { kind: 'unavailable'; reason: string };

export interface AuthenticationProvider {
  /** fixed, radius, database, plugin: shown in logs and the status page. */
  readonly name: string;
  lookup(request: AuthRequest): AuthLookup | Promise<AuthLookup>;
}

/** Nest injection token of the node's provider (bound by AuthModule from auth.mode). */
export const AUTHENTICATION_PROVIDER = Symbol.for('traverse.AuthenticationProvider');

/** Fixed authentication: any user name, one password (auth.fixedPassword). */
export class FixedPasswordProvider implements AuthenticationProvider {
  readonly name = 'fixed';
  private readonly answer: AuthLookup;
  constructor(password: string) {
    if (password === '') throw new Error('the fixed password is empty');
    this.answer = { kind: 'password', password };
  }
  lookup(request: AuthRequest): AuthLookup {
    return request.user === '' ? { kind: 'unknown-user' } : this.answer;
  }
}
