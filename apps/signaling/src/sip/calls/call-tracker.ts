/**
 * The calls this node proxies (one per initial INVITE): started when the INVITE is forwarded,
 * answered on its first 2xx, ended by BYE (NORMAL), by the INVITE's failure with the seed's end
 * reason, or when no ACK follows the 2xx (NO_RESPONSE_TO_OK). Also refused attempts (wrong
 * credentials, no such user, max concurrent calls reached) are recorded, started and ended at
 * once. An answered call whose session (RFC 4028 Session-Expires) is not refreshed, or that outlives
 * calls.maxDuration, is released (CALL_REL_TIMEOUT). What happens goes to a CallRecorder (the cluster's call events); the local count enforces
 * calls.maxConcurrent.
 */
import type { CallEndReason, CallParty, CallStartedData } from '@traverse/cluster';
import type { Scheduler, SipRequest, SipResponse, TimerRef } from '@traverse/sip';
import { canonicalAor } from '../registrar/registrar';
import type { SipSource } from '../transport/sip-transport';
import type { CalleeInfo, InviteOutcome, ProxyCallObserver } from '../proxy/proxy-types';
import { endReasonFor } from './end-reasons';

/** Where call state goes: the call events of the cluster (CallStarted, CallAnswered, CallEnded). */
export interface CallRecorder {
  started(d: CallStartedData): void;
  answered(callId: string, answeredAt: number): void;
  ended(callId: string, endedAt: number, reason: CallEndReason, sipStatus?: number): void;
}

