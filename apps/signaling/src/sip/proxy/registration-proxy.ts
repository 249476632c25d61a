/**
 * Registrations proxied to the registrar of another domain (the traversal server's main job: a
 * client behind NAT registers with its own SIP server through this node and is reached through
 * it). The pure parts and the table of such registrations this node holds:
 *
 *  - the Domain Registration Policy (sip.domainRegistrationPolicy): which domains a REGISTER may
 *    be proxied to. Empty: every domain. An entry names one domain, compared without case (and
 *    without a trailing dot); an entry `*.example.com` names the subdomains of example.com
 *    (not example.com itself: list both for both). A subdomain does not match a plain entry, so a
 *    listed domain does not open the registrars of every name under it.
 *  - how this node stays on the path of requests for the client (RFC 3327 section 5.2: an
 *    intermediate proxy SHOULD NOT add Path unless the UA indicated support with `Supported:
 *    path`): when the REGISTER says `Supported: path`, this node adds a Path value carrying a
 *    signed flow token of the client's flow; otherwise it rewrites each Contact to a URI of this
 *    node that carries the flow token and the original contact (so registrars without Path
 *    support send requests for the client here too), and puts the original contacts back into
 *    the registrar's 2xx for the client.
 *  - the table: bindings the registrar's 2xx granted (contact expires, else Expires), refreshed by
 *    re-registrations, removed on unregistration (expires 0, Contact *, or a 2xx that no longer
 *    lists them) or expiry. Entries go to the cluster as NAT binding events (Proxy Registrations).
 */
import { formatUri, parseUri, type Contact, type SipResponse, type SipUri } from '@traverse/sip';
import { decodeFlowToken, encodeFlowToken, flowTokenVerifies, type FlowToken } from './routing';
import type { ProxyTransportName } from './local-addresses';

/** URI parameter of this node's Path values and rewritten contacts: the client's flow, signed. */
export const REGISTERED_FLOW_PARAM = 'tvr';
/** URI parameter of a rewritten contact: the client's own contact URI (base64url). */
export const ORIGINAL_CONTACT_PARAM = 'tvc';
/** Registration time assumed when a 2xx names none for a contact (RFC 3261 10.2.1.1 default). */
const DEFAULT_EXPIRES = 3600;
/** Longest original contact carried in a rewritten one. */
const MAX_CONTACT = 1024;

function normDomain(d: string): string {
  const l = d.trim().toLowerCase();
  return l.endsWith('.') ? l.slice(0, -1) : l;
}

/** Whether the Domain Registration Policy lets a REGISTER for `domain` through this node (see above). */
export function domainPolicyAllows(policy: readonly string[], domain: string): boolean {
  if (policy.length === 0) return true;
  const d = normDomain(domain);
  for (const entry of policy) {
    const e = normDomain(entry);
    if (e.startsWith('*.')) {
      if (d.endsWith(e.slice(1)) && d.length > e.length - 1) return true;
    } else if (e === d) return true;
  }
  return false;
}

/** This node as the registrar side sees it: advertised host (IPv6 bracketed), port and transport of the hop. */
export interface RegistrarSide {
  host: string;
  port: number;
  transport: ProxyTransportName;
}

function sideUri(side: RegistrarSide, params: Map<string, string | null>, user?: string): SipUri {
  const p = new Map<string, string | null>();
  if (side.transport !== 'UDP') p.set('transport', side.transport.toLowerCase());
  for (const [k, v] of params) p.set(k, v);
  return { kind: 'sip', scheme: 'sip', ...(user !== undefined ? { user } : {}), host: side.host, port: side.port, params: p, headers: new Map() };
}

/** The Path value of this node for a client's flow (RFC 3327; `ob` when the client uses outbound, RFC 5626 5.1). */
export function pathValue(side: RegistrarSide, token: string, outbound: boolean): string {
  const params = new Map<string, string | null>([['lr', null], [REGISTERED_FLOW_PARAM, token]]);
  if (outbound) params.set('ob', null);
  return '<' + formatUri(sideUri(side, params)) + '>';
}

/** A contact rewritten to this node: its URI names this node, the flow token and the original URI. */
export function rewrittenContactUri(original: SipUri, side: RegistrarSide, token: string): SipUri {
  const text = Buffer.from(formatUri(original), 'utf8').toString('base64url');
  return sideUri(side, new Map([[REGISTERED_FLOW_PARAM, token], [ORIGINAL_CONTACT_PARAM, text]]), original.user);
}

/** The original contact a rewritten contact URI carries; undefined when it carries none (or a bad one). */
export function originalContact(uri: SipUri): SipUri | undefined {
  const text = uri.params.get(ORIGINAL_CONTACT_PARAM);
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_CONTACT * 2 || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  const parsed = parseUri(Buffer.from(text, 'base64url').toString('utf8'));
  return parsed.ok && parsed.value.kind === 'sip' ? parsed.value : undefined;
}

