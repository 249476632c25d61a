/**
 * Batched UDP data plane (Linux, native addon built from ../native with node-gyp): UDP sockets
 * read and written by one native thread with recvmmsg/sendmmsg, forwarding TURN ChannelData to
 * peers and peer datagrams to clients along routes set from JavaScript, without entering
 * JavaScript. Every other datagram is handed up to the socket's `onMessage`, in batches.
 *
 * A route is one channel binding of a UDP client: (listener socket, client address, channel)
 * <-> (relayed socket, peer address). It forwards while its time to live runs (the caller keeps
 * it at the earliest of the channel's and the peer permission's expiry) and counts what it
 * relayed. Packets of an expired route, short or malformed ChannelData, and datagrams of unknown
 * sources are handed up, never forwarded.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { getSystemErrorName } from 'node:util';

/** The native module's functions (see native/udp_relay.c). */
interface Addon {
  create(onPacket: (socketId: number, address: string, port: number, bytes: Buffer) => void): unknown;
  open(handle: unknown, address: string, port: number, kind: number, bufferBytes: number): [number, number];
  closeSocket(handle: unknown, socketId: number): boolean;
  send(handle: unknown, socketId: number, bytes: Uint8Array, address: string, port: number): boolean;
  setRoute(
    handle: unknown,
    listener: number,
    clientAddress: string,
    clientPort: number,
    channel: number,
    relay: number,
    peerAddress: string,
    peerPort: number,
    ttlMs: number,
  ): number;
  setRouteTtl(handle: unknown, route: number, ttlMs: number): boolean;
  routeStats(handle: unknown, route: number, remove: boolean): [number, number, number, number] | undefined;
  stats(handle: unknown): [number, number, number, number, number, number, number];
  close(handle: unknown): void;
  controlOpen(
    address: string,
    port: number,
    bufferBytes: number,
    reusePort: boolean,
    onMessage: (arena: Buffer, offset: number, length: number, address: string, port: number) => void,
  ): [unknown, number];
  /** 0 when the OS took the datagram, else the errno it refused it with. */
  controlSend(handle: unknown, bytes: Uint8Array, address: string, port: number): number;
  controlClose(handle: unknown): void;
}

export type UdpRelayAvailability = { available: true; path: string } | { available: false; reason: string };

/** Where the build puts the addon (dist/libs/udp-relay/native), seen from the compiled wrapper. */
const ADDON_DIR = join(__dirname, '..', 'native');

let loaded: { addon: Addon; path: string } | { reason: string } | undefined;

function load(): { addon: Addon; path: string } | { reason: string } {
  if (loaded) return loaded;
  const path = join(ADDON_DIR, 'udp_relay.node');
  if (process.platform !== 'linux') loaded = { reason: `no native data plane on ${process.platform}` };
  else if (!existsSync(path)) {
    const why = join(ADDON_DIR, 'unavailable.txt');
    loaded = { reason: existsSync(why) ? readFileSync(why, 'utf8').trim() : `addon not built (${path} missing)` };
  } else {
    try {
      const m = { exports: {} as Addon };
      process.dlopen(m, path);
      loaded = { addon: m.exports, path };
    } catch (e) {
      loaded = { reason: `addon did not load: ${(e as Error).message}` };
    }
  }
  return loaded;
}

/** Whether the native data plane can run here, and if not why. */
export function udpRelayAvailability(): UdpRelayAvailability {
  const l = load();
  return 'addon' in l ? { available: true, path: l.path } : { available: false, reason: l.reason };
}

/** The UDP sockets a listener gets; with `unavailable`, why auto fell back to node:dgram. */
export interface UdpPlaneChoice {
  kind: 'native' | 'node';
  unavailable?: string;
}

/**
 * The bytes in memory of their own, for bytes kept long after they arrived or were built: a
 * datagram viewed in the native socket's 64 KB arena, or a small Buffer taken from Node's shared
 * pool (Buffer.from, Buffer.allocUnsafe: 64 KB blocks on Node 24), keeps the whole block alive.
 */
