/**
 * The stateful proxy (RFC 3261 section 16) of the signaling node, on the transaction layer:
 * request validation (16.3: scheme, Max-Forwards 483, Proxy-Require 420, loops 482), Route
 * pre-processing with loose and strict routing (16.4, 16.12), authentication by the security
 * level (407), the target set (16.5: the location service's contacts, the Request-URI of other
 * domains, the home proxy, 3xx recursion), parallel or sequential forking, forwarding (16.6:
 * Max-Forwards, Record-Route, Via with rport, RFC 3263 failover), response processing with the
 * best-response choice (16.7), CANCEL (16.10), Timer C (16.8), the ACK of a 2xx and stray 2xx
 * retransmissions forwarded statelessly (16.11), redirect mode (302), and flows (RFC 5626: 430).
 */
import {
  createCancel,
  createResponse,
  formatNameAddr,
  formatUri,
  type ClientTransaction,
  type ClientTransactionUser,
  type InviteServerTransaction,
  type NameAddr,
  type Scheduler,
  type ServerTransaction,
  type SipRequest,
  type SipResponse,
  type SipUri,
  type TimerRef,
} from '@traverse/sip';
import { canonicalAor } from '../registrar/registrar';
import { detectNat } from '../nat/nat-detection';
import { behindNat, canonicalIp } from '../transport/addresses';
import type { SipSource } from '../transport/sip-transport';
import { chooseBest, mergeChallenges } from './best-response';
import { uriHost, type ProxyTransportName } from './local-addresses';
import type { ProxyAuthOutcome } from './proxy-auth';
import type { InviteOutcome, ProxyDeps, ProxyOptions } from './proxy-types';
import {
  BRANCH_PREFIX,
  decodeFlowToken,
  flowTokenMac,
  flowTokenVerifies,
  looped,
  loopHash,
  nextHopFromRoutes,
  passedHere,
  poppedParam,
  prependRoutes,
  preprocessRoutes,
  proxyBranch,
  recordRouteValues,
  removeOwnCredentials,
  statelessBranch,
  type FlowToken,
  type Hop,
  type RecordRouteSide,
} from './routing';
import {
  ORIGINAL_CONTACT_PARAM,
  REGISTERED_FLOW_PARAM,
  contactKey,
  contactWithUri,
  domainPolicyAllows,
  grantedContacts,
  originalContact,
  pathValue,
  registeredFlow,
  rewrittenContactUri,
  signedToken,
  type RegistrarSide,
} from './registration-proxy';
import { hopsOf, literalHop } from './target-resolver';
import { telTarget } from './tel';
import { bindingTarget, redirectTargets, uriKey, type BindingTargetOptions, type Target } from './targets';

/** Methods whose initial request may create a dialog: they are record-routed. */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);
/** Option tags this proxy supports in Proxy-Require. */
const PROXY_SUPPORTED = new Set<string>();

type FinalKind = 'response' | 'timeout' | 'transport' | 'flow-failed' | 'unresolved' | 'cancelled';

interface Collected {
  res: SipResponse;
  branch: Branch;
  kind: FinalKind;
}

/** One server transaction being proxied: its target set, branches and collected responses (the response context of 16.7). */
class ProxyTxn {
  readonly isInvite: boolean;
  readonly inDialog: boolean;
  readonly method: string;
  private work: SipRequest | undefined;
  private received: SipRequest | undefined;
  popped: NameAddr[] = [];
  targets: Target[] = [];
  readonly tried = new Set<string>();
  readonly branches: Branch[] = [];
  readonly collected: Collected[] = [];
  started = false;
  finalSent = false;
  cancelled = false;
  sixxx = false;
  /** The call observer follows this INVITE. */
  call = false;
  recordRoute = false;
  upSide: RecordRouteSide | undefined;
  upFlow: FlowToken | undefined;
  /** Another node of the cluster relays this request to a flow of this node. */
  relayed: FlowToken | undefined;
  /** A request for a client that registered through this node to another domain: its flow (from this node's Path or rewritten contact). */
  registered: FlowToken | undefined;
  /** A REGISTER this node proxies to another domain's registrar. */
  registration: ProxiedRegister | undefined;

  constructor(
    readonly tx: ServerTransaction,
    readonly source: SipSource,
    readonly hash: string,
    req: SipRequest,
  ) {
    this.work = req;
    this.received = tx.request;
    this.method = req.method;
    this.isInvite = req.method === 'INVITE';
    this.inDialog = req.toTag !== undefined;
  }

  /** Working copy: the request as received, after Route pre-processing, Max-Forwards and credentials. */
  get base(): SipRequest {
    if (this.work === undefined) throw new Error(`proxied ${this.method} already settled`);
    return this.work;
  }
  set base(r: SipRequest) {
    this.work = r;
  }

  /** The request as received (the server transaction's; it outlives the transaction's hold on it, until settled). */
  get request(): SipRequest {
    if (this.received === undefined) throw new Error(`proxied ${this.method} already settled`);
    return this.received;
  }

  /**
   * Settled: the final response went out and every branch is over. A branch's INVITE client
   * transaction still passes 2xx retransmissions up for 32 s (Accepted), which need only the
   * server transaction: the requests, targets and collected responses go.
   */
  release(): void {
    this.work = this.received = undefined;
    this.collected.length = 0;
    this.targets = [];
    this.popped = [];
    this.tried.clear();
  }

  /** Branches still waiting for a final response and holding up the next target. */
  get blocking(): number {
    let n = 0;
    for (const b of this.branches) if (!b.done && !b.superseded) n++;
    return n;
  }

  get active(): number {
    let n = 0;
    for (const b of this.branches) if (!b.done) n++;
    return n;
  }
}

/** A REGISTER proxied to another domain's registrar: the client's flow and how this node stays on its path. */
interface ProxiedRegister {
  aor: string;
  domain: string;
  flow: FlowToken;
  /** The flow token with its MAC, as the Path value or rewritten contacts carry it. */
  token: string;
  via: 'path' | 'contact';
  outbound: boolean;
  behindNat: boolean;
  privateAddress?: string;
  /** The client's contacts (empty for a query), and Contact *. */
  contacts: SipUri[];
  star: boolean;
}

