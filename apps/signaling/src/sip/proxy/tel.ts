/**
 * tel: Request-URIs (RFC 3966) for numbers of this node: a number starting with a local number
 * prefix (registrar.prefixes) is the user sip:<number>@<local domain>;user=phone, looked up in the
 * location service like any local user. Visual separators (- . ( )) are not part of the number
 * (RFC 3966 5.1.1). A local number (no leading +) belongs to its phone-context (RFC 3966 5.1.5):
 * it is ours when it names none or one of the local domains. Every other number has no route here.
 */
import type { SipUri, TelUri } from '@traverse/sip';

export interface TelRouting {
  /** Local number prefixes (digits with an optional leading +). */
  prefixes: readonly string[];
  /** Local domains; the first is the domain of the users numbers map to. */
  domains: readonly string[];
}

/** The number of a tel: URI without visual separators; undefined when it is not one (digits, optional +). */
export function telNumber(t: TelUri): string | undefined {
  const n = t.number.replace(/[-.()]/g, '');
  return /^\+?[0-9]+$/.test(n) ? n : undefined;
}

/** The local user a tel: URI names (RFC 3966 to sip: with user=phone, RFC 3261 19.1.6), or undefined. */
export function telTarget(t: TelUri, o: TelRouting): SipUri | undefined {
  const domain = o.domains[0];
  if (domain === undefined) return undefined;
  const number = telNumber(t);
  if (number === undefined) return undefined;
  if (!number.startsWith('+')) {
    const context = t.params.get('phone-context');
    if (typeof context === 'string' && !o.domains.some((d) => d.toLowerCase() === context.toLowerCase())) return undefined;
  }
  if (!o.prefixes.some((p) => number.startsWith(p))) return undefined;
  return { kind: 'sip', scheme: 'sip', user: number, host: domain.toLowerCase(), params: new Map([['user', 'phone']]), headers: new Map() };
}