export function ownCopy(b: Uint8Array): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length);
  c.set(b);
  return c;
}

/**
 * The sockets a setting asks for (auto | native | node): native when the addon loads here and
 * the setting allows it, else node:dgram. Throws (code ERR_UDP_RELAY_UNAVAILABLE), naming `what`,
 * when native is required and the addon is not available.
 */
export function chooseUdpPlane(want: 'auto' | 'native' | 'node', what: string): UdpPlaneChoice {
  if (want === 'node') return { kind: 'node' };
  const a = udpRelayAvailability();
  if (a.available) return { kind: 'native' };
  if (want === 'native') throw Object.assign(new Error(`${what} is not available here (${a.reason})`), { code: 'ERR_UDP_RELAY_UNAVAILABLE' });
  return { kind: 'node', unavailable: a.reason };
}

/** Source of a handed-up datagram (the fields of dgram's RemoteInfo the relay uses). */
export interface RelayRemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export type RelaySocketKind = 'listener' | 'relay';

export interface RelaySocketOptions {
  /** 'listener' sockets take ChannelData from clients; 'relay' sockets take datagrams from peers. */
  kind: RelaySocketKind;
  /** SO_RCVBUF and SO_SNDBUF (bytes); the OS default when absent. */
  bufferBytes?: number;
  /**
   * Listeners only: join the SO_REUSEPORT group of a control socket already bound (with
   * reusePort) to the same address and port. The kernel then steers each datagram by its first
   * byte: ChannelData (0x40-0x7F) to this socket, everything else (STUN) to the control socket,
   * which its owner reads directly: control traffic does not cross threads.
   */
  steered?: boolean;
  /** Datagrams no route forwarded. */
  onMessage: (msg: Buffer, rinfo: RelayRemoteInfo) => void;
}

/** Packets and bytes one route relayed toward the peer (up) and the client (down). */
export interface RouteStats {
  packetsToPeer: number;
  bytesToPeer: number;
  packetsToClient: number;
  bytesToClient: number;
}

export interface RouteOptions {
  listener: RelaySocket;
  client: { address: string; port: number };
  /** 0x4000-0x7FFE */
  channel: number;
  relay: RelaySocket;
  peer: { address: string; port: number };
  /** Milliseconds the route forwards from now. */
  ttlMs: number;
}

export interface UdpRelayStats {
  forwardedToPeers: number;
  forwardedToClients: number;
  handedUp: number;
  /** Handed-up datagrams dropped because JavaScript fell too far behind. */
  droppedHandUp: number;
  /** Datagrams the OS refused (socket buffer full, unreachable). */
  sendErrors: number;
  routes: number;
  sockets: number;
}

const MAX_TTL = 0xffff_ffff;

function ttl(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(MAX_TTL, Math.ceil(ms));
}

/** What the sockets of the addon share: the address bound, and closing once. */
abstract class BoundSocket {
  protected open = true;

  constructor(readonly local: { address: string; port: number; family: 4 | 6 }) {}

  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' } {
    return { address: this.local.address, port: this.local.port, family: this.local.family === 6 ? 'IPv6' : 'IPv4' };
  }

  get closed(): boolean {
    return !this.open;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.release();
  }

  protected abstract release(): void;
}

/** The family of an address to bind, after checking it and the port (errors with code EINVAL). */
function bindFamily(address: string, port: number): 4 | 6 {
  const family = isIP(address);
  if (family === 0) throw Object.assign(new Error(`not an IP address: ${address}`), { code: 'EINVAL' });
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw Object.assign(new Error(`bad port: ${port}`), { code: 'EINVAL' });
  return family as 4 | 6;
}

/** One UDP socket of the data plane (closing it drops the routes through it). `send` has dgram's argument order. */
export class RelaySocket extends BoundSocket {
  constructor(
    private readonly owner: UdpRelay,
    readonly id: number,
    local: { address: string; port: number; family: 4 | 6 },
    readonly kind: RelaySocketKind,
    /** Datagrams no route forwarded (may be replaced while the socket is open). */
    public onMessage: (msg: Buffer, rinfo: RelayRemoteInfo) => void,
  ) {
    super(local);
  }

