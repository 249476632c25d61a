/**
 * STUN message framing (RFC 8489 section 5 and 14; RFC 3489 classic messages without the magic cookie),
 * MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT.
 */
import { randomBytes } from 'node:crypto';
import { macEquals, preparedKey } from '@traverse/hmac';
import { crc32 } from 'node:zlib';
import {
  Attr,
  DEFAULT_MAX_ATTRIBUTES,
  DEFAULT_MAX_MESSAGE_SIZE,
  FINGERPRINT_XOR,
  ERROR_REASONS,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  StunClass,
  isComprehensionRequired,
} from './constants';
import {
  AttrValues,
  KnownAttrType,
  OutAttribute,
  attributeValueSize,
  decodeAttributeValue,
  isKnownAttribute,
  writeAttributeValue,
} from './attributes';
import { Result, ok, fail } from './result';

export interface RawAttribute {
  type: number;
  /** The value bytes (a view into the message, padding excluded). */
  value: Buffer;
  /** Offset of the attribute header within the message. */
  offset: number;
}

export interface StunMessage {
  method: number;
  cls: StunClass;
  /** 12 bytes (RFC 5389+); 16 bytes for a classic RFC 3489 message, which has no magic cookie. */
  transactionId: Buffer;
  /** True for an RFC 3489 message (no magic cookie). */
  classic: boolean;
  /**
   * Attributes in order. Those after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and
   * FINGERPRINT are ignored (RFC 8489 section 14.5) and left out.
   */
  attributes: RawAttribute[];
  /** The whole message as received. */
  raw: Buffer;
  /** Offsets of the attribute headers, or -1. */
  integrityOffset: number;
  integritySha256Offset: number;
  fingerprintOffset: number;
}

export interface DecodeOptions {
  maxSize?: number;
  maxAttributes?: number;
  /** Accept classic RFC 3489 messages (no magic cookie). Default true. */
  allowClassic?: boolean;
}

