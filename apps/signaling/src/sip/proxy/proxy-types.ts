/** What the proxy needs from the node and tells it: options, collaborators, the call observer, logs and events. */
import type { SipMessage, SipRequest, SipResponse, SipUri, TransactionChannel, TransactionLayer, ServerTransaction } from '@traverse/sip';
import type { AuthLookup } from '@traverse/auth';
import type { LocationService } from '../registrar/location-service';
import type { SipSource } from '../transport/sip-transport';
import type { LocalAddresses } from './local-addresses';
import type { ProxyAuthenticator } from './proxy-auth';
import type { FlowToken, Hop } from './routing';
import type { SipTargetResolver } from './target-resolver';
import type { ProxiedRegistrations } from './registration-proxy';
import type { TelRouting } from './tel';

export interface ProxyOptions {
  /** forward: requests between external parties are forwarded; redirect: they are answered 302 with the target. */
  mode: 'forward' | 'redirect';
  /** Recurse on 3xx responses (true) or pass them upstream (false). */
  recurseOnRedirect: boolean;
  /** Fork to all contacts at once, or one after the other (best q first). */
  forking: 'parallel' | 'sequential';
  /** How long one contact rings before the next is tried, in sequential forking (ms). */
  sequentialForkingTimeMs: number;
  /** Domains a REGISTER may be proxied to (empty: every domain); see registration-proxy.ts for the matching rule. */
  domainRegistrationPolicy: readonly string[];
  /** Route requests from non-local users to non-local destinations through their home proxy. */
  homeRouting: boolean;
  /** The home proxy (a SIP URI or host[:port]); empty: the domain of the caller's From URI. */
  homeProxy: string;
  /** Record-Route every dialog-creating request (false: INVITE dialogs and parties that need their flow only). */
  alwaysRecordRoute: boolean;
  /** Highest Max-Forwards sent on (a request without one gets this value). */
  maxForwards: number;
  /** Timer C of INVITE branches (RFC 3261 16.8, > 3 min), ms. */
  timerCMs: number;
}

/** The parts of the SIP transport the proxy sends through. */
export interface ProxyTransport {
  send(msg: SipMessage, target: Hop, onError?: (reason: string) => void): boolean;
  channelTo(target: Hop, onError?: (reason: string) => void): TransactionChannel;
}

export interface ProxyLog {
  info(obj: object, msg: string): void;
  fine(obj: object, msg: string): void;
  finer(obj: object, msg: string): void;
  warning(obj: object, msg: string): void;
}

/** Who produced an INVITE's final response, and why, for the call's end reason. */
export interface InviteOutcome {
  status: number;
  /** here: this proxy answered (no user, refused, ...); local-user: a registered user's UA; external: another server. */
  origin: 'here' | 'local-user' | 'external';
  cause?: 'timeout' | 'transport' | 'flow-failed' | 'cancelled' | 'auth-failed' | 'max-calls' | 'routing';
}

export interface CalleeInfo {
  /** Address of record of the called user (To URI). */
  userId: string;
  /** IP the call goes to, when known when it starts. */
  publicAddress?: string;
  external: boolean;
}

/** The call table's view of the proxy: told about initial INVITEs, their answer or failure, ACK and BYE. */
export interface ProxyCallObserver {
  /** An initial INVITE about to be forwarded; false refuses it (max concurrent calls reached). */
  admit(req: SipRequest): boolean;
  /** Whether a call with this Call-ID is already followed (the INVITE spirals back through this node). */
  has(callId: string): boolean;
  started(req: SipRequest, source: SipSource, callee: CalleeInfo): void;
  /** The first 2xx of the INVITE (its Session-Expires, RFC 4028, bounds the call without a refresh). */
  answered(req: SipRequest, ok: SipResponse): void;
  /** A re-INVITE or UPDATE inside the call's dialog (a session refresh). */
  refreshed(req: SipRequest): void;
  /** The INVITE got a final non-2xx response, sent upstream. */
  failed(req: SipRequest, outcome: InviteOutcome): void;
  /** An initial INVITE this proxy refused before forwarding it (wrong credentials, no such user, max calls, routing). */
  refused(req: SipRequest, source: SipSource, outcome: InviteOutcome): void;
  ack(req: SipRequest): void;
  bye(req: SipRequest): void;
}

export type ProxyEvent =
  | { type: 'final'; method: string; status: number }
  | { type: 'branch'; method: string; outcome: 'response' | 'timeout' | 'transport-error' | 'flow-failed' | 'unresolved' }
  | { type: 'stateless'; kind: 'ack' | 'response' };

export interface ProxyDeps {
  transport: ProxyTransport;
  layer: TransactionLayer;
  location: LocationService;
  local: LocalAddresses;
  resolver: SipTargetResolver;
  /** This node's name (bindings record the node holding their flow). */
  nodeName: string;
  /** The registrar runs: the local domains' users are looked up in the location service. */
  registrarEnabled: boolean;
  /** Configured local domains (empty: any domain whose users registered here). */
  domains: readonly string[];
  /** Whether a URI is in a local domain or has a local number prefix (the registrar's rule). */
  isLocalDomain: (uri: SipUri) => boolean;
  /** Whether a user exists at all (404) or is just not registered (480). */
  userExists?: (user: string, source: SipSource) => AuthLookup | Promise<AuthLookup>;
  auth?: ProxyAuthenticator;
  calls?: ProxyCallObserver;
  /** Whether an RFC 5626 flow of this node (a connection id, or a UDP 5-tuple) is still open (default: yes). */
  flowAlive?: (flow: string) => boolean;
  /** The Route to another node of the cluster holding a party's flow (absent: bindings of other nodes are reached directly, or fail with 430 when only their flow reaches them). */
  routeToNode?: (node: string, flow: FlowToken) => string | undefined;
  /**
   * The cluster's relay secret: flow tokens this node hands to other nodes are signed with it, and a
   * request another node relays to a flow here is trusted (not authenticated again, not a call of
   * this node) only when its token verifies. Absent: tokens are neither signed nor trusted.
   */
  relaySecret?: Buffer;
  /** Registrations this node proxied to other domains (the table learns what their registrars granted). */
  registrations?: ProxiedRegistrations;
  /** Whether clients behind NAT need the media relay (media.relay is not 'none'). */
  relayNeeded?: () => boolean;
  /** Local number prefixes and domains, for tel: Request-URIs (absent: every tel: URI gets 404). */
  telRouting?: TelRouting;
  /** Answers an OPTIONS addressed to this node. */
  answerOptions: (tx: ServerTransaction) => void;
  log?: ProxyLog;
  onEvent?: (e: ProxyEvent) => void;
}
