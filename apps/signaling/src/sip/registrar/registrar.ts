/**
 * The registrar (RFC 3261 section 10.3) for the local domains, with Path (RFC 3327) and
 * outbound (RFC 5626) bindings, digest authentication through the authentication provider, and the
 * seed's security levels and trusted hosts. Takes a REGISTER, returns the response to send;
 * transactions and transports are the caller's.
 */
import {
  createResponse,
  formatUri,
  formatUriUser,
  parseTokenList,
  statelessTag,
  unsupportedExtensions,
  type Contact,
  type DigestAuthenticator,
  type DigestOutcome,
  type DigestSecret,
  type SipRequest,
  type SipResponse,
  type SipUri,
} from '@traverse/sip';
import type { AuthLookup } from '@traverse/auth';
import { bindingKey, type ContactBinding, type ContactBindingData, type LocationService } from './location-service';

export type SecurityLevel = 'full' | 'medium' | 'registration' | 'none';

export interface RegistrarOptions {
  /** Local SIP domains (empty: any domain is accepted). */
  domains: readonly string[];
  /** Local number prefixes: a numeric user starting with one is local whatever the domain. */
  prefixes: readonly string[];
  securityLevel: SecurityLevel;
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  rejectAcrossNat: boolean;
  /** This node's name, recorded on the bindings it holds flows for. */
  nodeName: string;
  location: LocationService;
  /** Digest authenticator for the realm; undefined only with security level none. */
  authenticator?: DigestAuthenticator;
  /** The user's credential, from the node's authentication provider (libs/auth). */
  credentials: (user: string, realm: string, source: RegisterSource) => AuthLookup | Promise<AuthLookup>;
  /** Sources not challenged (trusted hosts). */
  trusted: (ip: string, port: number) => boolean;
  /** Most bindings one AOR may hold (default 20). */
  maxContactsPerAor?: number;
  now?: () => number;
}

/** What the transport knows about where a REGISTER came from. */
export interface RegisterSource {
  transport: string;
  address: string;
  port: number;
  /** Flow token of the connection or UDP 5-tuple (RFC 5626). */
  flow: string;
  /** The source differs from the Via sent-by. */
  behindNat: boolean;
}

/** The outcome of one REGISTER, for logs and metrics. */
export interface RegisterOutcome {
  response: SipResponse;
  aor?: string;
  /** Why the request was refused, when it was; or what it did. */
  detail: string;
  /** Bindings after a successful request. */
  bindings?: ContactBinding[];
}

const SUPPORTED = ['path', 'outbound'];
const SUPPORTED_VALUE = SUPPORTED.join(', ');

/** Canonical AOR of a SIP URI (10.3 step 5): scheme sip, user and lower-case host, no port or parameters. */
export function canonicalAor(uri: SipUri): string {
  const host = uri.host.toLowerCase();
  return 'sip:' + (uri.user !== undefined ? formatUriUser(uri.user) + '@' + host : host);
}

/** The Date header value (RFC 3261 20.17) of a time: the same for a whole second, so it is made once a second. */
let dateSecond = -1;
let dateValue = '';
function dateHeader(now: number): string {
  const sec = Math.floor(now / 1000);
  if (sec !== dateSecond) {
    dateSecond = sec;
    dateValue = new Date(sec * 1000).toUTCString();
  }
  return dateValue;
}

/** The AOR named by an O&M user: `sip:alice@example.com`, `sips:...` or `alice@example.com`. */
export function aorFromText(text: string): string {
  const t = text.trim();
  const bare = t.replace(/^sips?:/i, '');
  const at = bare.lastIndexOf('@');
  return 'sip:' + (at >= 0 ? bare.slice(0, at) + '@' + bare.slice(at + 1).toLowerCase() : bare.toLowerCase());
}

/** The binding of an AOR with this key (an AOR holds a handful: a scan beats building a map). */
function bindingOf(bindings: readonly ContactBinding[], key: string): ContactBinding | undefined {
  for (const b of bindings) if (b.key === key) return b;
  return undefined;
}

/** A REGISTER of the same Call-ID as a binding must have a higher CSeq (10.3 step 7). */
function outOfOrder(b: ContactBinding | undefined, callId: string, cseq: number): boolean {
  return b !== undefined && b.callId === callId && cseq <= b.cseq;
}

/** Key of a contact URI: its text with scheme and host in lower case (so equal URIs written alike match). */
function contactText(c: Contact): string {
  const u = c.uri;
  if (u.kind === 'sip') return formatUri({ ...u, host: u.host.toLowerCase() });
  return formatUri(u);
}