/** Message type field from method and class (RFC 8489 section 5). */
export function messageType(method: number, cls: StunClass): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7);
}
export function methodOf(type: number): number {
  return (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
}
export function classOf(type: number): StunClass {
  return (((type >> 4) & 1) | ((type >> 7) & 2)) as StunClass;
}

/**
 * Quick test: could these bytes be a STUN message with the magic cookie?
 * (first two bits zero, length a multiple of 4 matching the buffer, cookie present)
 */
export function isStunMessage(buf: Buffer): boolean {
  return (
    buf.length >= HEADER_LENGTH &&
    (buf[0] & 0xc0) === 0 &&
    buf.readUInt32BE(4) === MAGIC_COOKIE &&
    (buf.readUInt16BE(2) & 3) === 0 &&
    buf.readUInt16BE(2) + HEADER_LENGTH === buf.length
  );
}

/** Decodes a whole STUN message (one datagram, or one frame cut from a stream). Never throws. */
export function decodeMessage(buf: Buffer, opts: DecodeOptions = {}): Result<StunMessage> {
  const maxSize = opts.maxSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const maxAttributes = opts.maxAttributes ?? DEFAULT_MAX_ATTRIBUTES;
  if (buf.length > maxSize) return fail('TOO_LARGE', `message larger than ${maxSize} bytes`);
  if (buf.length < HEADER_LENGTH) return fail('TRUNCATED', 'shorter than a STUN header');
  if ((buf[0] & 0xc0) !== 0) return fail('NOT_STUN', 'first two bits are not zero');
  // plain byte reads: Buffer's readUInt16BE validates its offset through a wrapper that allocates
  const type = u16(buf, 0);
  const length = u16(buf, 2);
  if ((length & 3) !== 0) return fail('BAD_LENGTH', 'length is not a multiple of 4');
  if (length + HEADER_LENGTH !== buf.length) return fail('BAD_LENGTH', 'length does not match the datagram');
  const classic = u32(buf, 4) !== MAGIC_COOKIE;
  if (classic && opts.allowClassic === false) return fail('NOT_STUN', 'no magic cookie');
  const attributes: RawAttribute[] = [];
  let integrityOffset = -1;
  let integritySha256Offset = -1;
  let fingerprintOffset = -1;
  let at = HEADER_LENGTH;
  let count = 0;
  while (at < buf.length) {
    if (fingerprintOffset !== -1) return fail('BAD_ATTRIBUTE', 'attribute after FINGERPRINT');
    if (at + 4 > buf.length) return fail('TRUNCATED', 'truncated attribute header');
    const atype = u16(buf, at);
    const alen = u16(buf, at + 2);
    const end = at + 4 + alen;
    if (end > buf.length) return fail('TRUNCATED', 'attribute value runs past the message');
    if (++count > maxAttributes) return fail('TOO_MANY_ATTRIBUTES', `more than ${maxAttributes} attributes`);
    const attr: RawAttribute = { type: atype, value: buf.subarray(at + 4, end), offset: at };
    if (atype === Attr.Fingerprint) {
      if (alen !== 4) return fail('BAD_ATTRIBUTE', 'FINGERPRINT must be 4 bytes');
      fingerprintOffset = at;
      attributes.push(attr);
    } else if (atype === Attr.MessageIntegritySha256) {
      if (alen < 16 || alen > 32 || alen % 4 !== 0) return fail('BAD_ATTRIBUTE', 'bad MESSAGE-INTEGRITY-SHA256 length');
      if (integritySha256Offset === -1) {
        integritySha256Offset = at;
        attributes.push(attr);
      }
    } else if (atype === Attr.MessageIntegrity) {
      if (alen !== 20) return fail('BAD_ATTRIBUTE', 'MESSAGE-INTEGRITY must be 20 bytes');
      if (integrityOffset === -1 && integritySha256Offset === -1) {
        integrityOffset = at;
        attributes.push(attr);
      }
    } else if (integrityOffset === -1 && integritySha256Offset === -1) {
      attributes.push(attr);
    }
    at = at + 4 + ((alen + 3) & ~3);
  }
  if (at !== buf.length) return fail('TRUNCATED', 'padding of the last attribute is missing');
  return ok({
    method: methodOf(type),
    cls: classOf(type),
    transactionId: classic ? buf.subarray(4, 20) : buf.subarray(8, 20),
    classic,
    attributes,
    raw: buf,
    integrityOffset,
    integritySha256Offset,
    fingerprintOffset,
  });
}

/** First raw attribute of this type, or undefined. */
export function findAttribute(msg: StunMessage, type: number): RawAttribute | undefined {
  const list = msg.attributes;
  for (let i = 0; i < list.length; i++) if (list[i].type === type) return list[i];
  return undefined;
}

/** Attribute types whose value is XORed with the header (the others decode without the key). */
const XOR_TYPES: ReadonlySet<number> = new Set([Attr.XorMappedAddress, Attr.XorPeerAddress, Attr.XorRelayedAddress]);
const NO_XOR_KEY = Buffer.alloc(16);

/** The typed value of the first attribute of this type: undefined if absent, a failed Result if malformed. */
export function getAttribute<K extends KnownAttrType>(msg: StunMessage, type: K): Result<AttrValues[K]> | undefined {
  const a = findAttribute(msg, type);
  if (!a) return undefined;
  return decodeAttributeValue(type, a.value, XOR_TYPES.has(type) ? msg.raw.subarray(4, 20) : NO_XOR_KEY);
}

/** The typed value when present and well formed, else undefined. */
export function attributeValue<K extends KnownAttrType>(msg: StunMessage, type: K): AttrValues[K] | undefined {
  const r = getAttribute(msg, type);
  return r && r.ok ? r.value : undefined;
}

/** Comprehension-required attribute types this message carries that are not in `understood` (for 420). */
export function unknownComprehensionRequired(msg: StunMessage, understood: ReadonlySet<number>): number[] {
  const out: number[] = [];
  for (const a of msg.attributes) if (isComprehensionRequired(a.type) && !understood.has(a.type) && !out.includes(a.type)) out.push(a.type);
  return out;
}

/** Decodes every attribute; fails on the first malformed known one. Unknown types stay raw. */
export function decodeAllAttributes(msg: StunMessage): Result<OutAttribute[]> {
  const out: OutAttribute[] = [];
  const key = msg.raw.subarray(4, 20);
  for (const a of msg.attributes) {
    if (isKnownAttribute(a.type)) {
      const r = decodeAttributeValue(a.type, a.value, key);
      if (!r.ok) return r;
      out.push({ type: a.type, value: r.value } as OutAttribute);
    } else out.push({ type: a.type, raw: a.value });
  }
  return ok(out);
}

export interface MessageHeader {
  method: number;
  cls: StunClass;
  /** 12 bytes; 16 bytes encodes a classic RFC 3489 message (no magic cookie). */
  transactionId: Buffer;
}

export interface EncodeOptions {
  /** Adds MESSAGE-INTEGRITY (HMAC-SHA1) with this key. */
  integrityKey?: Buffer;
  /** Adds MESSAGE-INTEGRITY-SHA256 with this key. */
  integritySha256Key?: Buffer;
  /** Length of the MESSAGE-INTEGRITY-SHA256 value: 16..32, multiple of 4. Default 32. */
  integritySha256Length?: number;
  /** Adds FINGERPRINT. */
  fingerprint?: boolean;
  /** Byte written into attribute padding. Default 0 (RFC 5769 uses 0x20 to show it is ignored). */
  paddingByte?: number;
}

const pad4 = (n: number) => (n + 3) & ~3;

/**
 * Encodes a message. Attributes are written in order; MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and
 * FINGERPRINT are appended and computed as asked. Padding bytes are zero.
 */
export function encodeMessage(header: MessageHeader, attributes: readonly OutAttribute[], opts: EncodeOptions = {}): Buffer {
  const sizes = attributes.map(attributeValueSize);
  let total = HEADER_LENGTH;
  for (const s of sizes) total += 4 + pad4(s);
  const shaLen = opts.integritySha256Length ?? 32;
  const miAt = total;
  if (opts.integrityKey) total += 24;
  const mi256At = total;
  if (opts.integritySha256Key) total += 4 + shaLen;
  const fpAt = total;
  if (opts.fingerprint) total += 8;
  // from the pool (most messages are answers sent at once), zeroed as Buffer.alloc would be
  const out = Buffer.allocUnsafe(total).fill(0);
  put16(out, 0, messageType(header.method, header.cls));
  put16(out, 2, total - HEADER_LENGTH);
  const tid = header.transactionId;
  if (tid.length === 16) out.set(tid, 4);
  else {
    put32(out, 4, MAGIC_COOKIE);
    for (let i = 0; i < 12; i++) out[8 + i] = tid[i];
  }
  let key: Buffer | undefined; // the header's bytes 4..20, for XORed values
  let at = HEADER_LENGTH;
  for (let i = 0; i < attributes.length; i++) {
    const a = attributes[i];
    put16(out, at, a.type & 0xffff);
    put16(out, at + 2, sizes[i]);
    writeAttributeValue(a, out, at + 4, XOR_TYPES.has(a.type) ? (key ??= out.subarray(4, 20)) : NO_XOR_KEY);
    if (opts.paddingByte) out.fill(opts.paddingByte, at + 4 + sizes[i], at + 4 + pad4(sizes[i]));
    at += 4 + pad4(sizes[i]);
  }
  if (opts.integrityKey) {
    put16(out, miAt, Attr.MessageIntegrity);
    put16(out, miAt + 2, 20);
    hmacInto(out, miAt, 'sha1', opts.integrityKey, 20);
  }
  if (opts.integritySha256Key) {
    put16(out, mi256At, Attr.MessageIntegritySha256);
    put16(out, mi256At + 2, shaLen);
    hmacInto(out, mi256At, 'sha256', opts.integritySha256Key, shaLen);
  }
  if (opts.fingerprint) {
    put16(out, fpAt, Attr.Fingerprint);
    put16(out, fpAt + 2, 4);
    put32(out, fpAt + 4, crc32(out.subarray(0, fpAt)) ^ FINGERPRINT_XOR);
  }
  return out;
}

/**
 * HMAC over the message up to the integrity attribute at `attrAt`, with the header length
 * set as if the message ended right after that attribute (RFC 8489 section 14.5).
 */
function integrityHmac(raw: Buffer, attrAt: number, alg: 'sha1' | 'sha256', key: Buffer, valueLen: number): Buffer {
  const head = integrityHead;
  head[0] = raw[0];
  head[1] = raw[1];
  put16(head, 2, attrAt + 4 + valueLen - HEADER_LENGTH);
  return preparedKey(alg, key).digest(head, raw.subarray(4, attrAt));
}

/** The first 4 bytes of the message as the integrity covers them (scratch: each MAC is computed at once). */
const integrityHead = Buffer.alloc(4);

/** Big-endian reads and writes without Buffer's offset checks (callers stay in bounds). */
function u16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}
function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}
function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v;
}
function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}
function hmacInto(out: Buffer, attrAt: number, alg: 'sha1' | 'sha256', key: Buffer, len: number): void {
  const mac = integrityHmac(out, attrAt, alg, key, len);
  mac.copy(out, attrAt + 4, 0, len);
}

