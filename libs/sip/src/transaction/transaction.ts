/**
 * SIP transactions (RFC 3261 section 17, with the RFC 6026 Accepted state for INVITE).
 * Pure state machines: they hand messages to a TransactionChannel, run timers on a Scheduler,
 * and tell their transaction user (TU) what happened. No I/O, no clock of their own.
 */
import { createNon2xxAck, createResponse } from '../builders';
import type { SipMessage, SipRequest, SipResponse } from '../message';
import { detached } from '../chars';
import type { LingerQueueEntry, Scheduler, TimerRef, TransactionTimerValues } from './timers';

/** Where a transaction's messages go: a transport bound to the peer (the next hop, or the response path). */
export interface TransactionChannel {
  /** TCP, TLS, SCTP, WS: no retransmissions, and the timers that absorb them are zero. */
  readonly reliable: boolean;
  /** Hands a message to the transport. false means the transport failed at once (a transport error, RFC 3261 17.1.4 / 17.2.4). */
  send(msg: SipMessage): boolean;
  /**
   * The bytes this channel would send for a message, and sending such bytes (both or neither): a
   * transaction that only has to resend its response keeps these instead of the message.
   */
  encode?(msg: SipMessage): Uint8Array;
  sendEncoded?(wire: Uint8Array): boolean;
}

export type TransactionState = 'calling' | 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

export type TransactionKind = 'invite-client' | 'non-invite-client' | 'invite-server' | 'non-invite-server';

/** Why a transaction ended, for the TU and for metrics. */
export type TerminationReason = 'normal' | 'timeout' | 'transport-error' | 'stopped';

export interface ClientTransactionUser {
  /** A response for the TU: provisional ones, the final one, and (INVITE, RFC 6026) every 2xx. */
  response(res: SipResponse, tx: ClientTransaction): void;
  /** Timer B or F fired without a final response: act as on a 408. */
  timeout?(tx: ClientTransaction): void;
  /** The transport failed: act as on a 503. */
  transportError?(tx: ClientTransaction): void;
  terminated?(tx: ClientTransaction, reason: TerminationReason): void;
}

export interface ServerTransactionUser {
  /** ACK for a 2xx received while the INVITE server transaction is Accepted (RFC 6026 8.6). */
  ack?(ack: SipRequest, tx: InviteServerTransaction): void;
  /** Timer H fired: no ACK came for the non-2xx final response. */
  timeout?(tx: ServerTransaction): void;
  /** The transport failed to send a response. */
  transportError?(tx: ServerTransaction): void;
  terminated?(tx: ServerTransaction, reason: TerminationReason): void;
}

/** What the layer gives each transaction. */
export interface TransactionContext {
  scheduler: Scheduler;
  timers: TransactionTimerValues;
  /** Called once, when the transaction reaches Terminated (the layer forgets it). */
  ended(tx: Transaction, reason: TerminationReason): void;
  /**
   * Calls `entry.lingerExpired(at)` after `ms` without a timer of the transaction's own (the layer
   * keeps the transactions lingering for one duration in one queue under one timer); returns `at`,
   * the scheduler time it is due. Absent: each transaction runs its own timer.
   */
  linger?(ms: number, entry: LingerQueueEntry): number;
}

export abstract class Transaction implements LingerQueueEntry {
  abstract readonly kind: TransactionKind;
  state: TransactionState;
  /** When the transaction was created (scheduler time). */
  readonly createdAt: number;
  /** The method of the request that created it. */
  readonly method: string;
  private running: Map<string, TimerRef> | undefined;
  /** The timer whose wait runs in the layer's linger queue, and when it ends. */
  private lingering: string | undefined;
  private lingerAt = 0;
  /** The Call-ID of the request (kept when the request is released). */
  private cid: string;
  /** The request, until released (see released). */
  private req: SipRequest | undefined;