/** One branch of a ProxyTxn: a target, its hops (RFC 3263 order) and its client transaction. */
class Branch implements ClientTransactionUser {
  /** The request for this target before a hop's Via and Record-Route. */
  prepared: SipRequest | undefined;
  hops: Hop[] = [];
  hopIndex = 0;
  hop: Hop | undefined;
  /** The request sent on the current hop. */
  sent: SipRequest | undefined;
  ctx: ClientTransaction | undefined;
  /** Counts the hops tried: a synchronous transport failure during a send moves to the next one. */
  attempt = 0;
  done = false;
  /** Sequential forking moved on while this branch is being cancelled. */
  superseded = false;
  provisional = false;
  cancelWanted = false;
  cancelSent = false;
  cancelReason: string | undefined;
  private timerC: TimerRef | undefined;
  private guard: TimerRef | undefined;
  private sequential: TimerRef | undefined;

  constructor(
    readonly proxy: SipProxy,
    readonly txn: ProxyTxn,
    readonly target: Target,
  ) {}

  get scheduler(): Scheduler {
    return this.proxy.scheduler;
  }

  startTimerC(ms: number): void {
    if (this.timerC !== undefined) this.scheduler.clear(this.timerC);
    this.timerC = this.scheduler.set(ms, () => {
      this.timerC = undefined;
      if (this.done) return;
      if (this.provisional) this.cancel('Timer C');
      else this.giveUp(408, 'timeout');
    });
  }

  startSequentialTimer(ms: number, fire: () => void): void {
    this.sequential = this.scheduler.set(ms, () => {
      this.sequential = undefined;
      if (!this.done) fire();
    });
  }

  clearTimers(): void {
    for (const t of [this.timerC, this.guard, this.sequential]) if (t !== undefined) this.scheduler.clear(t);
    this.timerC = this.guard = this.sequential = undefined;
  }

  // ------------------------------------------------------------ ClientTransactionUser

  private current(tx: ClientTransaction): boolean {
    return this.ctx === undefined || tx === this.ctx;
  }

  response(res: SipResponse, tx: ClientTransaction): void {
    if (!this.current(tx)) {
      // a 2xx retransmission or a forked 2xx on a transaction this branch left (failover): pass 2xx on
      if (res.status >= 200 && res.status < 300) this.proxy.branchResponse(this, res);
      return;
    }
    const s = res.status;
    if (s < 200) {
      this.provisional = true;
      if (this.cancelWanted && !this.cancelSent) this.sendCancel();
      if (s > 100 && this.txn.isInvite) this.startTimerC(this.proxy.opts.timerCMs);
      if (s === 100) return;
    } else if (s === 503 && !this.done && this.hopIndex + 1 < this.hops.length && !this.cancelWanted && !this.txn.cancelled) {
      // RFC 3263 4.3: a 503 moves on to the next server
      this.hopIndex++;
      this.proxy.sendOnHop(this);
      return;
    }
    this.proxy.branchResponse(this, res);
  }

  timeout(tx: ClientTransaction): void {
    if (!this.current(tx) || this.done) return;
    if (!this.cancelWanted && !this.txn.cancelled && this.hopIndex + 1 < this.hops.length) {
      this.hopIndex++;
      this.proxy.sendOnHop(this);
      return;
    }
    this.proxy.localFinal(this, 408, 'timeout');
  }

  transportError(tx: ClientTransaction): void {
    if (!this.current(tx) || this.done) return;
    this.failed();
  }

  /** The transport failed on the current hop: next hop, or the branch fails (430 for a strict flow). */
  failed(): void {
    if (this.done) return;
    if (!this.cancelWanted && !this.txn.cancelled && this.hopIndex + 1 < this.hops.length) {
      this.hopIndex++;
      this.proxy.sendOnHop(this);
      return;
    }
    if (this.target.downFlow?.strict && this.target.hop !== undefined) this.proxy.localFinal(this, 430, 'flow-failed');
    else this.proxy.localFinal(this, 503, 'transport');
  }

  // ------------------------------------------------------------ cancelling

  /** Cancels the branch (RFC 3261 9.1): at once after a provisional response, else when one comes. */
  cancel(reason?: string): void {
    if (this.done || this.cancelWanted) return;
    this.cancelWanted = true;
    this.cancelReason = reason;
    if (this.sent === undefined) {
      // still resolving: it never went out
      this.proxy.localFinal(this, 487, 'cancelled');
      return;
    }
    if (!this.txn.isInvite) return;
    if (this.provisional) this.sendCancel();
  }

  private sendCancel(): void {
    if (this.cancelSent || this.sent === undefined || this.hop === undefined) return;
    this.cancelSent = true;
    const cancel = createCancel(this.sent);
    if (this.cancelReason !== undefined) cancel.addHeader('Reason', this.cancelReason);
    this.proxy.deps.layer.sendRequest(cancel, this.proxy.deps.transport.channelTo(this.hop), { response: () => undefined });
    // RFC 3261 9.1: no final response 64*T1 after the CANCEL: the branch is over
    this.guard = this.scheduler.set(64 * this.proxy.deps.layer.timers.t1, () => {
      this.guard = undefined;
      if (!this.done) this.giveUp(487, 'cancelled');
    });
  }

  /** Ends the branch here: its transaction is stopped and a local final response stands for it. */
  giveUp(status: number, kind: FinalKind): void {
    this.ctx?.stop();
    this.proxy.localFinal(this, status, kind);
  }
}

export class SipProxy {
  private readonly txns = new Map<ServerTransaction, ProxyTxn>();

  constructor(
    readonly opts: ProxyOptions,
    readonly deps: ProxyDeps,
  ) {}

  get scheduler(): Scheduler {
    return this.deps.layer.scheduler;
  }

  private get bindingOptions(): BindingTargetOptions {
    const secret = this.deps.relaySecret;
    return {
      nodeName: this.deps.nodeName,
      flowAlive: this.deps.flowAlive ?? (() => true),
      ...(this.deps.routeToNode ? { routeToNode: this.deps.routeToNode } : {}),
      ...(secret !== undefined ? { sign: (f: FlowToken) => flowTokenMac(f, secret) } : {}),
    };
  }

