export type { Result } from './result';
export * from './types';
export { parseSdp, serializeSdp, serializeSdpToBuffer, SDP_DEFAULT_MAX_BYTES, SDP_DEFAULT_MAX_LINES } from './parse';
export {
  parseOrigin,
  formatOrigin,
  parseConnection,
  formatConnection,
  parseMediaDescription,
  formatMediaDescription,
  parseAttribute,
  formatAttribute,
  parseRtpmap,
  formatRtpmap,
  parseFmtp,
  parseRtcp,
  formatRtcp,
  parseCandidate,
  formatCandidate,
  parseFingerprint,
  parseSetup,
  isDirection,
} from './fields';
export * from './accessors';
export * from './rewrite';
export { isIPv4, isIPv6, addressTypeOf } from './address';