export class Registrar {
  private readonly now: () => number;
  private readonly domains: Set<string>;

  constructor(private readonly opts: RegistrarOptions) {
    this.now = opts.now ?? Date.now;
    this.domains = new Set(opts.domains.map((d) => d.toLowerCase()));
  }

  /** Settings changed at run time (the SIP settings API): in force for the next REGISTER. */
  configure(s: Partial<Pick<RegistrarOptions, 'minExpires' | 'maxExpires' | 'defaultExpires' | 'rejectAcrossNat'>>): void {
    Object.assign(this.opts, s);
  }

  /** Whether a URI names a local user: local domain (any, when none is configured) or a local number prefix. */
  isLocal(uri: SipUri): boolean {
    if (this.domains.size === 0 || this.domains.has(uri.host.toLowerCase())) return true;
    const user = uri.user;
    if (user !== undefined && /^\+?[0-9]+$/.test(user)) return this.opts.prefixes.some((p) => user.startsWith(p));
    return false;
  }

  private reply(req: SipRequest, status: number, detail: string, extra: { reason?: string; headers?: Array<[string, string]>; aor?: string } = {}): RegisterOutcome {
    return {
      response: createResponse(req, status, { ...(extra.reason ? { reason: extra.reason } : {}), ...(extra.headers ? { headers: extra.headers } : {}) }),
      detail,
      ...(extra.aor ? { aor: extra.aor } : {}),
    };
  }

  /** Steps 1, 2 and 5 of 10.3, and the NAT policy: the outcome that refuses the request, or its AOR. */
  private screen(req: SipRequest, source: RegisterSource): RegisterOutcome | string {
    // 1. the Request-URI names a registrar domain of ours
    const ruri = req.uri;
    if (ruri.kind !== 'sip') return this.reply(req, 416, 'Request-URI not sip/sips');
    // 2. extensions the UA requires
    const unsupported = unsupportedExtensions(req, SUPPORTED, 'require');
    if (unsupported.length > 0) return this.reply(req, 420, `unsupported ${unsupported.join(', ')}`, { headers: [['Unsupported', unsupported.join(', ')]] });
    // 5. the address-of-record
    const to = req.to.uri;
    if (to.kind !== 'sip') return this.reply(req, 404, 'To is not a SIP URI', { reason: 'Not Found' });
    const aor = canonicalAor(to);
    if (!this.isLocal(to)) return this.reply(req, 403, `domain ${to.host} not served here`, { reason: 'Domain Not Served Here', aor });
    if (this.opts.rejectAcrossNat && source.behindNat) return this.reply(req, 403, 'registration across NAT rejected', { reason: 'Registration Across NAT Not Allowed', aor });
    return aor;
  }

  /** Whether registrations from clients behind NAT are refused (the verdict then decides a REGISTER's answer). */
  get rejectsAcrossNat(): boolean {
    return this.opts.rejectAcrossNat;
  }

  /** Whether a REGISTER from this source is challenged because it carries no credentials (cheap: no parsing beyond the header names). */
  wouldChallenge(req: SipRequest, address: string, port: number): boolean {
    const o = this.opts;
    return o.securityLevel !== 'none' && o.authenticator !== undefined && req.headerValues('authorization').length === 0 && !o.trusted(address, port);
  }

  /**
   * The 401 of a REGISTER without credentials, for sending without a transaction (RFC 3261 8.2.7:
   * a challenge needs no state; a retransmission is challenged again, with the same To tag).
   * Undefined when the request is not simply challenged: register() answers it then.
   */
  statelessChallenge(req: SipRequest, source: RegisterSource): RegisterOutcome | undefined {
    if (!this.wouldChallenge(req, source.address, source.port)) return undefined;
    const aor = this.screen(req, source);
    if (typeof aor !== 'string') return undefined;
    return this.challenge(req, source, this.now(), aor, 'challenged', false, statelessTag(req));
  }