  /** Server transactions being proxied now. */
  get size(): number {
    return this.txns.size;
  }

  private isMeUri = (u: SipUri): boolean => {
    const t = u.params.get('transport');
    return this.deps.local.isMe(u.host, u.port, u.scheme === 'sips' || (typeof t === 'string' && t.toLowerCase() === 'tls'));
  };

  private isMeSentBy = (host: string, port: number | undefined, transport: string): boolean => this.deps.local.isMe(host, port, transport.toUpperCase() === 'TLS');

  // ================================================================ requests

  /**
   * A REGISTER for a domain that is not local: proxied to that domain's registrar when the Domain
   * Registration Policy allows it (the home registrar authenticates it, not this node), with this
   * node's Path value or rewritten contacts so that requests for the client come back through it.
   */
  register(req: SipRequest, tx: ServerTransaction, source: SipSource): void {
    const ruri = req.uri;
    if (ruri.kind !== 'sip') {
      this.refuse(req, tx, source, 416, 'routing');
      return;
    }
    const to = req.to.uri;
    if (to.kind !== 'sip') {
      this.refuse(req, tx, source, 404, 'routing', { reason: 'Not Found' });
      return;
    }
    const domain = to.host.toLowerCase();
    if (!domainPolicyAllows(this.opts.domainRegistrationPolicy, domain)) {
      this.deps.log?.fine({ aor: canonicalAor(to), from: `${source.transport} ${source.address}:${source.port}` }, 'REGISTER refused: domain not in the Domain Registration Policy');
      this.refuse(req, tx, source, 403, 'routing', { reason: 'Domain Not Allowed By Registration Policy' });
      return;
    }
    const contacts = req.contacts();
    if (!contacts.ok) {
      this.refuse(req, tx, source, 400, 'routing', { reason: contacts.error.reason });
      return;
    }
    const nat = detectNat(req, source);
    const flow: FlowToken = { transport: source.transport, address: source.address, port: source.port, strict: nat.behindNat || source.transport !== 'UDP' };
    const secret = this.deps.relaySecret;
    const token = secret !== undefined ? signedToken(flow, flowTokenMac(flow, secret)) : signedToken(flow, '').slice(0, -1);
    const list = contacts.value.contacts;
    const registration: ProxiedRegister = {
      aor: canonicalAor(to),
      domain,
      flow,
      token,
      // RFC 3327 5.2: Path only when the UA supports it; otherwise the contacts name this node
      via: req.supported.some((t) => t.toLowerCase() === 'path') ? 'path' : 'contact',
      outbound: list.some((c) => c.instance !== undefined && c.regId !== undefined),
      behindNat: nat.behindNat,
      ...(nat.privateAddress !== undefined ? { privateAddress: nat.privateAddress } : {}),
      contacts: list.flatMap((c) => (c.uri.kind === 'sip' ? [c.uri] : [])),
      star: contacts.value.star,
    };
    this.handle(req, tx, source, registration);
  }

  /** A new request with its server transaction (SipCore's handler for every method the proxy serves). */
  handle(req: SipRequest, tx: ServerTransaction, source: SipSource, registration?: ProxiedRegister): void {
    // 16.3 step 2: URI scheme (tel: URIs of local numbers are retargeted below; REGISTER wants sip)
    const ruri = req.uri;
    if (ruri.kind !== 'sip' && (ruri.kind !== 'tel' || req.method === 'REGISTER')) {
      this.refuse(req, tx, source, 416, 'routing');
      return;
    }
    // 16.3 step 6: Proxy-Require
    const unsupported = req.proxyRequire.filter((t) => !PROXY_SUPPORTED.has(t.toLowerCase()));
    if (unsupported.length > 0) {
      tx.reply(420, { headers: [['Unsupported', unsupported.join(', ')]] });
      return;
    }
    const hash = loopHash(req);
    // 16.3 step 3: Max-Forwards
    if (req.maxForwards === 0) {
      if (req.method === 'OPTIONS' && this.addressedToMe(req)) this.deps.answerOptions(tx);
      else this.refuse(req, tx, source, 483, 'routing');
      return;
    }
    // 16.3 step 4: loops
    if (looped(req, hash, this.isMeSentBy)) {
      this.refuse(req, tx, source, 482, 'routing');
      return;
    }
    // 16.4: Route information (on a working copy: the server transaction keeps the request as received)
    const work = req.clone();
    const pre = preprocessRoutes(work, this.isMeUri);
    if (pre === undefined) {
      tx.reply(400, { reason: 'Bad Route' });
      return;
    }
    const tel = work.uri;
    if (tel.kind === 'tel' && !work.hasHeader('route')) {
      // RFC 3966: a number of a local prefix is the user sip:<number>@<local domain>;user=phone
      const local = this.deps.registrarEnabled && this.deps.telRouting !== undefined ? telTarget(tel, this.deps.telRouting) : undefined;
      if (local === undefined) {
        this.refuse(req, tx, source, 404, 'routing', { reason: 'No Route to Destination' });
        return;
      }
      work.setRequestUri(local);
    }
    const txn = new ProxyTxn(tx, source, hash, work);
    txn.popped = pre.popped;
    txn.relayed = this.relayedFlow(pre.popped);
    txn.registration = registration;
    if (registration === undefined) txn.registered = this.registeredFlowOf(work, pre.popped);
    // authentication of requests outside a dialog (not of those for this node itself, e.g. OPTIONS
    // keep-alives, nor of those a node of the cluster relays to a flow here: it authenticated them;
    // nor of REGISTERs proxied to another domain, whose registrar authenticates them, nor of requests
    // reaching a client registered through this node on the route this node gave its registrar)
    const auth = this.deps.auth;
    if (auth !== undefined && txn.relayed === undefined && txn.registered === undefined && registration === undefined && !this.addressedToMe(work) && auth.required(req, source)) {
      this.txns.set(tx, txn);
      const r = auth.check(work, source);
      if (r instanceof Promise) {
        r.then(
          (o) => this.authenticated(txn, o),
          (e: unknown) => {
            this.deps.log?.warning({ callId: req.callId, err: (e as Error).message }, 'authentication failed to complete');
            this.finish(txn, createResponse(req, 500));
          },
        );
      } else this.authenticated(txn, r);
      return;
    }
    this.route(txn);
  }