  /** Sends one datagram at once; false when the OS did not take it (buffer full, unreachable, closed). */
  send(msg: Uint8Array, port: number, address: string): boolean {
    return this.open && this.owner.sendFrom(this.id, msg, port, address);
  }

  protected release(): void {
    this.owner.closeSocket(this);
  }
}

export class UdpRelay {
  private readonly addon: Addon;
  private readonly handle: unknown;
  private readonly sockets: (RelaySocket | undefined)[] = [];
  private closedFlag = false;

  private constructor(addon: Addon) {
    this.addon = addon;
    // Each handed-up datagram is its own event-loop callback (an Immediate, in arrival order), as
    // a dgram 'message' is: the promise jobs one queues run before the next datagram is seen,
    // however many datagrams the native thread handed up in one batch.
    const deliver = (id: number, address: string, port: number, bytes: Buffer) => {
      const s = this.sockets[id];
      if (s === undefined || this.closedFlag) return;
      s.onMessage(bytes, { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port, size: bytes.length });
    };
    this.handle = addon.create((id, address, port, bytes) => {
      setImmediate(deliver, id, address, port, bytes);
    });
  }

  /** Starts a data plane (its thread); throws with the reason when the addon is not available. */
  static create(): UdpRelay {
    const l = load();
    if (!('addon' in l))
      throw Object.assign(new Error(`native UDP data plane not available: ${l.reason}`), { code: 'ERR_UDP_RELAY_UNAVAILABLE' });
    return new UdpRelay(l.addon);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Binds a UDP socket (IPv6 sockets IPv6 only) and adds it to the thread. Throws an Error with
   * the errno name as `code` (EADDRINUSE...) when the bind fails.
   */
  openSocket(address: string, port: number, opts: RelaySocketOptions): RelaySocket {
    const family = bindFamily(address, port);
    const [id, bound] = this.addon.open(
      this.handle,
      address,
      port,
      opts.kind === 'listener' ? (opts.steered ? 2 : 0) : 1,
      Math.max(0, Math.floor(opts.bufferBytes ?? 0)),
    );
    const s = new RelaySocket(this, id, { address, port: bound, family }, opts.kind, opts.onMessage);
    this.sockets[id] = s;
    return s;
  }

  /** @internal */
  sendFrom(id: number, msg: Uint8Array, port: number, address: string): boolean {
    if (this.closedFlag) return false;
    return this.addon.send(this.handle, id, msg, address, port);
  }

  /** @internal */
  closeSocket(s: RelaySocket): void {
    if (this.sockets[s.id] === s) this.sockets[s.id] = undefined;
    if (!this.closedFlag) this.addon.closeSocket(this.handle, s.id);
  }

  /**
   * Adds a route (replacing one of the same client channel or the same peer on that relayed
   * socket) and returns its id. Throws on a closed socket, a wrong kind, or a family mismatch.
   */
  setRoute(r: RouteOptions): number {
    if (r.listener.closed || r.relay.closed) throw Object.assign(new Error('route through a closed socket'), { code: 'EINVAL' });
    return this.addon.setRoute(
      this.handle,
      r.listener.id,
      r.client.address,
      r.client.port,
      r.channel,
      r.relay.id,
      r.peer.address,
      r.peer.port,
      ttl(r.ttlMs),
    );
  }

  /** Sets how long a route forwards from now; false when there is no such route. */
  setRouteTtl(id: number, ttlMs: number): boolean {
    if (this.closedFlag) return false;
    return this.addon.setRouteTtl(this.handle, id, ttl(ttlMs));
  }

  routeStats(id: number): RouteStats | undefined {
    if (this.closedFlag) return undefined;
    return statsOf(this.addon.routeStats(this.handle, id, false));
  }

  /** Removes a route (it stops forwarding at once); returns what it relayed. */
  removeRoute(id: number): RouteStats | undefined {
    if (this.closedFlag) return undefined;
    return statsOf(this.addon.routeStats(this.handle, id, true));
  }

  stats(): UdpRelayStats {
    if (this.closedFlag)
      return { forwardedToPeers: 0, forwardedToClients: 0, handedUp: 0, droppedHandUp: 0, sendErrors: 0, routes: 0, sockets: 0 };
    const [forwardedToPeers, forwardedToClients, handedUp, droppedHandUp, sendErrors, routes, sockets] = this.addon.stats(this.handle);
    return { forwardedToPeers, forwardedToClients, handedUp, droppedHandUp, sendErrors, routes, sockets };
  }

  /** Stops the thread and closes every socket; the sockets' objects turn closed. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.addon.close(this.handle);
    for (const s of this.sockets) s?.close();
    this.sockets.length = 0;
  }
}

function statsOf(v: [number, number, number, number] | undefined): RouteStats | undefined {
  return v === undefined ? undefined : { packetsToPeer: v[0], bytesToPeer: v[1], packetsToClient: v[2], bytesToClient: v[3] };
}

export interface ControlSocketOptions {
  /** SO_RCVBUF and SO_SNDBUF (bytes); the OS default when absent. */
  bufferBytes?: number;
  /** SO_REUSEPORT, so that a steered listener of a data plane can join the port (see RelaySocketOptions.steered). */
  reusePort?: boolean;
  /** Each received datagram with its source, as its own callback from the event loop. */
  onMessage: (msg: Buffer, address: string, port: number) => void;
}

/**
 * A UDP socket of the native addon read on this thread (no data plane thread): for request and
 * answer traffic, such as the STUN of a TURN listener. Cheaper per datagram than node:dgram: the
 * datagrams of one readable event come in with one recvmmsg into a buffer kept for the socket's
 * life, each handed to `onMessage` as a view of its own bytes in a 64 KB arena that consecutive
 * datagrams share, with its source address and port (no 64 KB receive buffer or memory allocation
 * per datagram, no rinfo object); `send` is one sendto, at once. IPv6 sockets are IPv6 only. `send`
 * has dgram's argument order.
 */
export class ControlSocket extends BoundSocket {
  private constructor(
    private readonly addon: Addon,
    private readonly handle: unknown,
    local: { address: string; port: number; family: 4 | 6 },
  ) {
    super(local);
  }

