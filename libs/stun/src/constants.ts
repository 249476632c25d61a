/** STUN magic cookie (RFC 5389 section 6). */
export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
/** Default upper bound of one STUN message; larger input is refused before parsing. */
export const DEFAULT_MAX_MESSAGE_SIZE = 65_535 + HEADER_LENGTH;
export const DEFAULT_MAX_ATTRIBUTES = 64;
export const FINGERPRINT_XOR = 0x5354554e;

/** Message classes (RFC 8489 section 5). */
export const StunClass = {
  Request: 0,
  Indication: 1,
  SuccessResponse: 2,
  ErrorResponse: 3,
} as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

/** Methods: RFC 8489 Binding, RFC 3489 Shared Secret, RFC 8656 TURN, RFC 6062 TCP relay. */
export const StunMethod = {
  Binding: 0x001,
  SharedSecret: 0x002,
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
  Connect: 0x00a,
  ConnectionBind: 0x00b,
  ConnectionAttempt: 0x00c,
} as const;
export type StunMethod = (typeof StunMethod)[keyof typeof StunMethod];

/** Attribute types. */
export const Attr = {
  MappedAddress: 0x0001,
  ResponseAddress: 0x0002,
  ChangeRequest: 0x0003,
  SourceAddress: 0x0004,
  ChangedAddress: 0x0005,
  Username: 0x0006,
  Password: 0x0007,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  ReflectedFrom: 0x000b,
  ChannelNumber: 0x000c,
  Lifetime: 0x000d,
  XorPeerAddress: 0x0012,
  Data: 0x0013,
  Realm: 0x0014,
  Nonce: 0x0015,
  XorRelayedAddress: 0x0016,
  RequestedAddressFamily: 0x0017,
  EvenPort: 0x0018,
  RequestedTransport: 0x0019,
  DontFragment: 0x001a,
  AccessToken: 0x001b,
  MessageIntegritySha256: 0x001c,
  PasswordAlgorithm: 0x001d,
  Userhash: 0x001e,
  XorMappedAddress: 0x0020,
  ReservationToken: 0x0022,
  Priority: 0x0024,
  UseCandidate: 0x0025,
  Padding: 0x0026,
  ResponsePort: 0x0027,
  ConnectionId: 0x002a,
  AdditionalAddressFamily: 0x8000,
  AddressErrorCode: 0x8001,
  PasswordAlgorithms: 0x8002,
  AlternateDomain: 0x8003,
  Icmp: 0x8004,
  Software: 0x8022,
  AlternateServer: 0x8023,
  TransactionTransmitCounter: 0x8025,
  CacheTimeout: 0x8027,
  Fingerprint: 0x8028,
  IceControlled: 0x8029,
  IceControlling: 0x802a,
  ResponseOrigin: 0x802b,
  OtherAddress: 0x802c,
} as const;
export type AttrType = (typeof Attr)[keyof typeof Attr];

/** Comprehension-required attributes are 0x0000-0x7FFF. */
export const isComprehensionRequired = (type: number): boolean => type < 0x8000;

/** STUN/TURN error codes (RFC 8489 section 14.8, RFC 8656 section 18.8 and 19, RFC 6062, RFC 6156). */
export const ErrorCode = {
  TryAlternate: 300,
  BadRequest: 400,
  Unauthenticated: 401,
  Forbidden: 403,
  MobilityForbidden: 405,
  UnknownAttribute: 420,
  AllocationMismatch: 437,
  StaleNonce: 438,
  AddressFamilyNotSupported: 440,
  WrongCredentials: 441,
  UnsupportedTransportProtocol: 442,
  PeerAddressFamilyMismatch: 443,
  ConnectionAlreadyExists: 446,
  ConnectionTimeoutOrFailure: 447,
  AllocationQuotaReached: 486,
  RoleConflict: 487,
  ServerError: 500,
  InsufficientCapacity: 508,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_REASONS: Readonly<Record<number, string>> = {
  300: 'Try Alternate',
  400: 'Bad Request',
  401: 'Unauthenticated',
  403: 'Forbidden',
  405: 'Mobility Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  446: 'Connection Already Exists',
  447: 'Connection Timeout or Failure',
  486: 'Allocation Quota Reached',
  487: 'Role Conflict',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

/** PASSWORD-ALGORITHM values (RFC 8489 section 18.5). */
export const PasswordAlgorithm = { MD5: 0x0001, SHA256: 0x0002 } as const;
export type PasswordAlgorithm = (typeof PasswordAlgorithm)[keyof typeof PasswordAlgorithm];

/** IANA protocol numbers for REQUESTED-TRANSPORT. */
export const TransportProtocol = { UDP: 17, TCP: 6 } as const;

/** Address family codes in address attributes and REQUESTED-ADDRESS-FAMILY. */
export const AddressFamily = { IPv4: 0x01, IPv6: 0x02 } as const;

/** CHANGE-REQUEST flags (RFC 3489 / RFC 5780). */
export const CHANGE_IP = 0x04;
export const CHANGE_PORT = 0x02;

/** TURN timers (RFC 8656). Seconds. */
export const TURN_DEFAULT_LIFETIME = 600;
export const TURN_MAX_LIFETIME = 3600;
export const TURN_PERMISSION_LIFETIME = 300;
export const TURN_CHANNEL_LIFETIME = 600;
/** After a channel binding expires the number and peer stay reserved this long (RFC 8656 section 12). */
export const TURN_CHANNEL_COOLDOWN = 300;
export const CHANNEL_MIN = 0x4000;
export const CHANNEL_MAX = 0x4fff;
/** RFC 5766 allowed 0x4000-0x7FFE; coturn-family clients still pick numbers up there. */
export const CHANNEL_MAX_RFC5766 = 0x7ffe;