  /** The flow another node of the cluster relays this request to (its token verified), from this node's popped Route. */
  private relayedFlow(popped: readonly NameAddr[]): FlowToken | undefined {
    const f = decodeFlowToken(poppedParam(popped, 'tvf'));
    if (f === undefined) return undefined;
    const secret = this.deps.relaySecret;
    if (secret !== undefined && !flowTokenVerifies(f, secret)) return undefined;
    return f;
  }

  /**
   * The client's flow when the request came on the route this node gave a registrar for a client
   * that registered through it: its Path value (popped Route) or a rewritten contact as the
   * Request-URI (restored to the client's own contact here). The token's MAC must verify.
   */
  private registeredFlowOf(work: SipRequest, popped: readonly NameAddr[]): FlowToken | undefined {
    const secret = this.deps.relaySecret;
    const check = (v: string | null | undefined) => (secret !== undefined ? registeredFlow(v, secret) : decodeFlowToken(v));
    const fromPath = poppedParam(popped, REGISTERED_FLOW_PARAM);
    if (fromPath !== undefined) return check(fromPath);
    const u = work.uri;
    if (u.kind !== 'sip' || !u.params.has(ORIGINAL_CONTACT_PARAM) || work.hasHeader('route') || !this.isMeUri(u)) return undefined;
    const flow = check(u.params.get(REGISTERED_FLOW_PARAM));
    const original = originalContact(u);
    if (flow === undefined || original === undefined) return undefined;
    work.setRequestUri(original);
    return flow;
  }

  private addressedToMe(req: SipRequest): boolean {
    const u = req.uri;
    return u.kind === 'sip' && u.user === undefined && this.isMeUri(u) && !req.hasHeader('route');
  }

  private authenticated(txn: ProxyTxn, o: ProxyAuthOutcome): void {
    const req = txn.base;
    if (txn.cancelled) {
      this.finish(txn, createResponse(txn.request, 487));
      return;
    }
    if (!o.ok) {
      this.txns.delete(txn.tx);
      this.deps.log?.[o.response.status === 407 ? 'finer' : 'fine']({ method: req.method, callId: req.callId, status: o.response.status, detail: o.detail }, 'proxy authentication');
      txn.tx.respond(o.response);
      this.deps.onEvent?.({ type: 'final', method: req.method, status: o.response.status });
      if (o.failed && req.method === 'INVITE') this.deps.calls?.refused(req, txn.source, { status: o.response.status, origin: 'here', cause: 'auth-failed' });
      return;
    }
    const realm = this.deps.auth?.realm;
    if (realm !== undefined) removeOwnCredentials(req, realm);
    this.route(txn);
  }

  /** A final response of this proxy before any branch (no forwarding happened). */
  private refuse(req: SipRequest, tx: ServerTransaction, source: SipSource, status: number, cause: InviteOutcome['cause'], extra?: Parameters<typeof createResponse>[2]): void {
    tx.respond(createResponse(req, status, extra));
    this.deps.onEvent?.({ type: 'final', method: req.method, status });
    if (req.method === 'INVITE' && req.toTag === undefined) this.deps.calls?.refused(req, source, { status, origin: 'here', ...(cause ? { cause } : {}) });
  }

  private refuseTxn(txn: ProxyTxn, status: number, cause: InviteOutcome['cause'], extra?: Parameters<typeof createResponse>[2]): void {
    this.txns.delete(txn.tx);
    txn.finalSent = true;
    this.refuse(txn.request, txn.tx, txn.source, status, cause, extra);
  }

  // ================================================================ targets (16.5)

  private route(txn: ProxyTxn): void {
    const req = txn.base;
    const registered = txn.registered;
    if (registered !== undefined && !req.hasHeader('route')) {
      // for a client that registered through this node: on its flow (NAT binding or connection)
      const held = this.deps.registrations?.byFlowToken(registered);
      const hop: Hop = { ...hopOf(registered), ...(held !== undefined && registered.transport !== 'UDP' ? { flow: held.flow } : {}) };
      this.forward(txn, [{ uri: req.uri as SipUri, q: 1, key: '', external: false, hop, downFlow: registered }]);
      return;
    }
    const reg = txn.registration;
    if (reg !== undefined && !req.hasHeader('route')) {
      // REGISTER sip:<this node>: the registrar of the AOR's domain
      const u = req.uri as SipUri;
      if (u.user === undefined && this.isMeUri(u)) req.setRequestUri({ kind: 'sip', scheme: u.scheme, host: reg.domain, params: new Map(), headers: new Map() });
    }
    if (req.hasHeader('route')) {
      // a route set beyond this proxy: follow it without retargeting
      const flow = txn.relayed;
      this.forward(txn, [{ uri: req.uri as SipUri, q: 1, key: '', external: true, ...(flow ? { hop: hopOf(flow) } : {}) }]);
      return;
    }
    const ruri = req.uri as SipUri;
    if (txn.popped.length > 0) {
      const toFlow = txn.relayed;
      if (toFlow !== undefined) {
        // another node of the cluster sent this request to the flow it holds here
        this.forward(txn, [{ uri: ruri, q: 1, key: '', external: false, hop: hopOf(toFlow), downFlow: toFlow }]);
        return;
      }
      if (txn.inDialog) {
        // a record-routed dialog: the remote target, through the party's flow when one was recorded
        const ftag = poppedParam(txn.popped, 'ftag');
        const towardsCallee = ftag === undefined || req.fromTag === ftag;
        const flow = decodeFlowToken(poppedParam(txn.popped, towardsCallee ? 'tvd' : 'tvu'));
        if (flow !== undefined) this.forward(txn, [{ uri: ruri, q: 1, key: '', external: false, hop: hopOf(flow), downFlow: flow }]);
        else this.forward(txn, [{ uri: ruri, q: 1, key: '', external: !this.isLocalTarget(ruri) }]);
        return;
      }
    }
    if (ruri.user === undefined && this.isMeUri(ruri)) {
      // for this node itself
      if (req.method === 'OPTIONS') {
        this.txns.delete(txn.tx);
        this.deps.answerOptions(txn.tx);
      } else this.refuseTxn(txn, txn.inDialog ? 481 : 404, 'routing');
      return;
    }
    if (this.isLocalTarget(ruri)) {
      this.routeToUser(txn, ruri);
      return;
    }
    if (!txn.inDialog) {
      const from = req.from.uri;
      const fromLocal = from.kind === 'sip' && this.isLocalTarget(from);
      if (!fromLocal && this.opts.homeRouting && !passedHere(req, this.isMeSentBy)) {
        const home = this.homeProxyRoute(req);
        if (home !== undefined) {
          prependRoutes(req, [home]);
          this.forward(txn, [{ uri: ruri, q: 1, key: '', external: true }]);
          return;
        }
      }
      if (!fromLocal && this.opts.mode === 'redirect' && txn.registration === undefined) {
        this.redirect(txn, [ruri]);
        return;
      }
    }
    this.forward(txn, [{ uri: ruri, q: 1, key: uriKey(ruri), external: true }]);
  }

