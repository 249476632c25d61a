/**
 * The SDP model: a session description is its session-level lines and its media sections,
 * each an ordered list of `<type>=<value>` lines exactly as received. Nothing is dropped or
 * reordered, so unknown line types and attributes survive a round trip; typed views of the
 * lines a relay cares about are read with the accessors in `accessors.ts`.
 */
export interface SdpLine {
  /** One case-significant letter: v, o, s, i, u, e, p, c, b, t, r, z, k, a, m or an unknown one. */
  readonly type: string;
  /** Everything after `=`, without the line end. */
  readonly value: string;
}

export interface MediaSection {
  /** The media section's lines; `lines[0]` is its m= line. */
  readonly lines: readonly SdpLine[];
}

export interface SessionDescription {
  /** Session-level lines, starting with v=, o=, s=. */
  readonly session: readonly SdpLine[];
  readonly media: readonly MediaSection[];
}

/** o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> */
export interface Origin {
  readonly username: string;
  readonly sessionId: string;
  readonly sessionVersion: bigint;
  readonly netType: string;
  readonly addrType: string;
  readonly address: string;
}

/** c=<nettype> <addrtype> <connection-address>[/<ttl>][/<number of addresses>] */
export interface Connection {
  readonly netType: string;
  readonly addrType: string;
  readonly address: string;
  /** IP4 multicast only. */
  readonly ttl?: number;
  readonly numberOfAddresses?: number;
}

/** m=<media> <port>[/<number of ports>] <proto> <fmt> ... */
export interface MediaDescription {
  readonly media: string;
  readonly port: number;
  readonly numberOfPorts?: number;
  readonly proto: string;
  readonly formats: readonly string[];
}

/** a=<name>[:<value>] */
export interface Attribute {
  readonly name: string;
  /** Undefined for a property attribute (a flag such as a=rtcp-mux). */
  readonly value?: string;
}

/** a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>] */
export interface Rtpmap {
  readonly payloadType: number;
  readonly encodingName: string;
  readonly clockRate: number;
  readonly encodingParameters?: string;
}

/** a=fmtp:<format> <format specific parameters> */
export interface Fmtp {
  readonly format: string;
  /** The parameters as written. */
  readonly parameters: string;
  /** `;`-separated `name=value` pairs of `parameters` (a pair without `=` has value ''). */
  readonly pairs: readonly (readonly [string, string])[];
}

/** a=rtcp:<port> [<nettype> <addrtype> <connection-address>] (RFC 3605) */
export interface Rtcp {
  readonly port: number;
  readonly netType?: string;
  readonly addrType?: string;
  readonly address?: string;
}

export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay' | (string & {});

/** a=candidate (RFC 8839 section 5.1) */
export interface Candidate {
  readonly foundation: string;
  readonly component: number;
  readonly transport: string;
  readonly priority: number;
  readonly address: string;
  readonly port: number;
  readonly type: CandidateType;
  readonly relatedAddress?: string;
  readonly relatedPort?: number;
  /** Extension attributes (e.g. generation 0, tcptype passive) in order. */
  readonly extensions: readonly (readonly [string, string])[];
}

/** a=fingerprint:<hash-func> <fingerprint> (RFC 8122) */
export interface Fingerprint {
  readonly hashFunction: string;
  /** Upper-case hex pairs separated by colons, as written. */
  readonly fingerprint: string;
}

/** a=setup (RFC 4145) */
export type Setup = 'active' | 'passive' | 'actpass' | 'holdconn';

/** RFC 3264 direction attributes. */
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface IceCredentials {
  readonly ufrag: string;
  readonly pwd: string;
}

export type SdpErrorCode =
  | 'too-large'
  | 'too-many-lines'
  | 'invalid-character'
  | 'malformed-line'
  | 'missing-version'
  | 'bad-version'
  | 'missing-origin'
  | 'bad-origin'
  | 'missing-session-name'
  | 'bad-connection'
  | 'bad-media';

export interface SdpParseOptions {
  /** Largest accepted body in bytes (default 65535). */
  readonly maxBytes?: number;
  /** Largest accepted number of lines (default 1024). */
  readonly maxLines?: number;
}