  constructor(
    /** The matching key under which the layer keeps it. */
    readonly key: string,
    /** The request that created it. */
    request: SipRequest,
    readonly channel: TransactionChannel,
    protected readonly ctx: TransactionContext,
    initial: TransactionState,
  ) {
    this.req = request;
    this.method = request.method;
    this.cid = request.callId;
    this.state = initial;
    this.createdAt = ctx.scheduler.now();
  }

  /**
   * The request that created it. A non-INVITE server transaction that answered finally over an
   * unreliable transport keeps only its response (all that absorbing retransmissions needs) and
   * releases the request, and so do an INVITE server transaction in Accepted and a client
   * transaction once its final response went up: reading it then throws.
   */
  get request(): SipRequest {
    if (this.req === undefined) throw new Error(`the ${this.method} request of transaction ${this.key} was released when it completed`);
    return this.req;
  }

  /** Whether the request was released (see request). */
  get released(): boolean {
    return this.req === undefined;
  }

  /** The Call-ID of the request (kept when the request is released). */
  get callId(): string {
    return this.cid;
  }

  /** Drops the request (its method and Call-ID stay: the Call-ID as a copy, not a slice of the request's text). */
  protected releaseRequest(): void {
    this.req = undefined;
    this.cid = detached(this.cid);
  }

  get terminated(): boolean {
    return this.state === 'terminated';
  }

  /** Names of the timers running (for tests and diagnostics): 'A', 'B', ... */
  get timers(): string[] {
    const names = this.running === undefined ? [] : [...this.running.keys()];
    if (this.lingering !== undefined) names.push(this.lingering);
    return names;
  }

  protected get t1(): number {
    return this.ctx.timers.t1;
  }

  protected startTimer(name: string, ms: number, fire: () => void): void {
    this.stopTimer(name);
    const running = (this.running ??= new Map());
    running.set(
      name,
      this.ctx.scheduler.set(ms, () => {
        running.delete(name);
        if (this.state !== 'terminated') fire();
      }),
    );
  }

  protected stopTimer(name: string): void {
    const t = this.running?.get(name);
    if (t !== undefined) {
      this.ctx.scheduler.clear(t);
      this.running!.delete(name);
    }
  }

  /** Sends through the channel; a failure terminates the transaction with a transport error. */
  protected transmit(msg: SipMessage): boolean {
    let sent: boolean;
    try {
      sent = this.channel.send(msg);
    } catch {
      sent = false;
    }
    if (!sent) this.transportFailed();
    return sent;
  }

  /** transmit() of bytes made by the channel's encode. */
  protected transmitEncoded(wire: Uint8Array): boolean {
    let sent: boolean;
    try {
      sent = this.channel.sendEncoded!(wire);
    } catch {
      sent = false;
    }
    if (!sent) this.transportFailed();
    return sent;
  }

  /** Reports a transport failure found later (an asynchronous send error): the transaction ends. */
  abstract transportFailed(): void;

  /** Ends the transaction at once (node stopping, or its TU gave up on it). */
  stop(): void {
    this.terminate('stopped');
  }

  protected terminate(reason: TerminationReason): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.lingering = undefined;
    if (this.running !== undefined) {
      for (const t of this.running.values()) this.ctx.scheduler.clear(t);
      this.running.clear();
    }
    this.ctx.ended(this, reason);
    this.onTerminated(reason);
  }

  protected abstract onTerminated(reason: TerminationReason): void;

  /** After `ms` (or at once when ms is 0) the transaction terminates normally. */
  protected linger(name: string, ms: number): void {
    if (ms <= 0) this.terminate('normal');
    else if (this.ctx.linger !== undefined) {
      this.lingering = name;
      this.lingerAt = this.ctx.linger(ms, this);
    } else this.startTimer(name, ms, () => this.terminate('normal'));
  }

  /** @internal the layer's linger queue: the wait due at `at` is over. */
  lingerExpired(at: number): void {
    if (this.lingering !== undefined && this.lingerAt === at && this.state !== 'terminated') this.terminate('normal');
  }
}