  async register(req: SipRequest, source: RegisterSource): Promise<RegisterOutcome> {
    const o = this.opts;
    const now = this.now();
    const aor = this.screen(req, source);
    if (typeof aor !== 'string') return aor;
    // 3. authentication
    if (o.securityLevel !== 'none' && !o.trusted(source.address, source.port)) {
      const denied = await this.authenticate(req, source, now, aor);
      if (denied !== undefined) return denied;
    }
    // 6. the contacts
    const contacts = req.contacts();
    if (!contacts.ok) return this.reply(req, 400, contacts.error.reason, { reason: contacts.error.reason, aor });
    const expiresHeader = req.expires();
    if (!expiresHeader.ok) return this.reply(req, 400, expiresHeader.error.reason, { reason: expiresHeader.error.reason, aor });
    const current = o.location.lookup(aor, now);
    const upsert: ContactBindingData[] = [];
    const remove: string[] = [];
    const callId = req.callId;
    const cseq = req.cseq.seq;

    if (contacts.value.star) {
      if (expiresHeader.value !== 0 || req.headerValues('contact').length !== 1) return this.reply(req, 400, 'Contact * needs Expires: 0 and no other Contact', { reason: 'Invalid Contact *', aor });
      for (const b of current) {
        if (outOfOrder(b, callId, cseq)) return this.reply(req, 400, 'CSeq not above the binding', { reason: 'Invalid CSeq Number', aor });
        remove.push(b.key);
      }
    } else {
      const list = contacts.value.contacts;
      const pathValues = req.headerValues('path');
      const paths = pathValues.length > 0 ? req.paths() : undefined;
      if (paths !== undefined && !paths.ok) return this.reply(req, 400, paths.error.reason, { reason: paths.error.reason, aor });
      const pathList = paths?.value ?? [];
      const userAgent = req.header('user-agent');
      const received = source.address.includes(':') ? `[${source.address}]:${source.port}` : `${source.address}:${source.port}`;
      let flowRecorded = false;
      for (const c of list) {
        if (c.uri.kind === 'other' && c.uri.scheme === '') return this.reply(req, 400, 'bad Contact URI', { reason: 'Bad Contact', aor });
        if (c.uri.kind === 'sip' && c.uri.port === 0) return this.reply(req, 400, 'Contact with port 0 (no port to reach)', { reason: 'Bad Contact', aor });
        const wanted = c.expires ?? expiresHeader.value ?? o.defaultExpires;
        if (wanted !== 0 && wanted < o.minExpires) {
          return this.reply(req, 423, `expires ${wanted} below ${o.minExpires}`, { headers: [['Min-Expires', String(o.minExpires)]], aor });
        }
        const contact = contactText(c);
        const regId = c.instance !== undefined ? c.regId : undefined; // reg-id without +sip.instance is ignored (RFC 5626 6)
        const key = bindingKey({ contact, instance: c.instance, regId });
        const existing = bindingOf(current, key);
        if (outOfOrder(existing, callId, cseq)) return this.reply(req, 400, 'CSeq not above the binding', { reason: 'Invalid CSeq Number', aor });
        if (wanted === 0) {
          if (existing !== undefined) remove.push(key);
          continue;
        }
        let flow: string | undefined;
        if (regId !== undefined) {
          // RFC 5626 6: the registrar keeps the flow when it is the first hop, else an edge proxy must have marked Path with ob
          if (req.vias.length === 1) {
            flow = source.flow;
            flowRecorded = true;
          } else {
            const first = pathList[0];
            const ob = first !== undefined && first.uri.kind === 'sip' && first.uri.params.has('ob');
            if (!ob) return this.reply(req, 439, 'reg-id behind a proxy that does not support outbound', { aor });
            flowRecorded = true;
          }
        }
        const d: ContactBindingData = { aor, contact, expiresAt: now + Math.min(wanted, o.maxExpires) * 1000, q: c.q ?? 1, node: o.nodeName, callId, cseq, received, transport: source.transport, behindNat: source.behindNat };
        if (c.instance !== undefined) d.instance = c.instance;
        if (regId !== undefined) d.regId = regId;
        if (flow !== undefined) d.flow = flow;
        if (pathList.length > 0) d.path = pathValues;
        if (userAgent !== undefined) d.userAgent = userAgent.slice(0, 200);
        upsert.push(d);
      }
      const max = o.maxContactsPerAor ?? 20;
      // the bindings after this request: at most the current ones and the new ones
      if (current.length + upsert.length > max) {
        const after = new Set(current.map((b) => b.key));
        for (const k of remove) after.delete(k);
        for (const u of upsert) after.add(bindingKey(u));
        if (after.size > max) return this.reply(req, 403, `more than ${max} contacts`, { reason: 'Too Many Contacts', aor });
      }
      const bindings = upsert.length + remove.length > 0 ? await o.location.update(aor, { upsert, remove }, now) : current;
      const supportsPath = pathValues.length > 0 && parseTokenList(req.headerValues('supported')).some((t) => t.toLowerCase() === 'path');
      return this.ok(req, aor, bindings, now, { path: supportsPath ? pathValues : [], outbound: flowRecorded });
    }
    const bindings = await o.location.update(aor, { upsert: [], remove }, now);
    return this.ok(req, aor, bindings, now, { path: [], outbound: false });
  }

