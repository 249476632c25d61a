/**
 * The SIP core of the signaling node: messages from the transports go through the transaction
 * layer; new requests get a server transaction and go to the handler of their method (REGISTER:
 * the registrar; OPTIONS: answered here; CANCEL matched to its INVITE). Other features (the proxy)
 * add handlers with setHandler. Responses without a client transaction go to onStrayResponse.
 * A REGISTER for the registrar that carries no credentials where they are needed gets its 401
 * without a transaction (RFC 3261 8.2.7).
 */
import {
  createResponse,
  type InviteServerTransaction,
  type ServerTransaction,
  type ServerTransactionUser,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  type TransactionLayer,
} from '@traverse/sip';
import { detectNat, type NatVerdict } from './nat/nat-detection';
import type { ResponseChannel, SipSource, SipTransport } from './transport/sip-transport';
import type { RegisterOutcome, Registrar } from './registrar/registrar';

export type RequestHandler = (req: SipRequest, tx: ServerTransaction, source: SipSource) => void;

export interface SipCoreLog {
  fine(obj: object, msg: string): void;
  warning(obj: object, msg: string): void;
}

export interface SipCoreOptions {
  transport: SipTransport;
  layer: TransactionLayer;
  registrar?: Registrar;
  log?: SipCoreLog;
  /**
   * A REGISTER was answered; `nat` says whether its client is behind NAT (and why), undefined for
   * a challenge that did not need to know.
   */
  onRegister?: (outcome: RegisterOutcome, source: SipSource, nat: NatVerdict | undefined) => void;
  /** An ACK that matched no transaction (an ACK for a 2xx), for the proxy. */
  onStrayAck?: (ack: SipRequest, source: SipSource) => void;
  /** A response that matched no client transaction. */
  onStrayResponse?: (res: SipResponse, source: SipSource) => void;
  /** A CANCEL matched this INVITE; true when the owner (the proxy) answers the INVITE itself. */
  onCancel?: (invite: InviteServerTransaction, cancel: SipRequest) => boolean;
}

export class SipCore {
  private readonly handlers = new Map<string, RequestHandler>();
  private fallback: RequestHandler | undefined;
  private registerProxy: RequestHandler | undefined;
  /** The transaction user of every server transaction (the source is on its ResponseChannel). */
  private readonly user: ServerTransactionUser = {
    // an ACK for a 2xx that carries the INVITE's branch (RFC 2543 style) is the proxy's too
    ack: (ack, tx) => this.opts.onStrayAck?.(ack, (tx.channel as ResponseChannel).source),
    transportError: (tx) => {
      const log = this.opts.log;
      if (log === undefined) return;
      const source = (tx.channel as ResponseChannel).source;
      log.fine({ method: tx.method, callId: tx.callId, to: `${source.address}:${source.port}` }, 'response could not be sent');
    },
  };

  constructor(private readonly opts: SipCoreOptions) {
    if (opts.registrar) this.handlers.set('REGISTER', (req, tx, source) => this.dispatchRegister(req, tx, source));
    this.handlers.set('OPTIONS', (_req, tx) => this.answerOptions(tx));
  }

  /** Answers an OPTIONS addressed to this node. */
  answerOptions(tx: ServerTransaction): void {
    tx.reply(200, { headers: [['Allow', this.allow().join(', ')], ['Accept', 'application/sdp'], ['Supported', 'path, outbound']] });
  }

  /** Methods answered here. */
  allow(): string[] {
    return [...new Set(['ACK', 'CANCEL', ...this.handlers.keys()])];
  }

  /** Binds a method to a handler (the proxy binds INVITE, BYE, ...). */
  setHandler(method: string, handler: RequestHandler): void {
    this.handlers.set(method.toUpperCase(), handler);
  }

  /**
   * The handler of REGISTERs for users that are not local (another domain's registrar, through
   * the proxy). Local users always register with the registrar.
   */
  setRegisterProxy(handler: RequestHandler): void {
    this.registerProxy = handler;
    this.handlers.set('REGISTER', (req, tx, source) => this.dispatchRegister(req, tx, source));
  }