// ---------------------------------------------------------------- client transactions

export abstract class ClientTransaction extends Transaction {
  /**
   * The last response passed up while the transaction waits for its final one. A final response
   * ends the hold on it and on the request (released): what lingers after it (Accepted for a 2xx
   * INVITE's 32 s, Completed) only absorbs retransmissions or passes 2xx ones up, and the TU has both.
   */
  lastResponse: SipResponse | undefined;

  constructor(key: string, request: SipRequest, channel: TransactionChannel, ctx: TransactionContext, initial: TransactionState, protected readonly user: ClientTransactionUser) {
    super(key, request, channel, ctx, initial);
  }

  /** Sends the request and starts the timers; called once by the layer. */
  abstract start(): void;

  /** A response matched to this transaction by the layer. */
  abstract receive(res: SipResponse): void;

  transportFailed(): void {
    if (this.state === 'terminated') return;
    this.user.transportError?.(this);
    this.terminate('transport-error');
  }

  protected up(res: SipResponse): void {
    this.lastResponse = res;
    this.user.response(res, this);
  }

  /** After the final response went up: keep neither it nor the request for what lingers. */
  protected letGo(): void {
    this.lastResponse = undefined;
    if (!this.released) this.releaseRequest();
  }

  protected timedOut(): void {
    this.user.timeout?.(this);
    this.terminate('timeout');
  }

  protected onTerminated(reason: TerminationReason): void {
    this.user.terminated?.(this, reason);
  }
}

/** INVITE client transaction (RFC 3261 17.1.1, RFC 6026 7.2). */
export class InviteClientTransaction extends ClientTransaction {
  readonly kind = 'invite-client' as const;
  /** The ACK this transaction built for a non-2xx final response, resent on its retransmissions. */
  ack: SipRequest | undefined;
  private interval = 0;

  constructor(key: string, request: SipRequest, channel: TransactionChannel, ctx: TransactionContext, user: ClientTransactionUser) {
    super(key, request, channel, ctx, 'calling', user);
  }

  start(): void {
    if (!this.transmit(this.request)) return;
    if (!this.channel.reliable) {
      this.interval = this.t1;
      this.startTimer('A', this.interval, () => this.retransmit());
    }
    this.startTimer('B', 64 * this.t1, () => this.timedOut());
  }

  private retransmit(): void {
    if (this.state !== 'calling') return;
    if (!this.transmit(this.request)) return;
    this.interval *= 2;
    this.startTimer('A', this.interval, () => this.retransmit());
  }

  receive(res: SipResponse): void {
    const s = res.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (s < 200) {
          this.state = 'proceeding';
          this.stopTimer('A');
          this.stopTimer('B');
          this.up(res);
        } else if (s < 300) {
          this.state = 'accepted';
          this.stopTimer('A');
          this.stopTimer('B');
          this.startTimer('M', 64 * this.t1, () => this.terminate('normal'));
          this.up(res);
          this.letGo();
        } else {
          this.state = 'completed';
          this.stopTimer('A');
          this.stopTimer('B');
          this.ack = createNon2xxAck(this.request, res);
          this.up(res);
          this.letGo();
          if (this.state !== 'completed') return; // the TU stopped it
          if (!this.transmit(this.ack)) return;
          this.linger('D', this.channel.reliable ? 0 : 64 * this.t1);
        }
        break;
      case 'completed':
        if (s >= 300 && this.ack !== undefined) this.transmit(this.ack);
        break;
      case 'accepted':
        if (s >= 200 && s < 300) this.user.response(res, this); // passed up, not kept (see lastResponse)
        break;
      default:
        break;
    }
  }
}

/** Non-INVITE client transaction (RFC 3261 17.1.2). */
export class NonInviteClientTransaction extends ClientTransaction {
  readonly kind = 'non-invite-client' as const;
  private interval = 0;

  constructor(key: string, request: SipRequest, channel: TransactionChannel, ctx: TransactionContext, user: ClientTransactionUser) {
    super(key, request, channel, ctx, 'trying', user);
  }

