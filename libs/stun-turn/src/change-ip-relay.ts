/**
 * The hook that lets the primary STUN server (signaling node) answer an RFC 3489 / RFC 5780
 * CHANGE-REQUEST "change IP" from the secondary's address (media engine): the primary builds the
 * response and asks the secondary to send it from one of its STUN sockets.
 *
 * Two bindings: InProcessChangeIpRelay (both roles in one process) and UdpChangeIpRelay, a small
 * authenticated UDP datagram (HMAC-SHA256 with the media engine's shared secret token, a time
 * window and a replay cache) that the secondary's StunServer accepts on its control socket.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import dgram from 'node:dgram';
import { TransportAddress, addressBytes, formatIp, hmac } from '@traverse/stun';

/** Which of the secondary's two STUN ports sends: 0 = its port one, 1 = its port two. */
export type SecondaryPort = 0 | 1;

export interface ChangeIpRelay {
  /** Ask the secondary STUN server to send `response` to `to` from its STUN socket `port`. Fire and forget. */
  send(port: SecondaryPort, to: TransportAddress, response: Buffer): void;
}

/** The part of a StunServer the relay needs (implemented by StunServer.sendFrom). */
export interface ChangeIpSender {
  sendFrom(port: SecondaryPort, to: TransportAddress, response: Buffer): boolean;
}

export class InProcessChangeIpRelay implements ChangeIpRelay {
  constructor(private readonly secondary: ChangeIpSender) {}
  send(port: SecondaryPort, to: TransportAddress, response: Buffer): void {
    this.secondary.sendFrom(port, to, response);
  }
}

const MAGIC = Buffer.from('TRVC'); // traverse change-ip, version 1
const VERSION = 1;
const MAC_LEN = 16;
/** Seconds a relay datagram stays acceptable. */
export const CHANGE_IP_WINDOW_SECONDS = 30;

/**
 * Wire format: "TRVC" | version(1) | port(1) | family(1) | reserved(1) | time(4, s) | nonce(8) |
 * to-port(2) | to-address(4|16) | response(..) | HMAC-SHA256(secret, all before)[0..16].
 */
export function encodeChangeIpDatagram(
  secret: Buffer,
  port: SecondaryPort,
  to: TransportAddress,
  response: Buffer,
  nowMs: number,
): Buffer | undefined {
  const ip = addressBytes(to);
  if (!ip) return undefined;
  const head = Buffer.alloc(20 + 2 + ip.length);
  MAGIC.copy(head, 0);
  head[4] = VERSION;
  head[5] = port;
  head[6] = ip.length === 4 ? 4 : 6;
  head.writeUInt32BE(Math.floor(nowMs / 1000) >>> 0, 8);
  randomBytes(8).copy(head, 12);
  head.writeUInt16BE(to.port, 20);
  head.set(ip, 22);
  const mac = hmac('sha256', secret, head, response).subarray(0, MAC_LEN);
  return Buffer.concat([head, response, mac]);
}

export interface ChangeIpRequest {
  port: SecondaryPort;
  to: TransportAddress;
  response: Buffer;
}

/**
 * Verifies and decodes a relay datagram. Returns undefined for anything forged, stale, replayed
 * or malformed. `seen` is the replay cache (nonce hex -> expiry ms), bounded by the caller.
 */