/** Serialises one Contact value with another URI, keeping its display name and parameters. */
export function contactWithUri(c: Contact, uri: SipUri): string {
  let params = '';
  for (const [k, v] of c.params) params += v === null ? `;${k}` : `;${k}=${v}`;
  return '<' + formatUri(uri) + '>' + params;
}

/** The flow token of this node's Path value or rewritten contact, when its MAC verifies under the secret. */
export function registeredFlow(value: string | null | undefined, secret: Buffer): FlowToken | undefined {
  const f = decodeFlowToken(value);
  if (f === undefined || !flowTokenVerifies(f, secret)) return undefined;
  return f;
}

/** A flow token's text with its MAC (what a Path value or rewritten contact carries). */
export function signedToken(f: FlowToken, mac: string): string {
  return encodeFlowToken({ ...f, mac });
}

/** Key of a contact URI (scheme, user, host in lower case, port, parameters as written). */
export function contactKey(u: SipUri): string {
  return formatUri({ ...u, host: u.host.toLowerCase(), headers: new Map() });
}

/** What a registrar's 2xx granted to the contacts a REGISTER sent: contact key -> seconds (0: gone). */
export function grantedContacts(requested: readonly SipUri[], res: SipResponse, restore: (u: SipUri) => SipUri | undefined): Map<string, { uri: SipUri; expires: number }> {
  const out = new Map<string, { uri: SipUri; expires: number }>();
  for (const u of requested) out.set(contactKey(u), { uri: u, expires: 0 });
  const contacts = res.contacts();
  if (!contacts.ok || contacts.value.star) return out;
  const header = res.expires();
  const fallback = header.ok && header.value !== undefined ? header.value : DEFAULT_EXPIRES;
  for (const c of contacts.value.contacts) {
    if (c.uri.kind !== 'sip') continue;
    const original = restore(c.uri) ?? c.uri;
    const k = contactKey(original);
    const want = out.get(k);
    if (want === undefined) continue; // another device's binding at the registrar
    want.expires = c.expires ?? fallback;
  }
  return out;
}

/** One registration proxied through this node (a row of the Proxy Registrations table). */
export interface ProxiedRegistration {
  /** Identity across the cluster: `proxied <aor> <contact>`. */
  id: string;
  aor: string;
  /** The client's own contact. */
  contact: string;
  /** The domain whose registrar holds it. */
  domain: string;
  transport: ProxyTransportName;
  /** Where the client is reached: its source address, ip:port (IPv6 in brackets). */
  publicAddress: string;
  /** The address it announced for itself, when it differs (behind NAT). */
  privateAddress?: string;
  /** The flow its REGISTER came on (connection id or UDP 5-tuple). */
  flow: string;
  /** Signed flow token of the Path value or rewritten contact. */
  token: string;
  behindNat: boolean;
  /** How this node stays on the client's path. */
  via: 'path' | 'contact';
  relay: boolean;
  registeredAt: number;
  lastSeen: number;
  /** Seconds between its last two registrations; until it re-registers, the time granted. */
  rate: number;
  expiresAt: number;
}

export type ProxiedRegistrationEvent =
  | { type: 'created'; entry: ProxiedRegistration }
  | { type: 'refreshed'; entry: ProxiedRegistration }
  | { type: 'released'; entry: ProxiedRegistration; reason: string };

/** What a 2xx of a proxied REGISTER tells the table: the client's side of its rows, and what the registrar granted. */
export interface RegistrationAnswer
  extends Pick<ProxiedRegistration, 'aor' | 'domain' | 'transport' | 'publicAddress' | 'privateAddress' | 'flow' | 'token' | 'behindNat' | 'via' | 'relay'> {
  /** Contact * with Expires 0: every binding of the AOR held here goes. */
  star: boolean;
  granted: Map<string, { uri: SipUri; expires: number }>;
}

/**
 * Keep-alives of proxied clients behind NAT: the registration is the home registrar's, but the
 * NAT binding requests come through is this node's to keep open, as for local registrations. A
 * keep-alive is a CRLF pair (UDP, TCP, TLS) or a WebSocket ping on the client's flow.
 */
export interface ProxiedKeepAlive {
  /** Time between keep-alives to one client (ms); 0: none. Read at each tick. */
  intervalMs(): number;
  /** Sends one on the flow; false when the flow is gone. */
  ping(flow: string): boolean;
}

/** The registrations this node proxied to other domains' registrars. */
export class ProxiedRegistrations {
  private readonly entries = new Map<string, ProxiedRegistration>();
  /** When the last keep-alive went to each entry behind NAT (by id). */
  private readonly pingedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Set by the node once its transport and keep-alive settings exist. */
  keepAlive: ProxiedKeepAlive | undefined;

