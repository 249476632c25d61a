/**
 * Proxy authentication of requests (RFC 3261 22.3: 407 with Proxy-Authenticate, credentials in
 * Proxy-Authorization) by the seed's security levels:
 *   full          every request from a source that is not a trusted host;
 *   medium        as full (tunnelled clients, which it exempts except for REGISTER, reach the proxy
 *                 through the tunnel endpoint, not from a SIP source);
 *   registration  requests from the address a user registered from pass (with the local registrar,
 *                 or with another domain's registrar through this node), others are challenged;
 *   none          nothing is challenged.
 * Only requests outside a dialog are challenged; ACK and CANCEL never are (they cannot resend).
 */
import {
  createResponse,
  type DigestAuthenticator,
  type DigestOutcome,
  type DigestSecret,
  type SipRequest,
  type SipResponse,
} from '@traverse/sip';
import type { AuthLookup } from '@traverse/auth';
import type { LocationService } from '../registrar/location-service';
import { canonicalAor, type SecurityLevel } from '../registrar/registrar';
import type { SipSource } from '../transport/sip-transport';

export interface ProxyAuthOptions {
  securityLevel: SecurityLevel;
  /** The digest authenticator of the realm (shared with the registrar). */
  authenticator: DigestAuthenticator | undefined;
  credentials: (user: string, realm: string, source: SipSource) => AuthLookup | Promise<AuthLookup>;
  trusted: (ip: string, port: number) => boolean;
  location: LocationService;
  /** Whether the AOR registered through this node with another domain's registrar from this address (ip:port) or flow. */
  registeredThroughProxy?: (aor: string, address: string, flow: string) => boolean;
  now?: () => number;
}

export type ProxyAuthOutcome =
  | { ok: true; user?: string }
  /** The response to send: 407 (challenge), 403 (wrong credentials), 400 (malformed), 503 (provider down). */
  | { ok: false; response: SipResponse; detail: string; failed: boolean };

export class ProxyAuthenticator {
  private readonly now: () => number;

  constructor(private readonly o: ProxyAuthOptions) {
    this.now = o.now ?? Date.now;
  }

  get realm(): string | undefined {
    return this.o.authenticator?.realm;
  }

  /** Whether this request must be authenticated at all (level, method, dialog, trusted source, registered address). */
  required(req: SipRequest, source: SipSource): boolean {
    const level = this.o.securityLevel;
    if (level === 'none') return false;
    if (req.method === 'ACK' || req.method === 'CANCEL' || req.toTag !== undefined) return false;
    if (this.o.trusted(source.address, source.port)) return false;
    if (level === 'registration' && this.fromRegisteredAddress(req, source)) return false;
    return true;
  }

  private fromRegisteredAddress(req: SipRequest, source: SipSource): boolean {
    const from = req.from.uri;
    if (from.kind !== 'sip') return false;
    const at = source.address.includes(':') ? `[${source.address}]:${source.port}` : `${source.address}:${source.port}`;
    const aor = canonicalAor(from);
    if (this.o.registeredThroughProxy?.(aor, at, source.flow) === true) return true;
    return this.o.location.lookup(aor, this.now()).some((b) => b.received === at || b.flow === source.flow);
  }

  /** Verifies the request's credentials; only called when required(). */
  check(req: SipRequest, source: SipSource): ProxyAuthOutcome | Promise<ProxyAuthOutcome> {
    const auth = this.o.authenticator;
    if (auth === undefined) return { ok: false, response: createResponse(req, 500), detail: 'no authenticator', failed: false };
    const now = this.now();
    const values = req.headerValues('proxy-authorization');
    if (values.length === 0) return this.challenge(req, source, now, 'challenged');
    const found = auth.findCredentials(values);
    if (!found.ok) return this.decide(req, source, now, found);
    const cred = this.o.credentials(found.value.username, found.value.realm, source);
    const verify = (c: AuthLookup): ProxyAuthOutcome => {
      if (c.kind === 'unavailable')
        return {
          ok: false,
          response: createResponse(req, 503, { reason: 'Authentication Service Unavailable', headers: [['Retry-After', '5']] }),
          detail: `authentication provider unavailable: ${c.reason}`,
          failed: false,
        };
      const secret: DigestSecret | undefined = c.kind === 'password' ? { password: c.password } : c.kind === 'ha1' ? { ha1: { MD5: c.ha1 } } : undefined;
      const r = auth.verify(found.value, { method: req.method, now, clientAddress: source.address, body: req.body }, secret);
      if (r.ok) return { ok: true, user: found.value.username };
      return this.decide(req, source, now, r);
    };
    return cred instanceof Promise ? cred.then(verify) : verify(cred);
  }

  private challenge(req: SipRequest, source: SipSource, now: number, detail: string, stale = false): ProxyAuthOutcome {
    const auth = this.o.authenticator!;
    const headers = auth.challengeHeaderValues({ now, clientAddress: source.address, ...(stale ? { stale: true } : {}) }).map((v): [string, string] => ['Proxy-Authenticate', v]);
    return { ok: false, response: createResponse(req, 407, { headers }), detail, failed: false };
  }

  private decide(req: SipRequest, source: SipSource, now: number, r: DigestOutcome): ProxyAuthOutcome {
    if (r.ok) return { ok: true };
    switch (r.error.code) {
      case 'malformed':
        return { ok: false, response: createResponse(req, 400, { reason: 'Bad Proxy-Authorization Header' }), detail: `bad credentials: ${r.error.reason}`, failed: true };
      case 'stale-nonce':
        return this.challenge(req, source, now, `stale nonce: ${r.error.reason}`, true);
      case 'wrong-response':
      case 'unknown-user':
        return { ok: false, response: createResponse(req, 403, { reason: 'Wrong Password' }), detail: `authentication failed: ${r.error.reason}`, failed: true };
      default:
        return this.challenge(req, source, now, `${r.error.code}: ${r.error.reason}`);
    }
  }
}
