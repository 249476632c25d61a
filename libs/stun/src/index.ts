/**
 * @traverse/stun: the pure STUN/TURN codec and TURN logic (no Nest, no I/O, no logging).
 *
 * - Messages: decodeMessage (Buffer -> Result<StunMessage>, bounded by size and attribute count, never
 *   throws), encodeMessage (typed attributes, MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256, FINGERPRINT),
 *   getAttribute / attributeValue (typed, lazily decoded), verifyIntegrity / verifyIntegritySha256 /
 *   verifyFingerprint, unknownComprehensionRequired (420).
 * - Attributes: every RFC 5389/8489, RFC 3489, RFC 5780, RFC 8656, RFC 6062 and RFC 6156 attribute in
 *   `Attr`, with its value type in `AttrValues`.
 * - Credentials: shortTermKey, longTermKey (MD5 / SHA-256), userhash, saslPrep, opaqueString, stateless
 *   nonces (createNonce / checkNonce, RFC 8489 nonce cookie), and the server steps of the long-term
 *   mechanism (beginLongTerm / verifyLongTerm / longTermChallenge).
 * - ChannelData: decodeChannelData, encodeChannelData, channelDataHeader; classifyPacket (demultiplexing);
 *   nextFrameLength / StreamFramer (TCP/TLS framing with padding).
 * - Addresses: parseIp (every spelling, inet_aton forms included), formatIp (as Node prints rinfo.address),
 *   PeerPolicy (canonicalising peer-address policy).
 * - TURN state: AllocationTable / Allocation (permissions, channel bindings, lifetimes, quotas; time passed
 *   in), ReservationTable (EVEN-PORT R), grantLifetime, turnErrorStunCode.
 */
export * from './result';
export * from './constants';
export * from './ip';
export * from './attributes';
export * from './message';
export { hmac, HmacKey, type HmacAlgorithm } from '@traverse/hmac';
export * from './credentials';
export * from './long-term-auth';
export * from './channel-data';
export * from './peer-policy';
export * from './allocation';