  constructor(
    private readonly onEvent: (e: ProxiedRegistrationEvent) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  list(now = this.now()): ProxiedRegistration[] {
    return [...this.entries.values()].filter((e) => e.expiresAt > now).map((e) => ({ ...e }));
  }

  /** A live entry of the client at this flow's address (requests for it go on the connection it registered on). */
  byFlowToken(f: FlowToken, now = this.now()): ProxiedRegistration | undefined {
    const at = f.address.includes(':') ? `[${f.address}]:${f.port}` : `${f.address}:${f.port}`;
    for (const e of this.entries.values()) if (e.publicAddress === at && e.transport === f.transport && e.expiresAt > now) return e;
    return undefined;
  }

  /**
   * The token under which the registrar holds this rewritten contact of the AOR, when it is not
   * `token` (the client's flow changed, e.g. its NAT rebound): that binding is to be removed.
   */
  staleToken(aor: string, contactKey: string, token: string, now = this.now()): string | undefined {
    const e = this.entries.get(`proxied ${aor} ${contactKey}`);
    return e !== undefined && e.via === 'contact' && e.expiresAt > now && e.token !== token ? e.token : undefined;
  }

  /** Whether a client registered through this node from this flow or address (security level registration). */
  registeredFrom(aor: string, address: string, flow: string, now = this.now()): boolean {
    for (const e of this.entries.values()) if (e.aor === aor && e.expiresAt > now && (e.flow === flow || e.publicAddress === address)) return true;
    return false;
  }

  /** Applies a registrar's 2xx; returns the entries of the AOR held here after it. */
  answered(a: RegistrationAnswer): ProxiedRegistration[] {
    const now = this.now();
    if (a.star) {
      for (const e of [...this.entries.values()]) if (e.aor === a.aor) this.release(e, 'unregistered');
      return [];
    }
    for (const [key, g] of a.granted) {
      const id = `proxied ${a.aor} ${key}`;
      const old = this.entries.get(id);
      if (g.expires <= 0) {
        if (old) this.release(old, 'unregistered');
        continue;
      }
      const expiresAt = now + g.expires * 1000;
      if (old !== undefined && old.publicAddress === a.publicAddress && old.transport === a.transport) {
        old.rate = Math.max(0, Math.round((now - old.lastSeen) / 1000));
        old.lastSeen = now;
        old.expiresAt = expiresAt;
        old.flow = a.flow;
        old.token = a.token;
        old.via = a.via;
        old.relay = a.relay;
        this.onEvent({ type: 'refreshed', entry: old });
        continue;
      }
      if (old !== undefined) this.release(old, 'moved');
      const e: ProxiedRegistration = {
        id,
        aor: a.aor,
        contact: key,
        domain: a.domain,
        transport: a.transport,
        publicAddress: a.publicAddress,
        ...(a.privateAddress !== undefined ? { privateAddress: a.privateAddress } : {}),
        flow: a.flow,
        token: a.token,
        behindNat: a.behindNat,
        via: a.via,
        relay: a.relay,
        registeredAt: old?.registeredAt ?? now,
        lastSeen: now,
        rate: g.expires,
        expiresAt,
      };
      this.entries.set(id, e);
      this.onEvent({ type: 'created', entry: e });
    }
    return [...this.entries.values()].filter((e) => e.aor === a.aor);
  }

  /**
   * Takes back the registrations this node proxied before it restarted (its rows of the cluster's
   * table): a client on UDP gets its keep-alives again and its requests still come through its
   * token; one on a connection, which closed with the restart, is released (flow failure, as when
   * a connection closes). Entries the node already holds again are left as they are.
   */
  adopt(entries: readonly ProxiedRegistration[]): void {
    const now = this.now();
    for (const e of entries) {
      if (this.entries.has(e.id)) continue;
      this.entries.set(e.id, e);
      if (e.expiresAt <= now) this.release(e, 'expired');
      else if (e.transport !== 'UDP') this.release(e, 'flow-failed');
    }
  }

  /** Forgets expired entries (the registrar forgot them too) and sends the keep-alives that are due. */
  tick(now = this.now()): void {
    const interval = this.keepAlive?.intervalMs() ?? 0;
    for (const e of [...this.entries.values()]) {
      if (e.expiresAt <= now) {
        this.release(e, 'expired');
        continue;
      }
      if (interval <= 0 || !e.behindNat || now - (this.pingedAt.get(e.id) ?? e.lastSeen) < interval) continue;
      this.pingedAt.set(e.id, now);
      // a UDP "flow" is an address and stays; a closed connection means nothing reaches the client
      if (!this.keepAlive!.ping(e.flow) && e.transport !== 'UDP') this.release(e, 'flow-failed');
    }
  }

  /** The connection a client registered on closed: nothing reaches it through this node any more. */
  flowClosed(flow: string): void {
    for (const e of [...this.entries.values()]) if (e.flow === flow && e.transport !== 'UDP') this.release(e, 'flow-failed');
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private release(e: ProxiedRegistration, reason: string): void {
    if (this.entries.get(e.id) !== e) return;
    this.entries.delete(e.id);
    this.pingedAt.delete(e.id);
    this.onEvent({ type: 'released', entry: e, reason });
  }
}
