/**
 * Transaction matching keys (RFC 3261 17.1.3 and 17.2.3, CANCEL per 9.2).
 *
 * Server side: a request whose top Via branch starts with the magic cookie matches by
 * (branch, sent-by, method) with ACK standing for INVITE; any other request (an RFC 2543
 * element) matches by Request-URI, From tag, Call-ID, CSeq number, top Via and To tag.
 * Client side: a response matches by its top Via branch and CSeq method.
 */
import type { SipRequest, SipResponse } from '../message';
import type { Via } from '../headers';

export const MAGIC_COOKIE = 'z9hG4bK';

/** True when the branch is an RFC 3261 one (magic cookie and something after it). */
export function isRfc3261Branch(branch: string | undefined): branch is string {
  return branch !== undefined && branch.length > MAGIC_COOKIE.length && branch.startsWith(MAGIC_COOKIE);
}

function sentBy(v: Via): string {
  return v.host.toLowerCase() + ':' + (v.port ?? '');
}

function viaIdentity(v: Via): string {
  return v.transport + ' ' + sentBy(v) + ' ' + (v.branch ?? '');
}

/**
 * The key of the server transaction a request belongs to, for the method given
 * (ACK and CANCEL are looked up under INVITE by the layer). `toTag` overrides the
 * request's To tag for the RFC 2543 form. undefined when the request has no Via.
 */
export function serverKey(req: SipRequest, method: string, toTag?: string): string | undefined {
  const top = req.topVia;
  if (top === undefined) return undefined;
  if (isRfc3261Branch(top.branch)) return top.branch + '\0' + sentBy(top) + '\0' + method;
  return (
    '2543\0' + req.requestUri + '\0' + (req.fromTag ?? '') + '\0' + req.callId + '\0' + req.cseq.seq + '\0' + viaIdentity(top) + '\0' + method + '\0' + (toTag ?? req.toTag ?? '')
  );
}

/** The key of the client transaction a response belongs to; undefined without a branch. */
export function clientKeyOfResponse(res: SipResponse): string | undefined {
  const branch = res.topVia?.branch;
  if (branch === undefined) return undefined;
  return branch + '\0' + res.cseq.method;
}

/** The key of a client transaction for the request it sends; undefined without a branch. */
export function clientKeyOfRequest(req: SipRequest): string | undefined {
  const branch = req.topVia?.branch;
  if (branch === undefined) return undefined;
  return branch + '\0' + req.method;
}
