// @traverse/sip: pure SIP message library (RFC 3261 messages, URIs, parsing, serialisation, builders).
export type { SipError, SipErrorCode, SipResult } from './errors';
export { ok, fail } from './errors';
export { unescapePct, escapePct, isToken } from './chars';
export type { Params } from './params';
export { parseParamsInto, formatParams, quote, unquote } from './params';
export type { Uri, SipUri, TelUri, OtherUri, HostKind } from './uri';
export { parseUri, formatUri, formatUriUser, uriEquals, hostKind, checkUri, URI_VALID, URI_HAS_HEADERS, NO_URI_HEADERS } from './uri';
export type { NameAddr } from './name-addr';
export { parseNameAddr, formatNameAddr, formatDisplayName, checkNameAddr } from './name-addr';
export type { Via, CSeq, Contact, ContactList, MediaType } from './headers';
export {
  COMPACT_FORMS,
  headerKey,
  canonicalHeaderName,
  splitList,
  parseVia,
  checkVia,
  checkViaList,
  formatVia,
  nextListComma,
  MAX_UINT32,
  makeVia,
  parseCSeq,
  isValidCallId,
  parseIntHeader,
  parseTokenList,
  parseContact,
  parseContactList,
  parseNameAddrList,
  parseMediaType,
} from './headers';
export type { SipHeader, SipMessage } from './message';
export { SipMessageBase, SipRequest, SipResponse, validateCore, toWire, fromWire } from './message';
export type { SipParseLimits, SipParseError, DatagramResult, StreamEvent } from './parser';
export { DEFAULT_SIP_LIMITS, parseDatagram, parseMessage, SipStreamParser } from './parser';
export type { ResponseOptions, RequestOptions, AddressSpec } from './builders';
export {
  createResponse,
  createRequest,
  createNon2xxAck,
  unsupportedExtensions,
  generateBranch,
  generateTag,
  statelessTag,
  fnv1a,
  generateCallId,
  randomToken,
  reasonPhrase,
  REASON_PHRASES,
} from './builders';
export * from './auth';
export * from './transaction';