  private async authenticate(req: SipRequest, source: RegisterSource, now: number, aor: string): Promise<RegisterOutcome | undefined> {
    const auth = this.opts.authenticator;
    if (auth === undefined) return this.reply(req, 500, 'no authenticator', { aor });
    const values = req.headerValues('authorization');
    const challenge = (detail: string, stale = false): RegisterOutcome => this.challenge(req, source, now, aor, detail, stale);
    if (values.length === 0) return challenge('challenged');
    const found = auth.findCredentials(values);
    let r: DigestOutcome;
    if (!found.ok) r = found;
    else {
      const cred = await this.opts.credentials(found.value.username, found.value.realm, source);
      if (cred.kind === 'unavailable') return this.reply(req, 503, `authentication provider unavailable: ${cred.reason}`, { reason: 'Authentication Service Unavailable', aor, headers: [['Retry-After', '5']] });
      const secret: DigestSecret | undefined = cred.kind === 'password' ? { password: cred.password } : cred.kind === 'ha1' ? { ha1: { MD5: cred.ha1 } } : undefined;
      r = auth.verify(found.value, { method: req.method, now, clientAddress: source.address, body: req.body }, secret);
    }
    if (r.ok) {
      // the credentials must be the AOR's own (user, or user@domain): a user may not register another's address
      const to = req.to.uri;
      const user = to.kind === 'sip' ? (to.user ?? '') : '';
      const name = found.ok ? found.value.username : '';
      if (name === user || (to.kind === 'sip' && name.toLowerCase() === `${user}@${to.host}`.toLowerCase())) return undefined;
      return this.reply(req, 403, `authenticated as ${name.slice(0, 64)}, not as the user of ${aor}`, { reason: 'Authentication User Does Not Match', aor });
    }
    switch (r.error.code) {
      case 'malformed':
        return this.reply(req, 400, `bad credentials: ${r.error.reason}`, { reason: 'Bad Authorization Header', aor });
      case 'stale-nonce':
        return challenge(`stale nonce: ${r.error.reason}`, true);
      case 'wrong-response':
      case 'unknown-user':
        return this.reply(req, 403, `authentication failed: ${r.error.reason}`, { reason: 'Wrong Password', aor });
      default:
        return challenge(`${r.error.code}: ${r.error.reason}`);
    }
  }

  /** A 401 with the authenticator's challenges (toTag: the To tag to use, default a fresh one). */
  private challenge(req: SipRequest, source: RegisterSource, now: number, aor: string, detail: string, stale: boolean, toTag?: string): RegisterOutcome {
    const values = this.opts.authenticator!.challengeHeaderValues({ now, clientAddress: source.address, ...(stale ? { stale: true } : {}) });
    const headers: Array<[string, string]> = [];
    for (const v of values) headers.push(['WWW-Authenticate', v]);
    return { response: createResponse(req, 401, { headers, ...(toTag !== undefined ? { toTag } : {}) }), detail, aor };
  }

  private ok(req: SipRequest, aor: string, bindings: ContactBinding[], now: number, ext: { path: string[]; outbound: boolean }): RegisterOutcome {
    const headers: Array<[string, string]> = [];
    for (const b of bindings) {
      let v = `<${b.contact}>;expires=${Math.max(0, Math.ceil((b.expiresAt - now) / 1000))}`;
      if (b.q !== 1) v += `;q=${b.q}`;
      if (b.instance !== undefined) v += `;+sip.instance="${b.instance.replace(/["\\]/g, '')}"`;
      if (b.regId !== undefined) v += `;reg-id=${b.regId}`;
      headers.push(['Contact', v]);
    }
    for (const p of ext.path) headers.push(['Path', p]);
    if (ext.outbound) headers.push(['Require', 'outbound']);
    headers.push(['Supported', SUPPORTED_VALUE]);
    headers.push(['Date', dateHeader(now)]);
    return { response: createResponse(req, 200, { headers }), aor, bindings, detail: bindings.length === 0 ? 'no bindings' : `${bindings.length} binding(s)` };
  }
}