  /** Whether a URI names a user of this node: a local domain (or number prefix), this node's address, or an AOR registered here. */
  private isLocalTarget(uri: SipUri): boolean {
    if (!this.deps.registrarEnabled) return false;
    if (this.isMeUri(uri)) return true;
    if (this.deps.domains.length > 0) return this.deps.isLocalDomain(uri);
    return uri.user !== undefined && this.deps.location.lookup(canonicalAor(uri)).length > 0;
  }

  private homeProxyRoute(req: SipRequest): string | undefined {
    const home = this.opts.homeProxy;
    if (home !== '') {
      const uri = /^sips?:/i.test(home) ? home : `sip:${home}`;
      return `<${uri};lr>`;
    }
    const from = req.from.uri;
    if (from.kind !== 'sip') return undefined;
    return `<sip:${from.host}${from.port !== undefined ? `:${from.port}` : ''};lr>`;
  }

  private routeToUser(txn: ProxyTxn, ruri: SipUri): void {
    const loc = this.deps.location;
    let bindings = loc.lookup(canonicalAor(ruri));
    if (bindings.length === 0 && ruri.user !== undefined && this.isMeUri(ruri)) {
      // sip:user@<this node's address>: the user of a local domain
      for (const d of this.deps.domains) {
        bindings = loc.lookup(canonicalAor({ ...ruri, host: d }));
        if (bindings.length > 0) break;
      }
    }
    const targets: Target[] = [];
    for (const b of bindings) {
      const t = bindingTarget(b, this.bindingOptions);
      if (t !== undefined) targets.push(t);
    }
    if (targets.length > 0) {
      this.forward(txn, targets);
      return;
    }
    // registered nowhere: 404 when the user does not exist at all, else 480
    const exists = this.deps.userExists;
    const user = ruri.user;
    if (exists === undefined || user === undefined) {
      this.refuseTxn(txn, user === undefined ? 404 : 480, undefined);
      return;
    }
    const answer = (r: Awaited<ReturnType<typeof exists>>) => {
      if (txn.cancelled) this.refuseTxn(txn, 487, 'cancelled');
      else this.refuseTxn(txn, r.kind === 'unknown-user' ? 404 : 480, undefined);
    };
    const r = exists(user, txn.source);
    if (r instanceof Promise) {
      this.txns.set(txn.tx, txn);
      r.then(answer, () => this.refuseTxn(txn, 480, undefined));
    } else answer(r);
  }

  /** Redirect mode: 302 with the targets as Contacts. */
  private redirect(txn: ProxyTxn, uris: SipUri[]): void {
    const headers = uris.map((u): [string, string] => ['Contact', `<${formatSipUri(u)}>`]);
    this.refuseTxn(txn, 302, undefined, { headers });
  }

  // ================================================================ forwarding (16.6)

  private forward(txn: ProxyTxn, targets: Target[]): void {
    const req = txn.base;
    const calls = this.deps.calls;
    if (txn.isInvite && !txn.inDialog && txn.relayed === undefined && calls !== undefined && !calls.has(req.callId)) {
      if (!calls.admit(req)) {
        this.refuseTxn(txn, 503, 'max-calls', { reason: 'Maximum Calls Reached', headers: [['Retry-After', '30']] });
        return;
      }
      txn.call = true;
      const first = targets[0];
      const to = req.to.uri;
      const address = first?.hop?.address ?? (first !== undefined ? literalHop(first.uri)?.address : undefined);
      calls.started(txn.request, txn.source, {
        userId: to.kind === 'sip' ? canonicalAor(to) : req.requestUri,
        ...(address !== undefined ? { publicAddress: address } : {}),
        external: first?.external ?? true,
      });
    }
    if (txn.inDialog && req.method === 'BYE') calls?.bye(txn.request);
    else if (txn.inDialog && (req.method === 'INVITE' || req.method === 'UPDATE')) calls?.refreshed(txn.request);
    // 16.6 step 3: Max-Forwards (capped)
    const mf = req.decrementMaxForwards();
    if (mf > this.opts.maxForwards) req.setHeader('Max-Forwards', String(this.opts.maxForwards));
    // 16.6 step 4: Record-Route
    if (!txn.inDialog && DIALOG_CREATING.has(req.method)) {
      const s = txn.source;
      const nat = behindNat(txn.request, s.address, s.port);
      if (nat || s.transport !== 'UDP') txn.upFlow = { transport: s.transport, address: s.address, port: s.port, strict: nat };
      const needed = this.opts.alwaysRecordRoute || txn.isInvite || txn.upFlow !== undefined || targets.some((t) => t.downFlow !== undefined);
      if (needed) {
        txn.recordRoute = true;
        txn.upSide = { host: this.deps.local.advertisedHost(s.address), port: this.deps.local.port(s.transport), transport: s.transport };
      }
    }
    txn.started = true;
    this.txns.set(txn.tx, txn);
    for (const t of targets) txn.tried.add(t.key);
    txn.targets = targets;
    this.next(txn);
  }

