/**
 * Typed values of STUN/TURN attributes and their codecs.
 * Every decoder is total: it returns a Result and never throws on bad bytes.
 */
import { Attr, AddressFamily, MAGIC_COOKIE, CHANGE_IP, CHANGE_PORT } from './constants';
import { IpBytes, TransportAddress, addressBytes, formatIp } from './ip';
import { Result, ok, fail } from './result';

export interface ChangeRequest {
  changeIp: boolean;
  changePort: boolean;
}
export interface ErrorCodeValue {
  code: number;
  reason: string;
}
export interface AddressErrorCodeValue {
  family: 4 | 6;
  code: number;
  reason: string;
}
export interface IcmpValue {
  type: number;
  code: number;
  data: number;
}
export interface PasswordAlgorithmValue {
  algorithm: number;
  params: Buffer;
}
export interface EvenPortValue {
  reserve: boolean;
}

/** The typed value of each known attribute. */
export interface AttrValues {
  [Attr.MappedAddress]: TransportAddress;
  [Attr.ResponseAddress]: TransportAddress;
  [Attr.ChangeRequest]: ChangeRequest;
  [Attr.SourceAddress]: TransportAddress;
  [Attr.ChangedAddress]: TransportAddress;
  [Attr.Username]: string;
  [Attr.Password]: Buffer;
  [Attr.MessageIntegrity]: Buffer;
  [Attr.ErrorCode]: ErrorCodeValue;
  [Attr.UnknownAttributes]: number[];
  [Attr.ReflectedFrom]: TransportAddress;
  [Attr.ChannelNumber]: number;
  [Attr.Lifetime]: number;
  [Attr.XorPeerAddress]: TransportAddress;
  [Attr.Data]: Buffer;
  [Attr.Realm]: string;
  [Attr.Nonce]: string;
  [Attr.XorRelayedAddress]: TransportAddress;
  [Attr.RequestedAddressFamily]: 4 | 6;
  [Attr.EvenPort]: EvenPortValue;
  [Attr.RequestedTransport]: number;
  [Attr.DontFragment]: true;
  [Attr.AccessToken]: Buffer;
  [Attr.MessageIntegritySha256]: Buffer;
  [Attr.PasswordAlgorithm]: PasswordAlgorithmValue;
  [Attr.Userhash]: Buffer;
  [Attr.XorMappedAddress]: TransportAddress;
  [Attr.ReservationToken]: Buffer;
  [Attr.Priority]: number;
  [Attr.UseCandidate]: true;
  [Attr.Padding]: Buffer;
  [Attr.ResponsePort]: number;
  [Attr.ConnectionId]: number;
  [Attr.AdditionalAddressFamily]: 4 | 6;
  [Attr.AddressErrorCode]: AddressErrorCodeValue;
  [Attr.PasswordAlgorithms]: PasswordAlgorithmValue[];
  [Attr.AlternateDomain]: string;
  [Attr.Icmp]: IcmpValue;
  [Attr.Software]: string;
  [Attr.AlternateServer]: TransportAddress;
  [Attr.Fingerprint]: number;
  [Attr.IceControlled]: bigint;
  [Attr.IceControlling]: bigint;
  [Attr.ResponseOrigin]: TransportAddress;
  [Attr.OtherAddress]: TransportAddress;
}
export type KnownAttrType = keyof AttrValues;

/** An attribute to encode: a known one with its typed value, or any type with raw bytes. */
export type OutAttribute = { [K in KnownAttrType]: { type: K; value: AttrValues[K] } }[KnownAttrType] | { type: number; raw: Buffer };

/** xorKey is the 16 header bytes 4..20 (magic cookie and transaction id). */
interface Codec<T> {
  decode(v: Buffer, xorKey: Buffer): Result<T>;
  /** Encoded value length. */
  size(value: T): number;
  /** Writes the value at `at`; returns nothing. The caller has sized the buffer with size(). */
  write(value: T, out: Buffer, at: number, xorKey: Buffer): void;
}

const bad = (reason: string) => fail('BAD_ATTRIBUTE', reason);

function addrSize(a: TransportAddress): number {
  return a.family === 4 ? 8 : 20;
}

function decodeAddress(v: Buffer, xorKey: Buffer | undefined): Result<TransportAddress> {
  if (v.length < 4) return bad('address too short');
  const family = v[1];
  let port = v.readUInt16BE(2);
  if (xorKey) port ^= MAGIC_COOKIE >>> 16;
  let len: number;
  if (family === AddressFamily.IPv4) len = 4;
  else if (family === AddressFamily.IPv6) len = 16;
  else return bad('unknown address family');
  if (v.length !== 4 + len) return bad('address length does not match family');
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len; i++) bytes[i] = v[4 + i] ^ (xorKey ? xorKey[i] : 0);
  return ok({ family: len === 4 ? 4 : 6, address: formatIp(bytes), port });
}

