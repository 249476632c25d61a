/**
 * STUN Binding server (RFC 8489, RFC 3489 classic clients, RFC 5780 NAT behaviour discovery).
 *
 * One class plays both roles of the seed's STUN service:
 *  - primary (signaling node): address A with port one (3478) and port two (34501);
 *  - secondary (media engine): address B with its STUN port(s) (34501), answering Binding
 *    requests itself and sending the change-IP responses the primary hands it.
 * A CHANGE-REQUEST "change port" is answered from the other local port; "change IP" is built here
 * and sent by the other server through a ChangeIpRelay (in process or authenticated UDP).
 */
import dgram from 'node:dgram';
import {
  Attr,
  ErrorCode,
  ERROR_REASONS,
  OutAttribute,
  StunClass,
  StunMessage,
  StunMethod,
  TransportAddress,
  attributeValue,
  canonicalIp,
  decodeMessage,
  encodeMessage,
  getAttribute,
  unknownComprehensionRequired,
  verifyFingerprint,
} from '@traverse/stun';
import { ChangeIpRelay, ChangeIpSender, SecondaryPort, decodeChangeIpDatagram } from './change-ip-relay';
import { bindUdp, openOrClose } from '@traverse/net';

export interface StunEndpoint {
  address: string;
  port: number;
}

export interface StunServerOptions {
  /** Local address this server binds (IP A for the primary, IP B for the secondary). */
  address: string;
  /** Port one and (optionally) port two on that address. Seed defaults: primary 3478 and 34501. */
  ports: [number] | [number, number];
  /**
   * The other server's STUN endpoints (its port one and port two), advertised in
   * CHANGED-ADDRESS / OTHER-ADDRESS and used for change-IP answers. Omit when there is none:
   * change-IP requests are then refused with 420 (RFC 5780 section 6.1).
   */
  other?: [StunEndpoint] | [StunEndpoint, StunEndpoint];
  /** How to reach the other server for change-IP (required with `other` to honour change-IP). */
  changeIpRelay?: ChangeIpRelay;
  /**
   * The other server as it is now (asked per request; overrides `other`/`changeIpRelay`): for a primary
   * whose secondary media engine may come, go or move. undefined: none at the moment.
   */
  secondary?: () => { other: [StunEndpoint] | [StunEndpoint, StunEndpoint]; relay: ChangeIpRelay | undefined } | undefined;
  /** Accept change-IP relay datagrams from the other server on this control endpoint, authenticated by `secret`. */
  control?: { address: string; port: number; secret: Buffer };
  /** Public addresses to advertise when behind a NAT (same order as ports). */
  advertised?: StunEndpoint[];
  /** The address to advertise with the bound ports (for a server bound to all addresses); default `address`. */
  advertisedAddress?: string;
  software?: string;
  clock?: () => number;
  /** Counters and errors go here; no logging inside. */
  onEvent?: (e: StunServerEvent) => void;
}

export type StunServerEvent =
  | { type: 'request'; from: TransportAddress; classic: boolean; change: 'none' | 'port' | 'ip' | 'ip+port' }
  | { type: 'malformed'; from: TransportAddress; reason: string }
  | { type: 'relay-rejected'; from: TransportAddress }
  | { type: 'socket-error'; error: Error };

const UNDERSTOOD = new Set<number>([
  Attr.ChangeRequest,
  Attr.ResponseAddress,
  Attr.ResponsePort,
  Attr.Padding,
  Attr.Username,
  Attr.MessageIntegrity,
  Attr.Priority,
  Attr.UseCandidate,
  Attr.Software,
  Attr.Fingerprint,
]);

const MAX_PADDING = 1200;

export class StunServer implements ChangeIpSender {
  private sockets: dgram.Socket[] = [];
  private control?: dgram.Socket;
  private readonly seen = new Map<string, number>();
  private readonly clock: () => number;
  private readonly software: string;

  constructor(private readonly opts: StunServerOptions) {
    this.clock = opts.clock ?? Date.now;
    this.software = opts.software ?? 'traverse';
  }

  /** The bound endpoints (port 0 in the options resolves here). */
  get endpoints(): StunEndpoint[] {
    return this.sockets.map((s) => ({ address: this.opts.address, port: s.address().port }));
  }
  get controlEndpoint(): StunEndpoint | undefined {
    return this.control ? { address: this.control.address().address, port: this.control.address().port } : undefined;
  }