export interface CallTrackerLog {
  fine(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface CallTrackerOptions {
  nodeName: string;
  /** calls.maxConcurrent, read on every call (it may change while running). */
  maxConcurrent: () => number;
  recorder: CallRecorder;
  scheduler: Scheduler;
  /** How long after a 2xx its ACK may take (64*T1). */
  ackTimeoutMs: number;
  /** calls.maxDuration in ms (0: none): an answered call without a BYE is released after it (CALL_REL_TIMEOUT). */
  maxDurationMs?: () => number;
  /** Country (ISO 3166 alpha-2) of a public address; undefined for local and unknown ones. */
  country?: (ip: string) => string | undefined;
  now?: () => number;
  log?: CallTrackerLog;
}

interface LocalCall {
  callId: string;
  startedAt: number;
  answered: boolean;
  ackTimer?: TimerRef;
  /** Releases the call when its session is not refreshed (RFC 4028) or it outlives calls.maxDuration. */
  releaseTimer?: TimerRef;
  /** Session interval (s) the dialog negotiated, if any. */
  sessionExpires?: number;
}

/** The session interval of a Session-Expires header (RFC 4028), in seconds. */
function sessionExpires(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /^\s*(\d{1,9})/.exec(value);
  const n = m ? Number(m[1]) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export class CallTracker implements ProxyCallObserver {
  private readonly calls = new Map<string, LocalCall>();
  private readonly now: () => number;

  constructor(private readonly o: CallTrackerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Calls of this node now (ringing or answered). */
  get localCount(): number {
    return this.calls.size;
  }

  admit(_req: SipRequest): boolean {
    return this.calls.size < this.o.maxConcurrent();
  }

  has(callId: string): boolean {
    return this.calls.has(callId);
  }

  private party(uri: SipRequest['from']['uri'], raw: string, address: string | undefined): CallParty {
    const p: CallParty = { userId: uri.kind === 'sip' ? canonicalAor(uri) : raw };
    if (address !== undefined) {
      p.publicAddress = address;
      const c = this.o.country?.(address);
      if (c !== undefined) p.country = c;
    }
    return p;
  }

  private startedData(req: SipRequest, source: SipSource, callee: CalleeInfo, at: number): CallStartedData {
    const callee_: CallParty = { userId: callee.userId };
    if (callee.publicAddress !== undefined) {
      callee_.publicAddress = callee.publicAddress;
      const c = this.o.country?.(callee.publicAddress);
      if (c !== undefined) callee_.country = c;
    }
    return {
      callId: req.callId,
      node: this.o.nodeName,
      caller: this.party(req.from.uri, req.header('from') ?? '', source.address),
      callee: callee_,
      startedAt: at,
    };
  }

  started(req: SipRequest, source: SipSource, callee: CalleeInfo): void {
    const at = this.now();
    this.calls.set(req.callId, { callId: req.callId, startedAt: at, answered: false });
    this.o.recorder.started(this.startedData(req, source, callee, at));
    this.o.log?.fine({ callId: req.callId, callee: callee.userId }, 'call started');
  }

  answered(req: SipRequest, ok?: SipResponse): void {
    const c = this.calls.get(req.callId);
    if (c === undefined || c.answered) return;
    c.answered = true;
    this.o.recorder.answered(c.callId, this.now());
    c.ackTimer = this.o.scheduler.set(this.o.ackTimeoutMs, () => {
      c.ackTimer = undefined;
      if (this.calls.get(c.callId) === c) this.end(c, 'NO_RESPONSE_TO_OK');
    });
    const se = sessionExpires(ok?.header('session-expires')) ?? sessionExpires(req.header('session-expires'));
    if (se !== undefined) c.sessionExpires = se;
    this.armRelease(c);
    this.o.log?.fine({ callId: c.callId, ...(se !== undefined ? { sessionExpires: se } : {}) }, 'call answered');
  }

  refreshed(req: SipRequest): void {
    const c = this.calls.get(req.callId);
    if (c === undefined || !c.answered) return;
    const se = sessionExpires(req.header('session-expires'));
    if (se !== undefined) c.sessionExpires = se;
    this.armRelease(c);
  }

  /** (Re)starts the release timer: the session interval when one was negotiated, else calls.maxDuration. */
  private armRelease(c: LocalCall): void {
    if (c.releaseTimer !== undefined) this.o.scheduler.clear(c.releaseTimer);
    c.releaseTimer = undefined;
    const max = this.o.maxDurationMs?.() ?? 0;
    const se = c.sessionExpires !== undefined ? c.sessionExpires * 1000 : 0;
    const ms = se > 0 && max > 0 ? Math.min(se, max) : se || max;
    if (ms <= 0) return;
    c.releaseTimer = this.o.scheduler.set(ms, () => {
      c.releaseTimer = undefined;
      if (this.calls.get(c.callId) === c) this.end(c, 'CALL_REL_TIMEOUT');
    });
  }

  failed(req: SipRequest, outcome: InviteOutcome): void {
    const c = this.calls.get(req.callId);
    if (c === undefined || c.answered) return;
    this.end(c, endReasonFor(outcome), outcome.status);
  }

  refused(req: SipRequest, source: SipSource, outcome: InviteOutcome): void {
    if (this.calls.has(req.callId)) return;
    const at = this.now();
    const to = req.to.uri;
    this.o.recorder.started(this.startedData(req, source, { userId: to.kind === 'sip' ? canonicalAor(to) : req.requestUri, external: false }, at));
    const reason = endReasonFor(outcome);
    this.o.recorder.ended(req.callId, at, reason, outcome.status);
    this.o.log?.fine({ callId: req.callId, status: outcome.status, reason }, 'call refused');
  }

  ack(req: SipRequest): void {
    const c = this.calls.get(req.callId);
    if (c?.ackTimer === undefined) return;
    this.o.scheduler.clear(c.ackTimer);
    c.ackTimer = undefined;
  }

  bye(req: SipRequest): void {
    const c = this.calls.get(req.callId);
    if (c === undefined) return;
    this.end(c, 'NORMAL');
  }

  private end(c: LocalCall, reason: CallEndReason, sipStatus?: number): void {
    if (c.ackTimer !== undefined) this.o.scheduler.clear(c.ackTimer);
    if (c.releaseTimer !== undefined) this.o.scheduler.clear(c.releaseTimer);
    this.calls.delete(c.callId);
    this.o.recorder.ended(c.callId, this.now(), reason, sipStatus);
    this.o.log?.fine({ callId: c.callId, reason, ...(sipStatus !== undefined ? { sipStatus } : {}) }, 'call ended');
  }

  /** Forgets local state (node stopping); the cluster ends the calls of a node that went away. */
  stop(): void {
    for (const c of this.calls.values()) for (const t of [c.ackTimer, c.releaseTimer]) if (t !== undefined) this.o.scheduler.clear(t);
    this.calls.clear();
  }
}
