/**
 * The seed's call end reasons (Call Status page) for what signaling knows about an INVITE that did
 * not end in a conversation: the final response and who produced it, or why this node gave up.
 */
import type { CallEndReason } from '@traverse/cluster';
import type { InviteOutcome } from '../proxy/proxy-types';

export function endReasonFor(o: InviteOutcome): CallEndReason {
  const external = o.origin === 'external';
  switch (o.cause) {
    case 'cancelled':
      return 'CALLER_CANCELLED';
    case 'max-calls':
      return 'MAX_CALL_CAP_REACHED';
    case 'auth-failed':
      return 'SIP_AUTHENTICATION_FAILURE';
    case 'timeout':
      return external ? 'EXTERNAL_TIMEOUT' : 'NO_RESPONSE_TO_INVITE';
    case 'flow-failed':
      return 'CLIENT_CONNECTION_LOST';
    case 'transport':
      return external ? 'EXTERNAL_SERVER_UNAVAILABLE' : 'CLIENT_CONNECTION_LOST';
    case 'routing':
      return 'CONN_FAILED_IN_PXS';
    default:
      break;
  }
  const s = o.status;
  switch (s) {
    case 486:
    case 600:
      return 'USER_BUSY';
    case 603:
      return 'USER_REJECTED';
    case 404:
    case 604:
      return 'SIP_USER_NOT_FOUND';
    case 401:
    case 407:
      return 'SIP_AUTHENTICATION_FAILURE';
    case 408:
      return external ? 'EXTERNAL_TIMEOUT' : 'NO_RESPONSE_TO_INVITE';
    case 480:
      return 'USER_TEMPORARILY_UNAVAILABLE';
    case 415:
      return 'BAD_SDP';
    case 488:
    case 606:
      return 'INCOMPATIBLE_MEDIA';
    case 430:
      return 'CLIENT_CONNECTION_LOST';
    case 500:
    case 501:
    case 503:
      return external ? 'EXTERNAL_SERVER_UNAVAILABLE' : 'INVITE_REJECTED';
    case 504:
      return external ? 'EXTERNAL_TIMEOUT' : 'INVITE_REJECTED';
    default:
      break;
  }
  if (s >= 400 && s < 500) return 'BAD_SIP_MESSAGE';
  if (s >= 300) return 'INVITE_REJECTED';
  return 'UNKNOWN';
}