function writeAddress(a: TransportAddress, out: Buffer, at: number, xorKey: Buffer | undefined): void {
  const bytes: IpBytes | undefined = addressBytes(a);
  const len = a.family === 4 ? 4 : 16;
  out[at] = 0;
  out[at + 1] = a.family === 4 ? AddressFamily.IPv4 : AddressFamily.IPv6;
  out.writeUInt16BE((a.port ^ (xorKey ? MAGIC_COOKIE >>> 16 : 0)) & 0xffff, at + 2);
  for (let i = 0; i < len; i++) out[at + 4 + i] = (bytes && bytes.length === len ? bytes[i] : 0) ^ (xorKey ? xorKey[i] : 0);
}

const plainAddress: Codec<TransportAddress> = {
  decode: (v) => decodeAddress(v, undefined),
  size: addrSize,
  write: (a, out, at) => writeAddress(a, out, at, undefined),
};
const xorAddress: Codec<TransportAddress> = {
  decode: (v, k) => decodeAddress(v, k),
  size: addrSize,
  write: (a, out, at, k) => writeAddress(a, out, at, k),
};

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
function text(maxBytes: number): Codec<string> {
  return {
    decode(v) {
      if (v.length > maxBytes) return bad(`text longer than ${maxBytes} bytes`);
      try {
        return ok(utf8Decoder.decode(v));
      } catch {
        return bad('invalid UTF-8');
      }
    },
    size: (s) => Buffer.byteLength(s, 'utf8'),
    write: (s, out, at) => {
      out.write(s, at, 'utf8');
    },
  };
}

function bytes(min: number, max: number, multipleOf = 1): Codec<Buffer> {
  return {
    decode: (v) => (v.length < min || v.length > max || v.length % multipleOf !== 0 ? bad(`length ${v.length} out of range`) : ok(v)),
    size: (b) => b.length,
    write: (b, out, at) => {
      out.set(b, at);
    },
  };
}

const u32: Codec<number> = {
  decode: (v) => (v.length === 4 ? ok(v.readUInt32BE(0)) : bad('expected 4 bytes')),
  size: () => 4,
  write: (n, out, at) => {
    out.writeUInt32BE(n >>> 0, at);
  },
};
const u64: Codec<bigint> = {
  decode: (v) => (v.length === 8 ? ok(v.readBigUInt64BE(0)) : bad('expected 8 bytes')),
  size: () => 8,
  write: (n, out, at) => {
    out.writeBigUInt64BE(BigInt.asUintN(64, n), at);
  },
};
const empty: Codec<true> = {
  decode: (v) => (v.length === 0 ? ok(true as const) : bad('expected no value')),
  size: () => 0,
  write: () => undefined,
};
/** 16-bit value followed by 16 reserved bits (CHANNEL-NUMBER, RESPONSE-PORT). */
const u16Rffu: Codec<number> = {
  decode: (v) => (v.length === 4 ? ok(v.readUInt16BE(0)) : bad('expected 4 bytes')),
  size: () => 4,
  write: (n, out, at) => {
    out.writeUInt16BE(n & 0xffff, at);
    out.writeUInt16BE(0, at + 2);
  },
};
/** Family byte then 3 reserved (REQUESTED-ADDRESS-FAMILY, ADDITIONAL-ADDRESS-FAMILY). */
const familyCodec: Codec<4 | 6> = {
  decode(v) {
    if (v.length !== 4) return bad('expected 4 bytes');
    if (v[0] === AddressFamily.IPv4) return ok(4 as const);
    if (v[0] === AddressFamily.IPv6) return ok(6 as const);
    return bad('unknown address family');
  },
  size: () => 4,
  write: (f, out, at) => {
    out.writeUInt32BE(0, at);
    out[at] = f === 4 ? AddressFamily.IPv4 : AddressFamily.IPv6;
  },
};

function decodeCodeReason(v: Buffer, at: number): Result<{ code: number; reason: string }> {
  if (v.length < at + 4) return bad('error code too short');
  const cls = v[at + 2] & 0x07;
  const num = v[at + 3];
  if (cls < 3 || cls > 6 || num > 99) return bad('error code out of range');
  const reason = v.subarray(at + 4);
  if (reason.length > 763) return bad('reason phrase too long');
  try {
    return ok({ code: cls * 100 + num, reason: utf8Decoder.decode(reason) });
  } catch {
    return bad('invalid UTF-8 in reason phrase');
  }
}
function writeCodeReason(code: number, reason: string, out: Buffer, at: number): void {
  out[at + 2] = Math.floor(code / 100) & 0x07;
  out[at + 3] = code % 100;
  out.write(reason, at + 4, 'utf8');
}