  /** Whether the registrar (rather than the register proxy) takes a REGISTER. */
  private forRegistrar(req: SipRequest, registrar: Registrar): boolean {
    if (this.registerProxy === undefined) return true;
    const to = req.to.uri;
    return req.uri.kind !== 'sip' || to.kind !== 'sip' || registrar.isLocal(to);
  }

  private dispatchRegister(req: SipRequest, tx: ServerTransaction, source: SipSource): void {
    const registrar = this.opts.registrar;
    if (registrar === undefined) {
      if (this.registerProxy !== undefined) this.registerProxy(req, tx, source);
      else tx.reply(501, { headers: [['Allow', this.allow().join(', ')]] });
    } else if (this.forRegistrar(req, registrar)) this.register(registrar, req, tx, source);
    else this.registerProxy!(req, tx, source);
  }

  /**
   * A REGISTER the registrar challenges: answered without a transaction, true. Nothing is looked
   * up or kept for it: a retransmission is challenged again the same way (same To tag).
   */
  private challengeRegister(req: SipRequest, source: SipSource): boolean {
    const registrar = this.opts.registrar;
    if (registrar === undefined || !registrar.wouldChallenge(req, source.address, source.port) || !this.forRegistrar(req, registrar)) return false;
    // the challenge depends on the NAT verdict only where registrations across NAT are refused
    const nat = registrar.rejectsAcrossNat ? detectNat(req, source) : undefined;
    const outcome = registrar.statelessChallenge(req, { transport: source.transport, address: source.address, port: source.port, flow: source.flow, behindNat: nat?.behindNat ?? false });
    if (outcome === undefined) return false;
    this.opts.transport.respond(outcome.response, source);
    this.opts.onRegister?.(outcome, source, nat);
    return true;
  }

  /** The handler of methods without one of their own (a proxy forwards methods it does not know). */
  setFallbackHandler(handler: RequestHandler): void {
    this.fallback = handler;
  }

  /** Entry point of the transports. */
  handle(msg: SipMessage, source: SipSource): void {
    if (msg.kind === 'response') {
      if (!this.opts.layer.receiveResponse(msg)) this.opts.onStrayResponse?.(msg, source);
      return;
    }
    const req = msg;
    if (req.method === 'REGISTER' && this.challengeRegister(req, source)) return;
    if (this.opts.layer.receiveRequest(req) !== undefined) return; // a retransmission, or an ACK its transaction took
    if (req.method === 'ACK') {
      this.opts.onStrayAck?.(req, source);
      return;
    }
    const created = this.opts.layer.createServer(req, this.opts.transport.responseChannel(source), this.user);
    if (!created.ok) return;
    const tx = created.value;
    if (req.method === 'CANCEL') {
      const invite = this.opts.layer.matchCancel(req);
      tx.reply(invite !== undefined ? 200 : 481);
      if (invite !== undefined && !invite.answered && !(this.opts.onCancel?.(invite, req) ?? false)) invite.reply(487);
      return;
    }
    const handler = this.handlers.get(req.method) ?? this.fallback;
    if (handler === undefined) {
      tx.reply(501, { headers: [['Allow', this.allow().join(', ')]] });
      return;
    }
    try {
      handler(req, tx, source);
    } catch (e) {
      this.opts.log?.warning({ method: req.method, callId: req.callId, err: (e as Error).message }, 'request handler failed');
      if (!tx.answered) tx.reply(500);
    }
  }

  private register(registrar: Registrar, req: SipRequest, tx: ServerTransaction, source: SipSource): void {
    const nat = detectNat(req, source);
    registrar.register(req, { transport: source.transport, address: source.address, port: source.port, flow: source.flow, behindNat: nat.behindNat }).then(
      (outcome) => {
        tx.respond(outcome.response);
        this.opts.onRegister?.(outcome, source, nat);
      },
      (e: unknown) => {
        this.opts.log?.warning({ callId: req.callId, err: (e as Error).message }, 'REGISTER failed');
        tx.respond(createResponse(req, 500));
      },
    );
  }
}