  /** Starts what the forking mode allows, or sends the best response when nothing is left. */
  private next(txn: ProxyTxn): void {
    if (txn.finalSent) return;
    if (!txn.cancelled && !txn.sixxx) {
      if (this.opts.forking === 'parallel' || !txn.isInvite) {
        while (txn.targets.length > 0) this.startBranch(txn, txn.targets.shift()!);
      } else if (txn.blocking === 0 && txn.targets.length > 0) {
        const t = txn.targets.shift()!;
        const b = this.startBranch(txn, t);
        if (b !== undefined && !b.done && txn.targets.length > 0 && this.opts.sequentialForkingTimeMs > 0) {
          b.startSequentialTimer(this.opts.sequentialForkingTimeMs, () => {
            b.superseded = true;
            b.cancel();
            this.next(txn);
          });
        }
        if (b?.done) return; // next() ran from its local final response
      }
    }
    if (txn.active === 0 && (txn.targets.length === 0 || txn.cancelled || txn.sixxx)) this.sendBest(txn);
  }

  private startBranch(txn: ProxyTxn, target: Target): Branch | undefined {
    const b = new Branch(this, txn, target);
    txn.branches.push(b);
    if (target.flowGone) {
      this.localFinal(b, 430, 'flow-failed');
      return b;
    }
    // 16.6 steps 1-2 and 6: copy, Request-URI, Path, strict-route handling
    const r = txn.base.clone();
    if (target.uri !== txn.base.uri) r.setRequestUri(target.uri);
    if (target.routes !== undefined) prependRoutes(r, target.routes);
    const fromRoute = nextHopFromRoutes(r);
    if (fromRoute !== undefined && 'error' in fromRoute) {
      this.localFinal(b, 400, 'unresolved');
      return b;
    }
    b.prepared = r;
    if (txn.isInvite) b.startTimerC(this.opts.timerCMs);
    // 16.6 step 7: where it goes
    const hopUri = fromRoute?.uri;
    if (hopUri === undefined && target.hop !== undefined) {
      b.hops = [target.hop];
      this.sendOnHop(b);
      return b;
    }
    const uri = hopUri ?? target.uri;
    const literal = literalHop(uri);
    if (literal !== undefined) {
      b.hops = [literal];
      this.sendOnHop(b);
      return b;
    }
    this.deps.resolver.resolve(uri).then(
      (found) => {
        if (b.done) return;
        if (b.cancelWanted || txn.cancelled) {
          this.localFinal(b, 487, 'cancelled');
          return;
        }
        b.hops = hopsOf(found, uri.host);
        if (b.hops.length === 0) {
          this.deps.log?.fine({ callId: r.callId, uri: formatSipUri(uri) }, 'no server found for the next hop');
          this.localFinal(b, 503, 'unresolved');
        } else this.sendOnHop(b);
      },
      (e: unknown) => {
        if (b.done) return;
        this.deps.log?.fine({ callId: r.callId, uri: formatSipUri(uri), err: (e as Error).message }, 'next hop not resolved');
        this.localFinal(b, 503, 'unresolved');
      },
    );
    return b;
  }

  /** Sends the branch's request on its current hop (16.6 steps 8-10): Record-Route, Via, client transaction. */
  sendOnHop(b: Branch): void {
    const txn = b.txn;
    const hop = b.hops[b.hopIndex];
    b.hop = hop;
    const r = b.prepared!.clone();
    const local = this.deps.local;
    const host = local.advertisedHost(hop.address);
    const port = local.port(hop.transport);
    if (txn.recordRoute && txn.upSide !== undefined) {
      const down: RecordRouteSide = { host, port, transport: hop.transport };
      const values = recordRouteValues(txn.upSide, down, {
        ...(txn.base.fromTag !== undefined ? { ftag: txn.base.fromTag } : {}),
        ...(txn.upFlow ? { up: txn.upFlow } : {}),
        ...(b.target.downFlow ? { down: b.target.downFlow } : {}),
      });
      for (const v of values) r.prependRecordRoute(v);
    }
    if (txn.registration !== undefined) this.onRegistrarPath(r, txn.registration, { host, port, transport: hop.transport });
    r.addVia(`SIP/2.0/${hop.transport} ${host}:${port};branch=${proxyBranch(txn.hash)};rport`);
    b.sent = r;
    const current: { tx?: ClientTransaction } = {};
    const channel = this.deps.transport.channelTo(hop, () => {
      if (current.tx !== undefined && !current.tx.terminated) current.tx.transportFailed();
    });
    const attempt = ++b.attempt;
    b.ctx = undefined;
    const created = this.deps.layer.sendRequest(r, channel, b);
    if (b.attempt !== attempt || b.done) return; // a synchronous transport failure moved on
    if (!created.ok) {
      this.localFinal(b, 500, 'transport');
      return;
    }
    current.tx = created.value;
    b.ctx = created.value;
  }

  /** Puts this node on the path of requests for a client registering through it: a Path value (RFC 3327) or its contacts rewritten. */
  private onRegistrarPath(r: SipRequest, reg: ProxiedRegister, side: RegistrarSide): void {
    if (reg.via === 'path') {
      const at = r.headers.findIndex((h) => h.key === 'path');
      const value = pathValue(side, reg.token, reg.outbound);
      if (at >= 0) r.addHeader('Path', value, at);
      else r.addHeader('Path', value);
      return;
    }
    if (reg.star || reg.contacts.length === 0) return;
    const contacts = r.contacts();
    if (!contacts.ok || contacts.value.star) return;
    r.removeHeader('contact');
    for (const c of contacts.value.contacts) {
      if (c.uri.kind !== 'sip') continue;
      r.addHeader('Contact', contactWithUri(c, rewrittenContactUri(c.uri, side, reg.token)));
      // the client's flow changed (its NAT rebound): the registrar holds this contact under the old
      // flow's token, a binding nothing reaches any more; it goes with this REGISTER
      const stale = this.deps.registrations?.staleToken(reg.aor, contactKey(c.uri), reg.token);
      if (stale !== undefined) r.addHeader('Contact', `<${formatUri(rewrittenContactUri(c.uri, side, stale))}>;expires=0`);
    }
  }