const errorCode: Codec<ErrorCodeValue> = {
  decode: (v) => decodeCodeReason(v, 0),
  size: (e) => 4 + Buffer.byteLength(e.reason, 'utf8'),
  write: (e, out, at) => {
    out.writeUInt16BE(0, at);
    writeCodeReason(e.code, e.reason, out, at);
  },
};
const addressErrorCode: Codec<AddressErrorCodeValue> = {
  decode(v) {
    if (v.length < 4) return bad('address error code too short');
    const fam = v[0] === AddressFamily.IPv4 ? 4 : v[0] === AddressFamily.IPv6 ? 6 : 0;
    if (fam === 0) return bad('unknown address family');
    const r = decodeCodeReason(v, 0);
    return r.ok ? ok({ family: fam, code: r.value.code, reason: r.value.reason }) : r;
  },
  size: (e) => 4 + Buffer.byteLength(e.reason, 'utf8'),
  write: (e, out, at) => {
    out[at] = e.family === 4 ? AddressFamily.IPv4 : AddressFamily.IPv6;
    out[at + 1] = 0;
    writeCodeReason(e.code, e.reason, out, at);
  },
};

const unknownAttributes: Codec<number[]> = {
  decode(v) {
    if (v.length % 2 !== 0) return bad('odd length');
    const out: number[] = [];
    for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i));
    return ok(out);
  },
  size: (l) => l.length * 2,
  write: (l, out, at) => {
    l.forEach((t, i) => out.writeUInt16BE(t & 0xffff, at + 2 * i));
  },
};

const changeRequest: Codec<ChangeRequest> = {
  decode(v) {
    if (v.length !== 4) return bad('expected 4 bytes');
    const f = v.readUInt32BE(0);
    return ok({ changeIp: (f & CHANGE_IP) !== 0, changePort: (f & CHANGE_PORT) !== 0 });
  },
  size: () => 4,
  write: (c, out, at) => {
    out.writeUInt32BE((c.changeIp ? CHANGE_IP : 0) | (c.changePort ? CHANGE_PORT : 0), at);
  },
};

const evenPort: Codec<EvenPortValue> = {
  decode: (v) => (v.length === 1 ? ok({ reserve: (v[0] & 0x80) !== 0 }) : bad('expected 1 byte')),
  size: () => 1,
  write: (e, out, at) => {
    out[at] = e.reserve ? 0x80 : 0;
  },
};

const requestedTransport: Codec<number> = {
  decode: (v) => (v.length === 4 ? ok(v[0]) : bad('expected 4 bytes')),
  size: () => 4,
  write: (p, out, at) => {
    out.writeUInt32BE(0, at);
    out[at] = p & 0xff;
  },
};

const icmp: Codec<IcmpValue> = {
  decode: (v) => (v.length === 8 ? ok({ type: v[2] & 0x7f, code: v[3], data: v.readUInt32BE(4) }) : bad('expected 8 bytes')),
  size: () => 8,
  write: (i, out, at) => {
    out.writeUInt16BE(0, at);
    out[at + 2] = i.type & 0x7f;
    out[at + 3] = i.code & 0xff;
    out.writeUInt32BE(i.data >>> 0, at + 4);
  },
};

function readAlgorithm(v: Buffer, at: number): { value: PasswordAlgorithmValue; next: number } | undefined {
  if (v.length < at + 4) return undefined;
  const algorithm = v.readUInt16BE(at);
  const len = v.readUInt16BE(at + 2);
  const end = at + 4 + len;
  if (end > v.length) return undefined;
  return { value: { algorithm, params: v.subarray(at + 4, end) }, next: at + 4 + ((len + 3) & ~3) };
}
const algSize = (a: PasswordAlgorithmValue) => 4 + ((a.params.length + 3) & ~3);
function writeAlgorithm(a: PasswordAlgorithmValue, out: Buffer, at: number): number {
  out.writeUInt16BE(a.algorithm & 0xffff, at);
  out.writeUInt16BE(a.params.length, at + 2);
  out.set(a.params, at + 4);
  out.fill(0, at + 4 + a.params.length, at + algSize(a));
  return at + algSize(a);
}
const passwordAlgorithm: Codec<PasswordAlgorithmValue> = {
  decode(v) {
    const r = readAlgorithm(v, 0);
    return r && r.next >= v.length ? ok(r.value) : bad('malformed password algorithm');
  },
  size: algSize,
  write: (a, out, at) => {
    writeAlgorithm(a, out, at);
  },
};
const passwordAlgorithms: Codec<PasswordAlgorithmValue[]> = {
  decode(v) {
    const list: PasswordAlgorithmValue[] = [];
    let at = 0;
    while (at < v.length) {
      if (list.length >= 32) return bad('too many password algorithms');
      const r = readAlgorithm(v, at);
      if (!r) return bad('malformed password algorithms');
      list.push(r.value);
      at = r.next;
    }
    return ok(list);
  },
  size: (l) => l.reduce((n, a) => n + algSize(a), 0),
  write: (l, out, at) => {
    let p = at;
    for (const a of l) p = writeAlgorithm(a, out, p);
  },
};