  start(): void {
    if (!this.transmit(this.request)) return;
    if (!this.channel.reliable) {
      this.interval = this.t1;
      this.startTimer('E', this.interval, () => this.retransmit());
    }
    this.startTimer('F', 64 * this.t1, () => this.timedOut());
  }

  private retransmit(): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    if (!this.transmit(this.request)) return;
    this.interval = this.state === 'trying' ? Math.min(2 * this.interval, this.ctx.timers.t2) : this.ctx.timers.t2;
    this.startTimer('E', this.interval, () => this.retransmit());
  }

  receive(res: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return; // Completed absorbs retransmissions
    if (res.status < 200) {
      this.state = 'proceeding';
      this.up(res);
      return;
    }
    this.state = 'completed';
    this.stopTimer('E');
    this.stopTimer('F');
    this.up(res);
    this.letGo();
    if (this.state === 'completed') this.linger('K', this.channel.reliable ? 0 : this.ctx.timers.t4);
  }
}

// ---------------------------------------------------------------- server transactions

export abstract class ServerTransaction extends Transaction {
  /**
   * The last response sent (provisional or final). A non-INVITE server transaction that answered
   * finally over an unreliable transport keeps only the bytes it resends: it is undefined then.
   */
  lastResponse: SipResponse | undefined;
  /** A final response was sent. */
  protected final = false;
  /** The To tag of the final response, kept when the response itself is not (see responseToTag). */
  protected finalToTag: string | undefined;

  constructor(key: string, request: SipRequest, channel: TransactionChannel, ctx: TransactionContext, initial: TransactionState, protected readonly user: ServerTransactionUser) {
    super(key, request, channel, ctx, initial);
  }

  /** Whether a final response was sent. */
  get answered(): boolean {
    return this.final || (this.lastResponse !== undefined && this.lastResponse.status >= 200);
  }

  /** The To tag of the last response sent (the final one's when only its tag is kept). */
  get responseToTag(): string | undefined {
    return this.lastResponse !== undefined ? this.lastResponse.toTag : this.finalToTag;
  }

  /** The TU's response. Returns false when the transaction no longer takes one (or the transport failed). */
  abstract respond(res: SipResponse): boolean;

  /** A request matched to this transaction by the layer: a retransmission, or an ACK. */
  abstract receive(req: SipRequest): void;

  transportFailed(): void {
    if (this.state === 'terminated') return;
    this.user.transportError?.(this);
    this.terminate('transport-error');
  }

  protected onTerminated(reason: TerminationReason): void {
    this.user.terminated?.(this, reason);
  }

  /** Creates the response with createResponse and sends it (shortcut for the TU). */
  reply(status: number, opts?: Parameters<typeof createResponse>[2]): SipResponse | undefined {
    if (this.released) return undefined; // completed: it takes no response
    const res = createResponse(this.request, status, opts);
    return this.respond(res) ? res : undefined;
  }
}

/** INVITE server transaction (RFC 3261 17.2.1, RFC 6026 7.1 and 8). */
export class InviteServerTransaction extends ServerTransaction {
  readonly kind = 'invite-server' as const;
  /** Set when a CANCEL matched this transaction (the TU decides what to do; 9.2). */
  cancelled = false;
  private interval = 0;

  constructor(key: string, request: SipRequest, channel: TransactionChannel, ctx: TransactionContext, user: ServerTransactionUser) {
    super(key, request, channel, ctx, 'proceeding', user);
  }

  /** Called by the layer after creation: schedules the automatic 100 Trying. */
  start(): void {
    const ms = this.ctx.timers.trying;
    const trying = () => {
      if (this.state === 'proceeding' && this.lastResponse === undefined) this.respond(createResponse(this.request, 100));
    };
    if (ms <= 0) trying();
    else this.startTimer('trying', ms, trying);
  }

