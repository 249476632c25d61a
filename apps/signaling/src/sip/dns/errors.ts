/** Typed failures of locating a SIP server: the proxy turns the code into a status (or tries elsewhere). */

export type SipDnsErrorCode =
  /** The names exist nowhere, or have none of the records asked for (NXDOMAIN, NODATA). */
  | 'no-records'
  /** DNS says the service is decidedly not available (SRV target "."). */
  | 'no-service'
  /** No answer in time from the DNS servers (after the configured tries). */
  | 'timeout'
  /** A DNS server failed to answer (SERVFAIL). */
  | 'servfail'
  /** A DNS server refused the query (REFUSED). */
  | 'refused'
  /** A DNS server could not be reached (connection refused). */
  | 'unreachable'
  /** A DNS answer could not be understood (malformed, truncated, not implemented). */
  | 'bad-response'
  /** The URI or Via names nothing that can be looked up (bad host name, bad port, sips with UDP). */
  | 'bad-uri'
  /** The URI asks for a transport this node does not open (SCTP, or one left out of its transports). */
  | 'unsupported-transport'
  /** The lookup was cancelled (the resolver was closed). */
  | 'cancelled'
  /** Any other DNS failure. */
  | 'dns-error';

/** One DNS query and how it ended, for the message of an error. */
export interface DnsQueryFailure {
  type: 'NAPTR' | 'SRV' | 'A' | 'AAAA';
  name: string;
  code: SipDnsErrorCode;
}

export class SipDnsError extends Error {
  override readonly name = 'SipDnsError';

  constructor(
    readonly code: SipDnsErrorCode,
    message: string,
    readonly details: { target?: string; queries?: readonly DnsQueryFailure[] } = {},
  ) {
    super(message);
  }

  /** The queries that failed on the way, in the order they were made. */
  get queries(): readonly DnsQueryFailure[] {
    return this.details.queries ?? [];
  }
}

/** The code of a node:dns error (ENOTFOUND, ETIMEOUT, ...). */
export function dnsErrorCode(e: unknown): SipDnsErrorCode {
  switch ((e as { code?: unknown } | undefined)?.code) {
    case 'ENOTFOUND':
    case 'ENODATA':
      return 'no-records';
    case 'ETIMEOUT':
      return 'timeout';
    case 'ESERVFAIL':
      return 'servfail';
    case 'EREFUSED':
      return 'refused';
    case 'ECONNREFUSED':
      return 'unreachable';
    case 'EBADRESP':
    case 'EFORMERR':
    case 'ENOTIMP':
    case 'EEOF':
      return 'bad-response';
    case 'EBADNAME':
    case 'EBADQUERY':
      return 'bad-uri';
    case 'ECANCELLED':
    case 'EDESTRUCTION':
      return 'cancelled';
    default:
      return 'dns-error';
  }
}

/** How a code reads in an error message. */
export function describeCode(code: SipDnsErrorCode): string {
  switch (code) {
    case 'no-records':
      return 'no records';
    case 'no-service':
      return 'service not available (SRV ".")';
    case 'timeout':
      return 'timed out';
    case 'servfail':
      return 'server failure';
    case 'refused':
      return 'refused';
    case 'unreachable':
      return 'DNS server unreachable';
    case 'bad-response':
      return 'bad DNS response';
    case 'bad-uri':
      return 'bad name';
    case 'unsupported-transport':
      return 'unsupported transport';
    case 'cancelled':
      return 'cancelled';
    case 'dns-error':
      return 'DNS error';
  }
}
