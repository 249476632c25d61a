import { defineEvent, type AnyClusterEventClass } from './events';

// ---------------------------------------------------------------- registrations (location service)

/** A contact bound to an address of record (RFC 3261 10, with RFC 5626 instance/reg-id). */
export interface ContactBindingData {
  aor: string;
  /** Contact URI as registered. */
  contact: string;
  /** Absolute expiry, ms since the epoch. */
  expiresAt: number;
  /** q-value 0..1 (default 1). */
  q: number;
  /** +sip.instance (RFC 5626), without angle brackets. */
  instance?: string;
  /** reg-id (RFC 5626). */
  regId?: number;
  /** Node that holds the flow to the UA (the edge proxy of RFC 5626). */
  node: string;
  /** Flow token on that node (connection id / source 5-tuple), when the UA keeps a flow. */
  flow?: string;
  callId: string;
  cseq: number;
  /** Source address the REGISTER came from (ip:port), for NAT handling. */
  received?: string;
  transport?: string;
  path?: string[];
  userAgent?: string;
  /** Whether the UA looked to be behind a NAT. */
  behindNat?: boolean;
}

export type RegistrationRemovedReason = 'unregistered' | 'forced' | 'flow-failed' | 'replaced';

/** Identity of a binding within its AOR: instance+reg-id, else instance, else the contact URI. */
export function bindingKey(b: { contact: string; instance?: string | undefined; regId?: number | undefined }): string {
  if (b.instance !== undefined && b.regId !== undefined) return `${b.instance}#${b.regId}`;
  if (b.instance !== undefined) return b.instance;
  return b.contact;
}

const byAor = { aggregate: (d: { aor: string }) => d.aor };
export const RegistrationAdded = defineEvent<ContactBindingData>('registration.added', 1, byAor);
export const RegistrationRefreshed = defineEvent<ContactBindingData>('registration.refreshed', 1, byAor);
export const RegistrationRemoved = defineEvent<{ aor: string; key?: string; reason: RegistrationRemovedReason }>(
  'registration.removed',
  1,
  byAor,
);
/** Emitted once across the cluster; `basedOn` is the id of the add/refresh it expires (a later refresh wins). */
export const RegistrationExpired = defineEvent<{ aor: string; key: string; basedOn: string }>('registration.expired', 1, byAor);

// ---------------------------------------------------------------- NAT bindings

export interface NatBindingData {
  id: string;
  aor?: string;
  transport: string;
  /** Public (reflexive) address seen by the server, ip:port. */
  publicAddress: string;
  /** Private address the UA announced, ip:port. */
  privateAddress?: string;
  node: string;
  expiresAt: number;
  /** Contact URI of the registration. */
  contact?: string;
  /** Whether calls of the client need the media relay. */
  relay?: boolean;
  /** First registered, ms since the epoch. */
  registeredAt?: number;
  /** Last registration, ms since the epoch. */
  lastSeen?: number;
  /** Seconds between the client's last two registrations (its re-registration rate). */
  rate?: number;
  /** The flow the client registered on (connection id or UDP 5-tuple): the holding node takes its rows back after a restart. */
  flow?: string;
  /** Binding key in the location service (a local registration behind NAT). */
  key?: string;
  /** Why the client was seen behind NAT. */
  reasons?: string[];
  /** A registration proxied to another domain's registrar: what the holding node needs to take it back. */
  proxied?: ProxiedBindingData;
}

/** How a node stays on the path of a client it proxied a registration for. */
export interface ProxiedBindingData {
  /** The domain whose registrar holds the registration. */
  domain: string;
  /** Signed flow token of the Path value or rewritten contact. */
  token: string;
  via: 'path' | 'contact';
  behindNat: boolean;
}

/** A re-registration: the new expiry, and what else it changed. */
export interface NatBindingRefreshedData {
  id: string;
  expiresAt: number;
  lastSeen?: number;
  rate?: number;
  contact?: string;
  relay?: boolean;
  flow?: string;
  /** A proxied registration's new token and path mode. */
  token?: string;
  via?: 'path' | 'contact';
}
const byId = { aggregate: (d: { id: string }) => d.id };
export const NatBindingCreated = defineEvent<NatBindingData>('nat.binding-created', 1, byId);
export const NatBindingRefreshed = defineEvent<NatBindingRefreshedData>('nat.binding-refreshed', 1, byId);
export const NatBindingReleased = defineEvent<{ id: string; reason: string }>('nat.binding-released', 1, byId);

// ---------------------------------------------------------------- calls

