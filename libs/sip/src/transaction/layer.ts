/**
 * The transaction layer: creates client and server transactions, keeps them under their
 * matching keys, and routes incoming messages to them (RFC 3261 17.1.3, 17.2.3, 9.2).
 */
import { formatVia, headerKey } from '../headers';
import { SipRequest, type SipHeader, type SipResponse } from '../message';
import { detached } from '../chars';
import { clientKeyOfRequest, clientKeyOfResponse, isRfc3261Branch, serverKey } from './keys';
import { DEFAULT_TIMER_VALUES, LingerQueue, SystemScheduler, type Scheduler, type TransactionTimerValues } from './timers';
import {
  InviteClientTransaction,
  InviteServerTransaction,
  NonInviteClientTransaction,
  NonInviteServerTransaction,
  type ClientTransaction,
  type ClientTransactionUser,
  type ServerTransaction,
  type ServerTransactionUser,
  type TerminationReason,
  type Transaction,
  type TransactionChannel,
  type TransactionContext,
} from './transaction';

export interface TransactionLayerOptions {
  scheduler?: Scheduler;
  timers?: Partial<TransactionTimerValues>;
  /** Told when any transaction ends (metrics, logging). */
  onTerminated?: (tx: Transaction, reason: TerminationReason) => void;
}

/** Why the layer refused to create a transaction (programming errors of the TU, not network input). */
export type TransactionCreateError = 'ack-has-no-transaction' | 'no-branch' | 'duplicate';

export type CreateResult<T> = { ok: true; value: T } | { ok: false; error: TransactionCreateError };

export class TransactionLayer {
  readonly timers: TransactionTimerValues;
  readonly scheduler: Scheduler;
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly ctx: TransactionContext;
  /** Transactions lingering in Completed, by the duration of their wait. */
  private readonly lingering = new Map<number, LingerQueue>();
  /**
   * The request matchServer last found no transaction for, and its key, until a server
   * transaction is added: when that request gets its transaction next (the usual way),
   * createServer takes the key as it is and knows no transaction holds it, instead of building
   * and looking it up again.
   */
  private missed: SipRequest | undefined;
  private missedKey = '';

  constructor(private readonly opts: TransactionLayerOptions = {}) {
    this.scheduler = opts.scheduler ?? new SystemScheduler();
    this.timers = { ...DEFAULT_TIMER_VALUES, ...(opts.timers ?? {}) };
    this.ctx = {
      scheduler: this.scheduler,
      timers: this.timers,
      ended: (tx, reason) => {
        if (tx.kind === 'invite-client' || tx.kind === 'non-invite-client') {
          if (this.clients.get(tx.key) === tx) this.clients.delete(tx.key);
        } else if (this.servers.get(tx.key) === tx) this.servers.delete(tx.key);
        this.opts.onTerminated?.(tx, reason);
      },
      linger: (ms, entry) => {
        let q = this.lingering.get(ms);
        if (q === undefined) this.lingering.set(ms, (q = new LingerQueue(this.scheduler, ms)));
        return q.add(entry);
      },
    };
  }

  get clientCount(): number {
    return this.clients.size;
  }
  get serverCount(): number {
    return this.servers.size;
  }

  // ------------------------------------------------------------ client side

  /**
   * Starts a client transaction for a request (its top Via carries this element's branch) sent
   * on `channel`. INVITE gets an INVITE client transaction; ACK has none (send it directly).
   */
  sendRequest(req: SipRequest, channel: TransactionChannel, user: ClientTransactionUser): CreateResult<ClientTransaction> {
    if (req.method === 'ACK') return { ok: false, error: 'ack-has-no-transaction' };
    const key = clientKeyOfRequest(req);
    if (key === undefined) return { ok: false, error: 'no-branch' };
    if (this.clients.has(key)) return { ok: false, error: 'duplicate' };
    const tx = req.method === 'INVITE' ? new InviteClientTransaction(key, req, channel, this.ctx, user) : new NonInviteClientTransaction(key, req, channel, this.ctx, user);
    this.clients.set(key, tx);
    tx.start();
    return { ok: true, value: tx };
  }

  /** Hands a response to its client transaction. false: no transaction (a stray response, e.g. a 2xx retransmission for a proxy core). */
  receiveResponse(res: SipResponse): boolean {
    const key = clientKeyOfResponse(res);
    const tx = key === undefined ? undefined : this.clients.get(key);
    if (tx === undefined) return false;
    tx.receive(res);
    return true;
  }

  clientTransaction(key: string): ClientTransaction | undefined {
    return this.clients.get(key);
  }