  respond(res: SipResponse): boolean {
    const s = res.status;
    if (this.state === 'proceeding') {
      this.stopTimer('trying');
      this.lastResponse = res;
      if (s < 200) return this.transmit(res);
      if (s < 300) {
        this.state = 'accepted';
        this.final = true;
        if (!this.transmit(res)) return false;
        // Accepted (RFC 6026 7.1) passes ACKs up and sends the TU's 2xx retransmissions: for the
        // 32 s of Timer L it needs neither the INVITE nor the 2xx (only its To tag, for RFC 2543 ACKs)
        this.finalToTag = res.toTag;
        this.lastResponse = undefined;
        this.releaseRequest();
        this.linger('L', 64 * this.t1);
        return true;
      }
      this.state = 'completed';
      if (!this.transmit(res)) return false;
      if (!this.channel.reliable) {
        this.interval = this.t1;
        this.startTimer('G', this.interval, () => this.retransmitFinal());
      }
      this.startTimer('H', 64 * this.t1, () => {
        this.user.timeout?.(this);
        this.terminate('timeout');
      });
      return true;
    }
    if (this.state === 'accepted' && s >= 200 && s < 300) {
      this.lastResponse = res;
      return this.transmit(res); // the TU retransmits its 2xx itself (RFC 6026 7.1)
    }
    return false;
  }

  private retransmitFinal(): void {
    if (this.state !== 'completed' || this.lastResponse === undefined) return;
    if (!this.transmit(this.lastResponse)) return;
    this.interval = Math.min(2 * this.interval, this.ctx.timers.t2);
    this.startTimer('G', this.interval, () => this.retransmitFinal());
  }

  receive(req: SipRequest): void {
    if (req.method === 'ACK') {
      if (this.state === 'completed') {
        this.state = 'confirmed';
        this.stopTimer('G');
        this.stopTimer('H');
        this.linger('I', this.channel.reliable ? 0 : this.ctx.timers.t4);
      } else if (this.state === 'accepted') {
        this.user.ack?.(req, this);
      }
      return;
    }
    // a retransmitted INVITE
    if (this.state === 'proceeding' || this.state === 'completed') {
      if (this.lastResponse !== undefined) this.transmit(this.lastResponse);
    }
  }
}

/** Non-INVITE server transaction (RFC 3261 17.2.2). */
export class NonInviteServerTransaction extends ServerTransaction {
  readonly kind = 'non-invite-server' as const;
  /** The final response as sent, when only its bytes are kept (see lastResponse). */
  private wire: Uint8Array | undefined;

  constructor(key: string, request: SipRequest, channel: TransactionChannel, ctx: TransactionContext, user: ServerTransactionUser) {
    super(key, request, channel, ctx, 'trying', user);
  }

  respond(res: SipResponse): boolean {
    if (this.state !== 'trying' && this.state !== 'proceeding') return false;
    this.lastResponse = res;
    if (res.status < 200) {
      this.state = 'proceeding';
      return this.transmit(res);
    }
    this.state = 'completed';
    this.final = true;
    const ch = this.channel;
    if (ch.reliable) {
      if (!this.transmit(res)) return false;
      this.linger('J', 0);
      return true;
    }
    // Timer J holds it for 32 s: keep only what it resends (the request is released; the
    // response too when the channel gives its bytes)
    if (ch.encode !== undefined && ch.sendEncoded !== undefined) {
      const wire = ch.encode(res);
      this.lastResponse = undefined;
      this.wire = wire;
      if (!this.transmitEncoded(wire)) return false;
    } else if (!this.transmit(res)) return false;
    this.releaseRequest();
    this.linger('J', 64 * this.t1);
    return true;
  }

  receive(_req: SipRequest): void {
    // Trying absorbs; Proceeding and Completed answer with the last response.
    if (this.state !== 'proceeding' && this.state !== 'completed') return;
    if (this.wire !== undefined) this.transmitEncoded(this.wire);
    else if (this.lastResponse !== undefined) this.transmit(this.lastResponse);
  }
}
