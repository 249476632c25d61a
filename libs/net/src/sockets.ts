/**
 * Listening sockets of the servers (SIP transports, STUN, TURN front and relay): UDP sockets
 * whose sends to IP literals skip dns.lookup, binding and listening that resolve once bound and
 * fail with an error naming the listener, so a start-up message can say which setting to change.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';

/** A listener as start-up messages name it. */
export interface ListenerName {
  transport: string;
  address: string;
  port: number;
}

/** A bind/listen error that names the listener (`udp [::]:3478: EADDRINUSE`), with `code` and `listener`. */
export function listenError(e: Error, l: ListenerName): Error & { code: string; listener: ListenerName } {
  const code = (e as NodeJS.ErrnoException).code ?? e.message;
  return Object.assign(new Error(`${l.transport} ${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}: ${code}`, { cause: e }), {
    code,
    listener: l,
  });
}

/**
 * dgram resolves the destination of every send through its lookup, by default dns.lookup, which
 * answers IP literals only on the next tick (a closure, a tick and an async hop per datagram).
 * The servers send to literals (sources, peers, resolved targets): answered here at once; a host
 * name still goes to dns.lookup.
 */
export function literalLookup(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  const v = net.isIP(address);
  if (v !== 0) callback(null, address, v);
  else dns.lookup(address, family as number, callback);
}

/** A UDP socket of the family (IPv6 sockets IPv6 only) that sends to IP literals without a lookup tick. */
export function udpSocket(family: 4 | 6, opts: { reuseAddr?: boolean; reusePort?: boolean } = {}): dgram.Socket {
  return dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6, lookup: literalLookup, ...opts });
}

/** Family of an address literal: 6 when it holds a colon. */
export function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/**
 * Binds a new UDP socket (see udpSocket) to address:port; resolves once bound. On failure the
 * socket is closed and the error names the listener (transport `name`, default udp).
 */
export function bindUdp(
  address: string,
  port: number,
  opts: { reuseAddr?: boolean; reusePort?: boolean; name?: string } = {},
): Promise<dgram.Socket> {
  const socket = udpSocket(familyOf(address), {
    ...(opts.reuseAddr !== undefined ? { reuseAddr: opts.reuseAddr } : {}),
    ...(opts.reusePort ? { reusePort: true } : {}),
  });
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      socket.close();
      reject(listenError(e, { transport: opts.name ?? 'udp', address, port }));
    };
    socket.once('error', fail);
    socket.bind(port, address, () => {
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/**
 * Starts a TCP/TLS/HTTP(S) server listening on address:port (IPv6 addresses IPv6 only); resolves
 * with the bound port. On failure the server is closed and the error names the listener.
 */
export function listenServer(server: net.Server, l: ListenerName): Promise<number> {
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      server.close();
      reject(listenError(e, l));
    };
    server.once('error', fail);
    server.listen({ port: l.port, host: l.address, ipv6Only: familyOf(l.address) === 6 }, () => {
      server.off('error', fail);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Runs `open`; when it fails, `close` releases what it had opened, then the error goes on. */
export async function openOrClose(open: () => Promise<void>, close: () => Promise<void>): Promise<void> {
  try {
    await open();
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Binds a server's listeners in order. A listener marked optional that fails is handed to
 * `skipped` (named as start-up messages name listeners) and the others go on; any other failure
 * ends the binding with its error.
 */
export async function bindListeners<L extends ListenerName & { optional?: boolean }>(
  listeners: readonly L[],
  bind: (l: L) => Promise<void>,
  skipped: (listener: string, error: Error) => void,
): Promise<void> {
  for (const l of listeners) {
    try {
      await bind(l);
    } catch (e) {
      if (!l.optional) throw e;
      skipped(`${l.transport} ${l.address}:${l.port}`, e as Error);
    }
  }
}