  // ------------------------------------------------------------ server side

  /**
   * Matches an incoming request to a server transaction. When one matches, it handles the request
   * (absorbs or answers a retransmission, takes the ACK of a non-2xx, passes a 2xx ACK to its TU)
   * and is returned. undefined means a new request, to be given a transaction with createServer,
   * or an ACK that belongs to no transaction (an ACK for a 2xx: the TU's business).
   */
  receiveRequest(req: SipRequest): ServerTransaction | undefined {
    const tx = this.matchServer(req);
    if (tx !== undefined) tx.receive(req);
    return tx;
  }

  private matchServer(req: SipRequest): ServerTransaction | undefined {
    if (req.method !== 'ACK') {
      const joined = serverKey(req, req.method);
      if (joined === undefined) return undefined;
      // the key as createServer keeps it: one flat string, its hash computed once
      const key = detached(joined);
      const tx = this.servers.get(key);
      if (tx === undefined) {
        this.missed = req;
        this.missedKey = key;
      }
      return tx;
    }
    const top = req.topVia;
    if (top === undefined) return undefined;
    if (isRfc3261Branch(top.branch)) {
      const key = serverKey(req, 'INVITE');
      return key === undefined ? undefined : this.servers.get(key);
    }
    // RFC 2543: the INVITE (without To tag, or with the dialog's) whose response carried the ACK's To tag.
    const initial = this.servers.get(serverKey(req, 'INVITE', '')!);
    if (initial !== undefined && initial.responseToTag === req.toTag) return initial;
    return this.servers.get(serverKey(req, 'INVITE')!);
  }

  /**
   * Creates the server transaction of a new request (not ACK) that will answer on `channel`.
   * An INVITE transaction schedules its own 100 Trying (timers.trying).
   */
  createServer(req: SipRequest, channel: TransactionChannel, user: ServerTransactionUser = {}): CreateResult<ServerTransaction> {
    if (req.method === 'ACK') return { ok: false, error: 'ack-has-no-transaction' };
    let key: string;
    if (this.missed === req) key = this.missedKey;
    else {
      const joined = serverKey(req, req.method);
      if (joined === undefined) return { ok: false, error: 'no-branch' };
      key = detached(joined);
      if (this.servers.has(key)) return { ok: false, error: 'duplicate' };
    }
    this.missed = undefined; // whatever missed before may be taken now
    if (req.method === 'INVITE') {
      const tx = new InviteServerTransaction(key, req, channel, this.ctx, user);
      this.servers.set(key, tx);
      tx.start();
      return { ok: true, value: tx };
    }
    const tx = new NonInviteServerTransaction(key, req, channel, this.ctx, user);
    this.servers.set(key, tx);
    return { ok: true, value: tx };
  }

  /** The INVITE server transaction a CANCEL refers to (RFC 3261 9.2), marked cancelled; undefined: answer the CANCEL 481. */
  matchCancel(cancel: SipRequest): InviteServerTransaction | undefined {
    const key = serverKey(cancel, 'INVITE');
    const tx = key === undefined ? undefined : this.servers.get(key);
    if (!(tx instanceof InviteServerTransaction)) return undefined;
    tx.cancelled = true;
    return tx;
  }

  serverTransaction(key: string): ServerTransaction | undefined {
    return this.servers.get(key);
  }

  /** Ends every transaction (node stopping). */
  stop(): void {
    for (const tx of [...this.clients.values(), ...this.servers.values()]) tx.stop();
    for (const q of this.lingering.values()) q.clear();
    this.lingering.clear();
  }
}

/**
 * CANCEL for a pending INVITE (RFC 3261 9.1): same Request-URI, Call-ID, From, To, CSeq number
 * and a single Via equal to the INVITE's top Via, so it matches the INVITE's server transaction;
 * the INVITE's Route header fields are copied.
 */
export function createCancel(invite: SipRequest): SipRequest {
  const headers: SipHeader[] = [];
  const top = invite.topVia;
  if (top !== undefined) headers.push({ name: 'Via', key: 'via', value: formatVia(top) });
  headers.push({ name: 'Max-Forwards', key: 'max-forwards', value: '70' });
  for (const hd of invite.headers) if (hd.key === 'route' || hd.key === 'from' || hd.key === 'to' || hd.key === 'call-id') headers.push(hd);
  headers.push({ name: 'CSeq', key: headerKey('CSeq'), value: invite.cseq.seq + ' CANCEL' });
  headers.push({ name: 'Content-Length', key: 'content-length', value: '0' });
  return new SipRequest('CANCEL', invite.requestUri, headers);
}