  /** Binds address:port (0: any free port). Throws an Error with the errno name as `code` when the bind fails or the addon is not available. */
  static open(address: string, port: number, opts: ControlSocketOptions): ControlSocket {
    const l = load();
    if (!('addon' in l))
      throw Object.assign(new Error(`native UDP sockets not available: ${l.reason}`), { code: 'ERR_UDP_RELAY_UNAVAILABLE' });
    const family = bindFamily(address, port);
    const onMessage = opts.onMessage;
    const [handle, bound] = l.addon.controlOpen(
      address,
      port,
      Math.max(0, Math.floor(opts.bufferBytes ?? 0)),
      opts.reusePort === true,
      (arena, offset, length, from, fromPort) => onMessage(arena.subarray(offset, offset + length), from, fromPort),
    );
    return new ControlSocket(l.addon, handle, { address, port: bound, family });
  }

  /** Sends one datagram at once; false when the OS did not take it (buffer full, unreachable, too big, closed, other family). */
  send(msg: Uint8Array, port: number, address: string): boolean {
    return this.trySend(msg, port, address) === undefined;
  }

  /**
   * send(), telling why a datagram did not go: undefined when the OS took it, else the errno name
   * (EAGAIN or ENOBUFS: buffers full for now; ENETUNREACH, EHOSTUNREACH, EACCES, EPERM, EMSGSIZE,
   * EINVAL: it cannot go; EBADF: the socket is closed; EAFNOSUPPORT: an address of the other family).
   */
  trySend(msg: Uint8Array, port: number, address: string): string | undefined {
    if (!this.open) return 'EBADF';
    const errno = this.addon.controlSend(this.handle, msg, address, port);
    return errno === 0 ? undefined : getSystemErrorName(-errno);
  }

  /** Stops reading and closes the socket: no callback comes after close(). */
  protected release(): void {
    this.addon.controlClose(this.handle);
  }
}