/** Checks MESSAGE-INTEGRITY (HMAC-SHA1) with the key. False when absent. */
/** ERROR-CODE with the standard reason phrase of `code`. */
export function errorCodeAttribute(code: number): OutAttribute {
  return { type: Attr.ErrorCode, value: { code, reason: ERROR_REASONS[code] ?? 'Error' } };
}

/**
 * A response to `request`: same method and transaction id, SOFTWARE when given, protected with
 * `key` by the integrity the request used (MESSAGE-INTEGRITY-SHA256 if it had one, else
 * MESSAGE-INTEGRITY), and a FINGERPRINT when the request carried one.
 */
export function encodeAnswer(request: StunMessage, cls: StunClass, attributes: readonly OutAttribute[], key?: Buffer, software?: string): Buffer {
  const sha = request.integritySha256Offset >= 0;
  return encodeMessage(
    { method: request.method, cls, transactionId: request.transactionId },
    software === undefined ? attributes : [...attributes, { type: Attr.Software, value: software }],
    { integrityKey: sha ? undefined : key, integritySha256Key: sha ? key : undefined, fingerprint: request.fingerprintOffset >= 0 },
  );
}

export function verifyIntegrity(msg: StunMessage, key: Buffer): boolean {
  if (msg.integrityOffset < 0) return false;
  const mac = integrityHmac(msg.raw, msg.integrityOffset, 'sha1', key, 20);
  return macEquals(mac, msg.raw, msg.integrityOffset + 4, 20);
}

/** Checks MESSAGE-INTEGRITY-SHA256 (possibly truncated) with the key. False when absent. */
export function verifyIntegritySha256(msg: StunMessage, key: Buffer): boolean {
  const at = msg.integritySha256Offset;
  if (at < 0) return false;
  const len = u16(msg.raw, at + 2);
  const mac = integrityHmac(msg.raw, at, 'sha256', key, len);
  return macEquals(mac, msg.raw, at + 4, len);
}

/** Checks FINGERPRINT. False when absent. */
export function verifyFingerprint(msg: StunMessage): boolean {
  const at = msg.fingerprintOffset;
  if (at < 0) return false;
  return (crc32(msg.raw.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0 === u32(msg.raw, at + 4);
}

/** A new random 12-byte transaction id. */
export function newTransactionId(): Buffer {
  return randomBytes(12);
}