const codecs: { [K in KnownAttrType]: Codec<AttrValues[K]> } = {
  [Attr.MappedAddress]: plainAddress,
  [Attr.ResponseAddress]: plainAddress,
  [Attr.ChangeRequest]: changeRequest,
  [Attr.SourceAddress]: plainAddress,
  [Attr.ChangedAddress]: plainAddress,
  [Attr.Username]: text(513),
  [Attr.Password]: bytes(0, 4096),
  [Attr.MessageIntegrity]: bytes(20, 20),
  [Attr.ErrorCode]: errorCode,
  [Attr.UnknownAttributes]: unknownAttributes,
  [Attr.ReflectedFrom]: plainAddress,
  [Attr.ChannelNumber]: u16Rffu,
  [Attr.Lifetime]: u32,
  [Attr.XorPeerAddress]: xorAddress,
  [Attr.Data]: bytes(0, 65535),
  [Attr.Realm]: text(763),
  [Attr.Nonce]: text(763),
  [Attr.XorRelayedAddress]: xorAddress,
  [Attr.RequestedAddressFamily]: familyCodec,
  [Attr.EvenPort]: evenPort,
  [Attr.RequestedTransport]: requestedTransport,
  [Attr.DontFragment]: empty,
  [Attr.AccessToken]: bytes(0, 65535),
  [Attr.MessageIntegritySha256]: bytes(16, 32, 4),
  [Attr.PasswordAlgorithm]: passwordAlgorithm,
  [Attr.Userhash]: bytes(32, 32),
  [Attr.XorMappedAddress]: xorAddress,
  [Attr.ReservationToken]: bytes(8, 8),
  [Attr.Priority]: u32,
  [Attr.UseCandidate]: empty,
  [Attr.Padding]: bytes(0, 65535),
  [Attr.ResponsePort]: u16Rffu,
  [Attr.ConnectionId]: u32,
  [Attr.AdditionalAddressFamily]: familyCodec,
  [Attr.AddressErrorCode]: addressErrorCode,
  [Attr.PasswordAlgorithms]: passwordAlgorithms,
  [Attr.AlternateDomain]: text(255),
  [Attr.Icmp]: icmp,
  [Attr.Software]: text(763),
  [Attr.AlternateServer]: plainAddress,
  [Attr.Fingerprint]: u32,
  [Attr.IceControlled]: u64,
  [Attr.IceControlling]: u64,
  [Attr.ResponseOrigin]: plainAddress,
  [Attr.OtherAddress]: plainAddress,
};

export function isKnownAttribute(type: number): type is KnownAttrType {
  return Object.prototype.hasOwnProperty.call(codecs, type);
}

/** Decodes one attribute value. xorKey: the 16 header bytes 4..20 of the message. */
export function decodeAttributeValue<K extends KnownAttrType>(type: K, value: Buffer, xorKey: Buffer): Result<AttrValues[K]> {
  const codec = isKnownAttribute(type) ? (codecs[type] as Codec<AttrValues[K]>) : undefined;
  return codec ? codec.decode(value, xorKey) : bad('unknown attribute type');
}

/** Encoded length of an attribute value, without header and padding. */
export function attributeValueSize(a: OutAttribute): number {
  if ('raw' in a) return a.raw.length;
  return (codecs[a.type] as Codec<unknown>).size(a.value);
}

export function writeAttributeValue(a: OutAttribute, out: Buffer, at: number, xorKey: Buffer): void {
  if ('raw' in a) {
    out.set(a.raw, at);
    return;
  }
  (codecs[a.type] as Codec<unknown>).write(a.value, out, at, xorKey);
}