export function decodeChangeIpDatagram(secret: Buffer, buf: Buffer, nowMs: number, seen: Map<string, number>): ChangeIpRequest | undefined {
  if (buf.length < 26 + MAC_LEN + 20 || buf.length > 2048) return undefined;
  if (!buf.subarray(0, 4).equals(MAGIC) || buf[4] !== VERSION) return undefined;
  const port = buf[5];
  const fam = buf[6];
  if ((port !== 0 && port !== 1) || (fam !== 4 && fam !== 6)) return undefined;
  const ipLen = fam === 4 ? 4 : 16;
  const headLen = 22 + ipLen;
  const body = buf.subarray(0, buf.length - MAC_LEN);
  const mac = hmac('sha256', secret, body).subarray(0, MAC_LEN);
  if (!timingSafeEqual(mac, buf.subarray(buf.length - MAC_LEN))) return undefined;
  const age = Math.floor(nowMs / 1000) - buf.readUInt32BE(8);
  if (Math.abs(age) > CHANGE_IP_WINDOW_SECONDS) return undefined;
  const nonce = buf.subarray(12, 20).toString('hex');
  if (seen.has(nonce)) return undefined;
  if (seen.size > 100_000) for (const [k, exp] of seen) if (exp <= nowMs) seen.delete(k);
  if (seen.size > 100_000) return undefined;
  seen.set(nonce, nowMs + 2 * CHANGE_IP_WINDOW_SECONDS * 1000);
  const ip = Uint8Array.from(buf.subarray(22, headLen));
  return {
    port,
    to: { family: fam === 4 ? 4 : 6, address: formatIp(ip), port: buf.readUInt16BE(20) },
    response: buf.subarray(headLen, buf.length - MAC_LEN),
  };
}

export interface UdpChangeIpRelayOptions {
  /** The secondary's control socket. */
  target: { address: string; port: number };
  /** Shared secret token (the media engine's). */
  secret: Buffer;
  clock?: () => number;
}

/** Sends change-IP requests to a remote secondary over UDP. start() binds an ephemeral socket. */
export class UdpChangeIpRelay implements ChangeIpRelay {
  private socket?: dgram.Socket;
  private readonly clock: () => number;
  constructor(private readonly opts: UdpChangeIpRelayOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  async start(): Promise<void> {
    const type = this.opts.target.address.includes(':') ? 'udp6' : 'udp4';
    const s = dgram.createSocket(type);
    s.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, () => {
        s.off('error', reject);
        resolve();
      });
    });
    this.socket = s;
  }

  send(port: SecondaryPort, to: TransportAddress, response: Buffer): void {
    const d = encodeChangeIpDatagram(this.opts.secret, port, to, response, this.clock());
    if (d && this.socket) this.socket.send(d, this.opts.target.port, this.opts.target.address);
  }

  async stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

/**
 * One UDP socket that sends change-IP requests to any number of remote secondaries (the primary
 * media engine may change while the node runs). relayTo() gives the ChangeIpRelay of one target.
 */
export class UdpChangeIpSender {
  private v4?: dgram.Socket;
  private v6?: dgram.Socket;
  private readonly relays = new Map<string, ChangeIpRelay>();
  constructor(
    private readonly secret: Buffer,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Binds an IPv4 socket, and an IPv6 one where the host has IPv6. */
  async start(): Promise<void> {
    const open = async (type: 'udp4' | 'udp6'): Promise<dgram.Socket | undefined> => {
      const s = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
      s.on('error', () => undefined);
      const ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.bind(0, () => resolve(true));
      });
      if (!ok) s.close();
      return ok ? s : undefined;
    };
    this.v4 = await open('udp4');
    this.v6 = await open('udp6');
  }

  relayTo(target: { address: string; port: number }): ChangeIpRelay {
    const k = `${target.address}|${target.port}`;
    let r = this.relays.get(k);
    if (!r) {
      const v6 = target.address.includes(':');
      r = {
        send: (port, to, response) => {
          const d = encodeChangeIpDatagram(this.secret, port, to, response, this.clock());
          const s = v6 ? this.v6 : this.v4;
          if (d && s) s.send(d, target.port, target.address);
        },
      };
      if (this.relays.size > 64) this.relays.clear();
      this.relays.set(k, r);
    }
    return r;
  }

  async stop(): Promise<void> {
    const all = [this.v4, this.v6].filter((s): s is dgram.Socket => s !== undefined);
    this.v4 = this.v6 = undefined;
    await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
