/**
 * The proxy registrations of the node: clients that registered through it from behind a NAT.
 * For each it remembers the public (source) address and flow the REGISTER came on, keeps the
 * NAT binding open with keep-alives (OPTIONS requests whose answers are counted, or RFC 5626
 * CRLF pings) and removes the registration when the client stops answering (the configured
 * number of OPTIONS in a row unanswered, or the connection it registered on gone). Entries go to
 * the cluster as NAT binding events, so every node can show the Proxy Registrations table.
 * No Nest here; nat-setup.ts wires it.
 */
import { createRequest, generateBranch, type ClientTransaction, type SipResponse, type TransactionLayer } from '@traverse/sip';
import { splitHostPort } from '../transport/addresses';
import type { SipSource, SipTransport, SipTransportName } from '../transport/sip-transport';
import type { ContactBinding, LocationService, RegistrationRemovedReason } from '../registrar/location-service';
import type { NatVerdict } from './nat-detection';

export type NatKeepAliveMethod = 'options' | 'crlf' | 'none';

export interface NatKeepAliveSettings {
  method: NatKeepAliveMethod;
  /** Time between keep-alives to one client (ms). */
  intervalMs: number;
  /** Unanswered OPTIONS in a row after which the registration is removed. */
  failures: number;
}

/** One row of the Proxy Registrations table, as this node knows it. */
export interface ProxyRegistration {
  /** Identity across the cluster: AOR and binding key. */
  id: string;
  aor: string;
  /** Binding key in the location service. */
  key: string;
  contact: string;
  transport: SipTransportName;
  /** Where the client is reached: its source address, ip:port (IPv6 in brackets). */
  publicAddress: string;
  /** The address it announced for itself, ip:port. */
  privateAddress?: string;
  /** The flow its REGISTER came on (connection id or UDP 5-tuple). */
  flow: string;
  /** Whether calls of this client need the media relay. */
  relay: boolean;
  reasons: string[];
  registeredAt: number;
  lastSeen: number;
  /** Seconds between its last two registrations; until it re-registers, the time granted. */
  rate: number;
  expiresAt: number;
  keepAlive: { sent: number; answered: number; failures: number; lastSentAt?: number; lastAnsweredAt?: number };
}

/** What the keeper tells the cluster (NAT binding events) and the metrics. */
export type NatKeeperEvent =
  | { type: 'created'; entry: ProxyRegistration }
  | { type: 'refreshed'; entry: ProxyRegistration }
  | { type: 'released'; entry: ProxyRegistration; reason: string }
  | { type: 'keepalive'; entry: ProxyRegistration; method: 'options' | 'crlf'; outcome: 'sent' | 'answered' | 'failed' }
  | { type: 'unreachable'; entry: ProxyRegistration; why: string };

export interface NatKeeperOptions {
  transport: SipTransport;
  layer: TransactionLayer;
  location: LocationService;
  settings: NatKeepAliveSettings;
  /** Whether clients behind NAT need the media relay (media.relay is not 'none'). */
  relay: () => boolean;
  onEvent?: (e: NatKeeperEvent) => void;
  now?: () => number;
}

const TRANSPORTS = new Set<string>(['UDP', 'TCP', 'TLS', 'WS', 'WSS']);

