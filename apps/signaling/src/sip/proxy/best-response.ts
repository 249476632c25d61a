/**
 * Choosing the response a forking proxy sends upstream when every branch has failed
 * (RFC 3261 16.7 step 6) and merging the challenges of 401/407 responses (step 7).
 */
import type { SipResponse } from '@traverse/sip';

/** Order within a class, lower first: RFC 3261 prefers 401, 407, 415, 420 and 484 among the 4xx. */
function rankWithinClass(status: number): number {
  switch (status) {
    case 401:
    case 407:
      return 0;
    case 415:
    case 420:
    case 484:
      return 1;
    case 486:
      return 2;
    case 480:
    case 430:
      return 4;
    case 408:
      return 5;
    case 487:
      return 6;
    case 503:
      return 4;
    default:
      return 3;
  }
}

/** The better of two final responses by the rules above (a 6xx wins over everything). */
function better(a: SipResponse, b: SipResponse): boolean {
  const ca = Math.floor(a.status / 100);
  const cb = Math.floor(b.status / 100);
  if (ca === 6 || cb === 6) return ca === 6 && cb !== 6;
  if (ca !== cb) return ca < cb;
  return rankWithinClass(a.status) < rankWithinClass(b.status);
}

/** The best of the final non-2xx responses collected (the first of equals), undefined when there is none. */
export function chooseBest(responses: readonly SipResponse[]): SipResponse | undefined {
  let best: SipResponse | undefined;
  for (const r of responses) if (best === undefined || better(r, best)) best = r;
  return best;
}

/**
 * 16.7 step 7: a 401 or 407 sent upstream carries the WWW-Authenticate and Proxy-Authenticate
 * values of every 401 and 407 collected, so the client can answer all of them at once.
 */
export function mergeChallenges(best: SipResponse, responses: readonly SipResponse[]): void {
  if (best.status !== 401 && best.status !== 407) return;
  for (const r of responses) {
    if (r === best || (r.status !== 401 && r.status !== 407)) continue;
    for (const name of ['WWW-Authenticate', 'Proxy-Authenticate']) {
      for (const v of r.headerValues(name)) if (!best.headerValues(name).includes(v)) best.addHeader(name, v);
    }
  }
}