  async start(): Promise<void> {
    await openOrClose(
      () => this.bindAll(),
      () => this.stop(),
    );
  }

  private async bindAll(): Promise<void> {
    for (const [i, port] of this.opts.ports.entries()) {
      const s = await bindUdp(this.opts.address, port);
      s.on('message', (msg, rinfo) => this.onMessage(i as SecondaryPort, msg, rinfo));
      s.on('error', (error) => this.opts.onEvent?.({ type: 'socket-error', error }));
      this.sockets.push(s);
    }
    if (this.opts.control) {
      const c = this.opts.control;
      const s = await bindUdp(c.address, c.port);
      s.on('message', (msg, rinfo) => this.onControl(msg, rinfo));
      s.on('error', (error) => this.opts.onEvent?.({ type: 'socket-error', error }));
      this.control = s;
    }
  }

  async stop(): Promise<void> {
    const all = [...this.sockets, ...(this.control ? [this.control] : [])];
    this.sockets = [];
    this.control = undefined;
    await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** Sends a prepared response from local STUN port `port` (used by the other server's change-IP). */
  sendFrom(port: SecondaryPort, to: TransportAddress, response: Buffer): boolean {
    const s = this.sockets[port] ?? this.sockets[0];
    if (!s) return false;
    s.send(response, to.port, to.address);
    return true;
  }

  private onControl(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const c = this.opts.control!;
    const req = decodeChangeIpDatagram(c.secret, msg, this.clock(), this.seen);
    if (!req) {
      this.opts.onEvent?.({ type: 'relay-rejected', from: remote(rinfo) });
      return;
    }
    this.sendFrom(req.port, req.to, req.response);
  }

  private local(i: number): StunEndpoint {
    return this.opts.advertised?.[i] ?? { address: this.opts.advertisedAddress ?? this.opts.address, port: this.sockets[i].address().port };
  }

  private onMessage(i: SecondaryPort, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    const from = remote(rinfo);
    const d = decodeMessage(buf);
    if (!d.ok) {
      this.opts.onEvent?.({ type: 'malformed', from, reason: d.error.reason });
      return;
    }
    const m = d.value;
    if (m.cls !== StunClass.Request || m.method !== StunMethod.Binding) return; // indications and others: silently ignored
    if (m.fingerprintOffset >= 0 && !verifyFingerprint(m)) {
      this.opts.onEvent?.({ type: 'malformed', from, reason: 'bad FINGERPRINT' });
      return;
    }
    const fingerprint = m.fingerprintOffset >= 0;
    const unknown = unknownComprehensionRequired(m, UNDERSTOOD);
    if (unknown.length > 0) {
      this.reply(i, from, this.error(m, ErrorCode.UnknownAttribute, [{ type: Attr.UnknownAttributes, value: unknown }], fingerprint));
      return;
    }
    const change = getAttribute(m, Attr.ChangeRequest);
    if (change && !change.ok) {
      this.reply(i, from, this.error(m, ErrorCode.BadRequest, [], fingerprint));
      return;
    }
    const changeIp = change?.value.changeIp ?? false;
    const changePort = change?.value.changePort ?? false;
    this.opts.onEvent?.({
      type: 'request',
      from,
      classic: m.classic,
      change: changeIp ? (changePort ? 'ip+port' : 'ip') : changePort ? 'port' : 'none',
    });

    // Where the answer goes: RESPONSE-PORT (RFC 5780) or RESPONSE-ADDRESS (RFC 3489) — the latter only
    // to the requester's own IP, so the server cannot be used to reflect traffic at third parties.
    let to = from;
    let reflected = false;
    const responsePort = attributeValue(m, Attr.ResponsePort);
    if (responsePort !== undefined) to = { ...from, port: responsePort };
    const responseAddress = attributeValue(m, Attr.ResponseAddress);
    if (m.classic && responseAddress && canonicalIp(responseAddress.address) === canonicalIp(from.address)) {
      to = { ...from, port: responseAddress.port };
      reflected = true;
    }

    const peer = this.peerServer();
    const otherPortIndex = i === 0 ? 1 : 0;
    let sendPort: SecondaryPort = changePort ? otherPortIndex : i;
    let origin: StunEndpoint;
    if (changeIp) {
      const other = peer?.other;
      if (!other || !peer.relay) {
        this.reply(
          i,
          from,
          this.error(m, ErrorCode.UnknownAttribute, [{ type: Attr.UnknownAttributes, value: [Attr.ChangeRequest] }], fingerprint),
        );
        return;
      }
      if (sendPort >= other.length) sendPort = 0;
      origin = other[sendPort]!;
    } else {
      if (sendPort >= this.sockets.length) {
        if (changePort) {
          this.reply(
            i,
            from,
            this.error(m, ErrorCode.UnknownAttribute, [{ type: Attr.UnknownAttributes, value: [Attr.ChangeRequest] }], fingerprint),
          );
          return;
        }
        sendPort = 0;
      }
      origin = this.local(sendPort);
    }

    const attrs: OutAttribute[] = [];
    const mapped: TransportAddress = from;
    if (!m.classic) attrs.push({ type: Attr.XorMappedAddress, value: mapped });
    attrs.push({ type: Attr.MappedAddress, value: mapped });
    const originAddr: TransportAddress = { family: origin.address.includes(':') ? 6 : 4, address: origin.address, port: origin.port };
    const changed = this.changedAddress(i, peer?.other);
    if (m.classic) {
      attrs.push({ type: Attr.SourceAddress, value: originAddr });
      if (changed) attrs.push({ type: Attr.ChangedAddress, value: changed });
      if (reflected) attrs.push({ type: Attr.ReflectedFrom, value: from });
    } else {
      attrs.push({ type: Attr.ResponseOrigin, value: originAddr });
      if (changed) attrs.push({ type: Attr.OtherAddress, value: changed });
    }
    const padding = findPadding(m);
    if (padding !== undefined) attrs.push({ type: Attr.Padding, value: Buffer.alloc(Math.min(padding, MAX_PADDING)) });
    attrs.push({ type: Attr.Software, value: this.software });
    const response = encodeMessage(
      { method: StunMethod.Binding, cls: StunClass.SuccessResponse, transactionId: Buffer.from(m.transactionId) },
      attrs,
      {
        fingerprint: fingerprint && !m.classic,
      },
    );
    if (changeIp) peer!.relay!.send(sendPort, to, response);
    else this.sockets[sendPort].send(response, to.port, to.address);
  }

  /** CHANGED-ADDRESS / OTHER-ADDRESS: the other server's endpoint with the other port (RFC 3489 11.2.3, RFC 5780 7.4). */
  private changedAddress(i: number, other: StunEndpoint[] | undefined): TransportAddress | undefined {
    if (!other) return undefined;
    const e = other[i === 0 ? other.length - 1 : 0];
    return { family: e.address.includes(':') ? 6 : 4, address: e.address, port: e.port };
  }

  private peerServer(): { other: StunEndpoint[]; relay: ChangeIpRelay | undefined } | undefined {
    if (this.opts.secondary) return this.opts.secondary();
    return this.opts.other ? { other: this.opts.other, relay: this.opts.changeIpRelay } : undefined;
  }

  private error(m: StunMessage, code: number, extra: OutAttribute[], fingerprint: boolean): Buffer {
    return encodeMessage(
      { method: StunMethod.Binding, cls: StunClass.ErrorResponse, transactionId: Buffer.from(m.transactionId) },
      [
        { type: Attr.ErrorCode, value: { code, reason: ERROR_REASONS[code] ?? '' } },
        ...extra,
        { type: Attr.Software, value: this.software },
      ],
      { fingerprint: fingerprint && !m.classic },
    );
  }

  private reply(i: number, to: TransportAddress, b: Buffer): void {
    this.sockets[i]?.send(b, to.port, to.address);
  }
}

function findPadding(m: StunMessage): number | undefined {
  const p = m.attributes.find((a) => a.type === Attr.Padding);
  return p ? p.value.length : undefined;
}

export function remote(rinfo: dgram.RemoteInfo): TransportAddress {
  return { family: rinfo.family === 'IPv6' ? 6 : 4, address: rinfo.address, port: rinfo.port };
}