export class NatKeeper {
  private readonly entries = new Map<string, ProxyRegistration>();
  private readonly byFlow = new Map<string, Set<string>>();
  private readonly inFlight = new Map<string, ClientTransaction>();
  private settings: NatKeepAliveSettings;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly o: NatKeeperOptions) {
    this.settings = { ...o.settings };
    this.now = o.now ?? Date.now;
    o.location.onRemoved((b, reason) => this.removed(b, reason));
  }

  get size(): number {
    return this.entries.size;
  }

  get keepAliveSettings(): NatKeepAliveSettings {
    return { ...this.settings };
  }

  /** Every proxy registration this node holds. */
  list(now = this.now()): ProxyRegistration[] {
    return [...this.entries.values()].filter((e) => e.expiresAt > now).map((e) => ({ ...e, keepAlive: { ...e.keepAlive } }));
  }

  get(id: string): ProxyRegistration | undefined {
    return this.entries.get(id);
  }

  /** New keep-alive settings, in force from the next tick. */
  configure(s: Partial<NatKeepAliveSettings>): void {
    this.settings = { ...this.settings, ...s };
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * A REGISTER was answered: the bindings it wrote (those carrying its Call-ID and CSeq) from a
   * client behind NAT become (or refresh) proxy registrations; ones no longer behind NAT leave.
   */
  registered(bindings: readonly ContactBinding[] | undefined, response: SipResponse, source: SipSource, nat: NatVerdict | undefined): void {
    if (bindings === undefined || nat === undefined || response.status < 200 || response.status >= 300) return;
    const now = this.now();
    const callId = response.callId;
    const cseq = response.cseq.seq;
    for (const b of bindings) {
      if (b.callId !== callId || b.cseq !== cseq) continue;
      const id = `${b.aor} ${b.key}`;
      const old = this.entries.get(id);
      if (!nat.behindNat) {
        if (old) this.release(old, 'not behind NAT');
        continue;
      }
      const publicAddress = b.received ?? (source.address.includes(':') ? `[${source.address}]:${source.port}` : `${source.address}:${source.port}`);
      const transport = (TRANSPORTS.has(b.transport ?? '') ? b.transport : source.transport) as SipTransportName;
      const seen = b.updatedAt ?? now;
      const granted = Math.max(0, Math.round((b.expiresAt - seen) / 1000));
      if (old !== undefined && old.publicAddress === publicAddress && old.transport === transport) {
        old.rate = Math.max(0, Math.round((seen - old.lastSeen) / 1000));
        old.lastSeen = seen;
        old.expiresAt = b.expiresAt;
        old.contact = b.contact;
        old.relay = this.o.relay();
        this.setFlow(old, source.flow);
        this.o.onEvent?.({ type: 'refreshed', entry: old });
        continue;
      }
      if (old !== undefined) this.forget(old);
      const e: ProxyRegistration = {
        id,
        aor: b.aor,
        key: b.key,
        contact: b.contact,
        transport,
        publicAddress,
        ...(nat.privateAddress !== undefined ? { privateAddress: nat.privateAddress } : {}),
        flow: source.flow,
        relay: this.o.relay(),
        reasons: [...nat.reasons],
        registeredAt: old?.registeredAt ?? b.registeredAt ?? seen,
        lastSeen: seen,
        rate: old ? Math.max(0, Math.round((seen - old.lastSeen) / 1000)) : granted,
        expiresAt: b.expiresAt,
        keepAlive: { sent: 0, answered: 0, failures: 0 },
      };
      this.entries.set(id, e);
      this.setFlow(e, source.flow);
      this.o.onEvent?.({ type: 'created', entry: e });
    }
  }

  /**
   * Takes back the proxy registrations this node held before it restarted (its rows of the
   * cluster's table). A client on UDP is kept open again at the address it registered from; one
   * whose connection closed with the restart cannot be reached (RFC 5626 flow failure) and its
   * registration goes, as when a connection closes; a row whose registration is gone is released.
   * Entries the node already holds again (the client re-registered first) are left as they are.
   */
  adopt(entries: readonly ProxyRegistration[]): void {
    const now = this.now();
    for (const e of entries) {
      if (this.entries.has(e.id)) continue;
      this.entries.set(e.id, e);
      this.setFlow(e, e.flow);
      const binding = this.o.location.lookup(e.aor, now).find((b) => b.key === e.key);
      if (binding === undefined) this.release(e, 'unregistered');
      else if (e.expiresAt <= now) this.release(e, 'expired');
      else if (e.transport !== 'UDP' && !this.o.transport.hasFlow(e.flow))
        this.unreachable(e, 'its connection closed when the node restarted');
    }
  }

  private setFlow(e: ProxyRegistration, flow: string): void {
    this.byFlow.get(e.flow)?.delete(e.id);
    e.flow = flow;
    let set = this.byFlow.get(flow);
    if (set === undefined) this.byFlow.set(flow, (set = new Set()));
    set.add(e.id);
  }

  private forget(e: ProxyRegistration): void {
    this.entries.delete(e.id);
    const set = this.byFlow.get(e.flow);
    set?.delete(e.id);
    if (set?.size === 0) this.byFlow.delete(e.flow);
    this.inFlight.delete(e.id);
  }

  private release(e: ProxyRegistration, reason: string): void {
    if (this.entries.get(e.id) !== e) return;
    this.forget(e);
    this.o.onEvent?.({ type: 'released', entry: e, reason });
  }

  /** The location service dropped a binding (unregistered, expired, forced, flow failed). */
  private removed(b: ContactBinding, reason: RegistrationRemovedReason): void {
    const e = this.entries.get(`${b.aor} ${b.key}`);
    if (e !== undefined) this.release(e, reason);
  }

  /** A keep-alive answer on a flow (CRLF pong, WebSocket pong): its clients are alive. */
  pong(flow: string): void {
    for (const id of this.byFlow.get(flow) ?? []) {
      const e = this.entries.get(id);
      if (e === undefined) continue;
      e.keepAlive.answered++;
      e.keepAlive.failures = 0;
      e.keepAlive.lastAnsweredAt = this.now();
      this.o.onEvent?.({ type: 'keepalive', entry: e, method: 'crlf', outcome: 'answered' });
    }
  }

  /** A connection closed: clients behind NAT that registered on it cannot be reached any more (RFC 5626 flow failure). */
  flowClosed(flow: string): void {
    for (const id of [...(this.byFlow.get(flow) ?? [])]) {
      const e = this.entries.get(id);
      if (e !== undefined && e.transport !== 'UDP') this.unreachable(e, 'its connection closed');
    }
  }

  /** Sends the keep-alives that are due; forgets expired entries. */
  tick(now = this.now()): void {
    const s = this.settings;
    for (const e of [...this.entries.values()]) {
      if (e.expiresAt <= now) {
        this.release(e, 'expired');
        continue;
      }
      if (s.method === 'none' || this.inFlight.has(e.id)) continue;
      if (now - (e.keepAlive.lastSentAt ?? e.lastSeen) < s.intervalMs) continue;
      this.keepAlive(e, now);
    }
  }

  private keepAlive(e: ProxyRegistration, now: number): void {
    const hp = splitHostPort(e.publicAddress);
    if (hp.port === undefined) return;
    e.keepAlive.lastSentAt = now;
    if (!this.o.transport.hasFlow(e.flow) && e.transport !== 'UDP') {
      // the connection it registered on is gone: nothing reaches it (RFC 5626 flow failure)
      this.unreachable(e, 'its connection is closed');
      return;
    }
    if (this.settings.method === 'crlf') {
      if (!this.o.transport.ping(e.flow)) {
        this.unreachable(e, 'its flow is gone');
        return;
      }
      e.keepAlive.sent++;
      this.o.onEvent?.({ type: 'keepalive', entry: e, method: 'crlf', outcome: 'sent' });
      return;
    }
    const branch = generateBranch();
    const via = this.o.transport.via(e.transport, hp.host, branch);
    const self = this.o.transport.sentBy(e.transport, hp.host);
    const req = createRequest({
      method: 'OPTIONS',
      uri: e.contact,
      from: { uri: `sip:keepalive@${self.host}` },
      to: { uri: e.aor },
      via: { transport: via.transport, host: via.host, port: via.port!, branch },
      headers: [['Accept', 'application/sdp']],
    });
    const channel = this.o.transport.channelTo({ transport: e.transport, address: hp.host, port: hp.port, flow: e.flow });
    const id = e.id;
    const created = this.o.layer.sendRequest(req, channel, {
      response: (res) => {
        if (res.status < 200) return;
        this.inFlight.delete(id);
        const cur = this.entries.get(id);
        if (cur !== e) return;
        e.keepAlive.answered++;
        e.keepAlive.failures = 0;
        e.keepAlive.lastAnsweredAt = this.now();
        this.o.onEvent?.({ type: 'keepalive', entry: e, method: 'options', outcome: 'answered' });
      },
      timeout: () => this.failed(id, e, 'no answer'),
      transportError: () => this.failed(id, e, 'transport error'),
    });
    if (!created.ok) return;
    this.inFlight.set(id, created.value);
    e.keepAlive.sent++;
    this.o.onEvent?.({ type: 'keepalive', entry: e, method: 'options', outcome: 'sent' });
  }

  private failed(id: string, e: ProxyRegistration, why: string): void {
    this.inFlight.delete(id);
    if (this.entries.get(id) !== e) return;
    e.keepAlive.failures++;
    this.o.onEvent?.({ type: 'keepalive', entry: e, method: 'options', outcome: 'failed' });
    if (e.keepAlive.failures >= this.settings.failures) this.unreachable(e, `${e.keepAlive.failures} keep-alive(s) in a row unanswered (${why})`);
  }

  /** The client cannot be reached any more: its registration goes (the location service tells us back). */
  private unreachable(e: ProxyRegistration, why: string): void {
    this.o.onEvent?.({ type: 'unreachable', entry: e, why });
    this.o.location.remove(e.aor, e.key, 'flow-failed').then(
      (n) => {
        if (n === 0) this.release(e, 'flow-failed');
      },
      () => this.release(e, 'flow-failed'),
    );
  }
}