  /** The registrar's 2xx of a proxied REGISTER: the table learns what it granted; rewritten contacts go back to the client's own. */
  private registrationAnswered(txn: ProxyTxn, res: SipResponse): void {
    const reg = txn.registration!;
    const restore = (u: SipUri) => (u.params.has(REGISTERED_FLOW_PARAM) ? originalContact(u) : undefined);
    const s = txn.source;
    this.deps.registrations?.answered({
      aor: reg.aor,
      domain: reg.domain,
      star: reg.star,
      granted: grantedContacts(reg.contacts, res, restore),
      transport: s.transport,
      publicAddress: s.address.includes(':') ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`,
      ...(reg.privateAddress !== undefined ? { privateAddress: reg.privateAddress } : {}),
      flow: s.flow,
      token: reg.token,
      behindNat: reg.behindNat,
      via: reg.via,
      relay: reg.behindNat && (this.deps.relayNeeded?.() ?? true),
    });
    if (reg.via !== 'contact') return;
    const contacts = res.contacts();
    if (!contacts.ok || contacts.value.star || contacts.value.contacts.length === 0) return;
    res.removeHeader('contact');
    for (const c of contacts.value.contacts) {
      const original = c.uri.kind === 'sip' && c.uri.params.has(REGISTERED_FLOW_PARAM) ? originalContact(c.uri) : undefined;
      res.addHeader('Contact', original !== undefined ? contactWithUri(c, original) : formatNameAddr(c));
    }
  }

  // ================================================================ responses (16.7)

  /** A response of a branch (our Via still on top). */
  branchResponse(b: Branch, res: SipResponse): void {
    const txn = b.txn;
    res.removeTopVia();
    const s = res.status;
    if (s < 200) {
      if (!txn.finalSent) txn.tx.respond(res);
      return;
    }
    this.deps.onEvent?.({ type: 'branch', method: txn.method, outcome: 'response' });
    if (s < 300) {
      const first = !txn.finalSent;
      if (first && txn.registration !== undefined) this.registrationAnswered(txn, res);
      if (first || txn.isInvite) txn.tx.respond(res);
      if (!b.done) this.branchDone(b);
      if (!first) return;
      txn.finalSent = true;
      this.deps.onEvent?.({ type: 'final', method: txn.request.method, status: s });
      if (txn.isInvite) {
        txn.targets = [];
        for (const other of txn.branches) if (other !== b) other.cancel('SIP;cause=200;text="Call completed elsewhere"');
        if (txn.call) this.deps.calls?.answered(txn.request, res);
      }
      this.settle(txn);
      return;
    }
    if (b.done) return;
    this.branchDone(b);
    if (txn.finalSent) {
      this.settle(txn);
      return;
    }
    let keep = true;
    if (s < 400 && this.opts.recurseOnRedirect) {
      const contacts = res.contacts();
      if (contacts.ok && !contacts.value.star) {
        const fresh = this.expandRedirect(txn, redirectTargets(contacts.value.contacts));
        if (fresh.length > 0) {
          txn.targets.push(...fresh);
          txn.targets.sort((x, y) => y.q - x.q);
          keep = false; // its contacts are all in the target set now
        }
      }
    }
    if (s >= 600) {
      txn.sixxx = true;
      txn.targets = [];
      for (const other of txn.branches) if (other !== b) other.cancel();
    }
    if (keep) txn.collected.push({ res, branch: b, kind: 'response' });
    this.next(txn);
  }

  /** 3xx contacts not tried yet; a contact of a local user expands to that user's contacts. */
  private expandRedirect(txn: ProxyTxn, targets: Target[]): Target[] {
    const out: Target[] = [];
    for (const t of targets) {
      if (txn.tried.has(t.key)) continue;
      txn.tried.add(t.key);
      if (this.isLocalTarget(t.uri) && t.uri.user !== undefined) {
        for (const binding of this.deps.location.lookup(canonicalAor(t.uri))) {
          const bt = bindingTarget(binding, this.bindingOptions);
          if (bt === undefined || txn.tried.has(bt.key)) continue;
          txn.tried.add(bt.key);
          out.push({ ...bt, q: t.q });
        }
      } else out.push(t);
    }
    return out;
  }

  /** A final response this proxy makes for a branch (timeout, transport error, flow gone, cancelled, unresolved). */
  localFinal(b: Branch, status: number, kind: FinalKind): void {
    if (b.done) return;
    const txn = b.txn;
    this.branchDone(b);
    this.deps.onEvent?.({ type: 'branch', method: txn.request.method, outcome: kind === 'flow-failed' ? 'flow-failed' : kind === 'timeout' ? 'timeout' : kind === 'unresolved' ? 'unresolved' : kind === 'transport' ? 'transport-error' : 'response' });
    if (kind !== 'cancelled')
      this.deps.log?.fine({ method: txn.request.method, callId: txn.request.callId, target: formatSipUri(b.target.uri), hop: b.hop ? `${b.hop.transport} ${b.hop.address}:${b.hop.port}` : undefined, status, kind }, 'branch failed');
    if (txn.finalSent) {
      this.settle(txn);
      return;
    }
    txn.collected.push({ res: createResponse(txn.request, status), branch: b, kind });
    this.next(txn);
  }

  /** A branch is over: it sends nothing more (its client transaction absorbs or passes up what comes), so its requests go. */
  private branchDone(b: Branch): void {
    b.done = true;
    b.clearTimers();
    b.prepared = undefined;
    b.sent = undefined;
    b.hops = [];
  }

  /** 16.7 step 6: the best final response goes upstream when every branch is over. */
  private sendBest(txn: ProxyTxn): void {
    if (txn.finalSent) return;
    const best = chooseBest(txn.collected.map((c) => c.res));
    const entry = txn.collected.find((c) => c.res === best);
    let res: SipResponse;
    if (best === undefined) res = createResponse(txn.request, txn.cancelled ? 487 : 480);
    else if (best.status === 503) res = createResponse(txn.request, 500); // a 503 is not passed on (16.7 step 6)
    else {
      res = best;
      mergeChallenges(res, txn.collected.map((c) => c.res));
    }
    const request = txn.request;
    this.finish(txn, res);
    if (txn.call) {
      let cause: InviteOutcome['cause'];
      if (txn.cancelled) cause = 'cancelled';
      else if (entry?.kind === 'timeout') cause = 'timeout';
      else if (entry?.kind === 'transport' || entry?.kind === 'unresolved') cause = 'transport';
      else if (entry?.kind === 'flow-failed') cause = 'flow-failed';
      const external = entry?.branch.target.external ?? false;
      const origin: InviteOutcome['origin'] = entry === undefined || (entry.kind !== 'response' && entry.kind !== 'timeout' && entry.kind !== 'transport' && entry.kind !== 'unresolved') ? 'here' : external ? 'external' : 'local-user';
      this.deps.calls?.failed(request, { status: best?.status ?? res.status, origin, ...(cause ? { cause } : {}) });
    }
  }

  private finish(txn: ProxyTxn, res: SipResponse): void {
    txn.finalSent = true;
    txn.tx.respond(res);
    this.deps.onEvent?.({ type: 'final', method: txn.request.method, status: res.status });
    this.settle(txn);
  }

  /** Forgets the transaction once its final response went out and no branch is left. */
  private settle(txn: ProxyTxn): void {
    if (txn.finalSent && txn.active === 0) {
      this.txns.delete(txn.tx);
      txn.release();
    } else if (txn.finalSent && !txn.isInvite) this.txns.delete(txn.tx);
  }

  // ================================================================ CANCEL (16.10)

  /**
   * A CANCEL matched an INVITE server transaction (SipCore answered the CANCEL 200). Returns true
   * when the proxy owns that INVITE: its branches are cancelled and the best response (a 487) will
   * answer it; false: SipCore answers the INVITE 487 itself.
   */
  cancel(invite: InviteServerTransaction): boolean {
    const txn = this.txns.get(invite);
    if (txn === undefined) return false;
    if (txn.finalSent) return true;
    txn.cancelled = true;
    txn.targets = [];
    if (!txn.started) return true; // authentication or the user look-up is pending; it answers 487
    for (const b of txn.branches) b.cancel();
    this.next(txn);
    return true;
  }

  // ================================================================ stateless parts (16.11)

  /** An ACK that matched no transaction: the ACK of a 2xx, routed by its Route set or Request-URI. */
  ack(ack: SipRequest): void {
    if (ack.maxForwards === 0) return;
    const received = ack.topVia?.branch ?? '';
    const pre = preprocessRoutes(ack, this.isMeUri);
    if (pre === undefined) return;
    let hop: Hop | undefined;
    let uri: SipUri | undefined;
    const route = nextHopFromRoutes(ack);
    if (route !== undefined) {
      if ('error' in route) return;
      uri = route.uri;
      const flow = this.relayedFlow(pre.popped);
      if (flow !== undefined) hop = hopOf(flow);
    } else if (pre.popped.length > 0) {
      const ftag = poppedParam(pre.popped, 'ftag');
      const towardsCallee = ftag === undefined || ack.fromTag === ftag;
      const flow = this.relayedFlow(pre.popped) ?? decodeFlowToken(poppedParam(pre.popped, towardsCallee ? 'tvd' : 'tvu'));
      if (flow !== undefined) hop = hopOf(flow);
      uri = ack.uri.kind === 'sip' ? ack.uri : undefined;
    } else {
      const u = ack.uri;
      // not routed through this proxy: only ACKs for other hosts are passed on (a late ACK of a non-2xx is dropped)
      if (u.kind !== 'sip' || this.isMeUri(u) || this.isLocalTarget(u)) return;
      uri = u;
    }
    if (uri === undefined) return;
    this.deps.calls?.ack(ack);
    ack.decrementMaxForwards();
    const send = (h: Hop) => {
      const local = this.deps.local;
      ack.addVia(`SIP/2.0/${h.transport} ${local.advertisedHost(h.address)}:${local.port(h.transport)};branch=${statelessBranch(received + ack.callId)};rport`);
      this.deps.transport.send(ack, h);
      this.deps.onEvent?.({ type: 'stateless', kind: 'ack' });
    };
    if (hop !== undefined) {
      send(hop);
      return;
    }
    const literal = literalHop(uri);
    if (literal !== undefined) {
      send(literal);
      return;
    }
    const target = uri;
    this.deps.resolver.resolve(target).then(
      (found) => {
        const hops = hopsOf(found, target.host);
        if (hops.length > 0) send(hops[0]);
      },
      () => undefined,
    );
  }

  /**
   * A response that matched no client transaction: when its top Via is this proxy's (a 2xx
   * retransmission after the INVITE transaction ended), it goes on to the next Via (18.2.2).
   */
  strayResponse(res: SipResponse): void {
    const top = res.topVia;
    if (top === undefined || top.branch === undefined || !top.branch.startsWith(BRANCH_PREFIX) || !this.isMeSentBy(top.host, top.port, top.transport)) return;
    res.removeTopVia();
    const next = res.topVia;
    if (next === undefined) return;
    const t = next.transport.toUpperCase();
    if (t !== 'UDP' && t !== 'TCP' && t !== 'TLS') return;
    const transport = t as ProxyTransportName;
    const host = next.received ?? (next.host.startsWith('[') ? next.host.slice(1, -1) : next.host);
    const port = typeof next.rport === 'number' ? next.rport : (next.port ?? (transport === 'TLS' ? 5061 : 5060));
    const literal = literalHop({ kind: 'sip', scheme: 'sip', host: uriHost(canonicalIp(host)), port, params: new Map([['transport', transport.toLowerCase()]]), headers: new Map() });
    if (literal === undefined) return; // a sent-by host name: RFC 3263 5 would resolve it; such responses are dropped here
    this.deps.transport.send(res, literal);
    this.deps.onEvent?.({ type: 'stateless', kind: 'response' });
  }

  /** Ends every transaction (node stopping). */
  stop(): void {
    for (const txn of this.txns.values()) for (const b of txn.branches) b.clearTimers();
    this.txns.clear();
  }
}

function hopOf(f: FlowToken): Hop {
  return { transport: f.transport, address: f.address, port: f.port };
}

function formatSipUri(u: SipUri): string {
  return formatUri(u);
}