/** Call end reasons of the seed (Call Status page). */
export const CALL_END_REASONS = [
  'UNKNOWN',
  'NORMAL',
  'USER_UNREG',
  'USER_FORCED_UNREG',
  'PXC_CONN_LOST',
  'MESSAGE_IN_BAD_STATE',
  'RESERVE_MEDIA_FAILED',
  'JOIN_MEDIA_FAILED',
  'IO_FAIL_SENDING_MSG',
  'NO_RESPONSE_TO_INVITE',
  'INVITE_REJECTED',
  'ME_TUN_CONN_FAIL',
  'NO_RESPONSE_TO_OK',
  'BAD_SDP',
  'FORCED_DOWN_UNREGD',
  'TUNNEL_DOWN',
  'CONN_FAILED_IN_PXS',
  'CALL_ENDED_BY_ME',
  'PXS_LOST_CONN_TO_ME',
  'CALL_REL_TIMEOUT',
  'BAD_SIP_MESSAGE',
  'SIP_AUTHENTICATION_FAILURE',
  'SIP_USER_NOT_FOUND',
  'EXTERNAL_SERVER_UNAVAILABLE',
  'USER_BUSY',
  'EXTERNAL_TIMEOUT',
  'USER_REJECTED',
  'HANGING_CALL',
  'CLIENT_CONNECTION_LOST',
  'USER_TEMPORARILY_UNAVAILABLE',
  'NOT_END_TO_END_MEDIA',
  'INCOMPATIBLE_MEDIA',
  'OAM_CLOSED',
  'REFERRED_OUT',
  'CONFERENCE_OWNER_LEFT',
  'ME_LOST_CONN_TO_CLIENT',
  'FAILED_TO_SET_ME_FORMATS',
  'ME_TUN_CONN_LOST',
  'FAILED_TO_CONN_USERS',
  'MEDIA_FAILED_SIP_OK',
  'CALLER_CANCELLED',
  'MAX_CALL_CAP_REACHED',
  'SOCKET_FAILURE',
] as const;
export type CallEndReason = (typeof CALL_END_REASONS)[number];
/** End reasons shown as successful (white) calls; the others are failed (red). */
export const SUCCESSFUL_END_REASONS: ReadonlySet<CallEndReason> = new Set(['NORMAL', 'REFERRED_OUT', 'CONFERENCE_OWNER_LEFT']);

export interface CallParty {
  /** User ID: the address of record. */
  userId: string;
  /** RealTunnel ID of a tunnelled client. */
  tunnelId?: string;
  publicAddress?: string;
  country?: string;
}
export interface CallStartedData {
  callId: string;
  node: string;
  caller: CallParty;
  callee: CallParty;
  startedAt: number;
}
const byCall = { aggregate: (d: { callId: string }) => d.callId };
export const CallStarted = defineEvent<CallStartedData>('call.started', 1, byCall);
export const CallAnswered = defineEvent<{ callId: string; answeredAt: number }>('call.answered', 1, byCall);
export const CallEnded = defineEvent<{ callId: string; endedAt: number; reason: CallEndReason; sipStatus?: number }>(
  'call.ended',
  1,
  byCall,
);

// ---------------------------------------------------------------- tunnel clients

export interface TunnelClientData {
  /** RealTunnel ID. */
  clientId: string;
  /** SIP user ID the client is logged in as. */
  userId: string;
  country?: string;
  region?: string;
  version?: string;
  publicAddress: string;
  transport: string;
  node: string;
  connectedAt: number;
}
const byClient = { aggregate: (d: { clientId: string }) => d.clientId };
export const TunnelClientConnected = defineEvent<TunnelClientData>('tunnel.client-connected', 1, byClient);
export const TunnelClientDisconnected = defineEvent<{ clientId: string; reason: string }>('tunnel.client-disconnected', 1, byClient);

// ---------------------------------------------------------------- media engines

export interface MediaEngineData {
  name: string;
  address: string;
  node: string;
  version?: string;
  /** Region the engine serves (DE, US-CA), for TURN redirect by client location. */
  region?: string;
  /** IPv6 address of the same TURN listeners (same ports), for IPv6 clients. */
  address6?: string;
  /** TURN listener ports on `address`; absent or 0: not offered. */
  turn?: { udp?: number; tcp?: number; tls?: number };
  /** Secondary STUN server (IP B of RFC 3489/5780): address, port one and two, change-IP control port. */
  stun?: { address: string; ports: number[]; control?: number };
}
const mediaEngines = { aggregate: () => 'media-engines' };
export const MediaEngineUp = defineEvent<MediaEngineData>('media-engine.up', 1, mediaEngines);
export const MediaEngineLost = defineEvent<{ name: string; reason: string }>('media-engine.lost', 1, mediaEngines);

// ---------------------------------------------------------------- event table

export type Severity = 'severe' | 'warning' | 'info';
const eventTable = { aggregate: () => 'event-table' };
export const EventRaised = defineEvent<{ name: string; severity: Severity; info: string; node: string; raisedAt: number }>(
  'event.raised',
  1,
  eventTable,
);
export const EventCleared = defineEvent<{ name: string; node: string; clearedAt: number }>('event.cleared', 1, eventTable);

// ---------------------------------------------------------------- configuration

const configuration = { aggregate: () => 'configuration' };
/** A change of one configuration path (dotted), with the new value (JSON). Written by the master, fenced. */
export const ConfigurationChanged = defineEvent<{ path: string; value: unknown; by?: string }>('configuration.changed', 1, configuration);

export const CLUSTER_EVENTS: readonly AnyClusterEventClass[] = [
  RegistrationAdded,
  RegistrationRefreshed,
  RegistrationRemoved,
  RegistrationExpired,
  NatBindingCreated,
  NatBindingRefreshed,
  NatBindingReleased,
  CallStarted,
  CallAnswered,
  CallEnded,
  TunnelClientConnected,
  TunnelClientDisconnected,
  MediaEngineUp,
  MediaEngineLost,
  EventRaised,
  EventCleared,
  ConfigurationChanged,
];
