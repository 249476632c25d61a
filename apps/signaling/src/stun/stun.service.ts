/**
 * The signaling node's STUN server (the primary): Binding on stun.portOne and stun.portTwo at IP A,
 * RFC 3489 classic clients and RFC 5780 behaviour discovery, with the primary media engine's
 * secondary STUN server as IP B: change-IP answers are built here and sent from IP B (in process,
 * or as an authenticated datagram to the engine's control port when it runs elsewhere).
 * IPv6 clients are answered on stun.address6 (every IPv6 address by default) with the same ports:
 * their XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN and OTHER-ADDRESS are IPv6 (an IPv4 secondary is not
 * offered to them: OTHER-ADDRESS is left out and change-IP is answered 420).
 */
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { isIP } from 'node:net';
import { Metrics, NODE_CONTEXT, Readiness, type NodeContext } from '@traverse/runtime';
import {
  InProcessChangeIpRelay,
  SOFTWARE,
  StunServer,
  UdpChangeIpSender,
  changeIpSecret,
  firstInterfaceAddress,
  isWildcard,
  type ChangeIpRelay,
  type StunEndpoint,
  type StunServerEvent,
} from '@traverse/stun-turn';
import { MediaEngineDirectory } from './media-engine-directory';
import { sharedCounter } from '@traverse/runtime';

type Secondary = { other: [StunEndpoint] | [StunEndpoint, StunEndpoint]; relay: ChangeIpRelay | undefined };

@Injectable()
export class StunService implements OnModuleInit, OnModuleDestroy {
  server: StunServer | undefined;
  /** The IPv6 listeners (stun.address6), when the host has IPv6. */
  server6: StunServer | undefined;
  /** IP A as clients are told (SOURCE-ADDRESS / RESPONSE-ORIGIN). */
  advertised = '';
  /** IP A for IPv6 clients. */
  advertised6 = '';
  private up = false;
  private sender: UdpChangeIpSender | undefined;
  private readonly cached: Record<4 | 6, { at: number; value: Secondary | undefined }> = { 4: { at: 0, value: undefined }, 6: { at: 0, value: undefined } };
  private inProcess: ChangeIpRelay | undefined;

  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    private readonly readiness: Readiness,
    private readonly metrics: Metrics,
    private readonly directory: MediaEngineDirectory,
  ) {}

  async onModuleInit(): Promise<void> {
    const { config, logging } = this.ctx;
    const log = logging.group('stun');
    this.readiness.register('stun-listeners', () => !config.stun.enabled || this.up);
    if (!config.stun.enabled) {
      log.info('STUN server disabled (stun.enabled is false)');
      return;
    }
    const bind = config.stun.address || '0.0.0.0';
    const pub = config.node.publicAddress;
    this.advertised = !isWildcard(bind) ? bind : pub && isIP(pub) === 4 ? pub : (firstInterfaceAddress(4) ?? '127.0.0.1');
    const registry = this.metrics.registry;
    const requests = sharedCounter(registry, 'traverse_stun_requests_total', 'STUN Binding requests answered, by server and CHANGE-REQUEST', ['server', 'change']);
    const malformed = sharedCounter(registry, 'traverse_stun_malformed_total', 'STUN datagrams dropped as malformed, by server', ['server']);
    this.sender = new UdpChangeIpSender(changeIpSecret(this.ctx.clusterSecret));
    await this.sender.start();
    const onEvent = (e: StunServerEvent) => {
      if (e.type === 'request') {
        requests.inc({ server: 'primary', change: e.change });
        log.finest({ from: `${e.from.address}:${e.from.port}`, classic: e.classic, change: e.change }, 'Binding');
      } else if (e.type === 'malformed') {
        malformed.inc({ server: 'primary' });
        log.finer({ from: `${e.from.address}:${e.from.port}`, reason: e.reason }, 'malformed STUN datagram dropped');
      } else if (e.type === 'socket-error') log.warning({ err: e.error.message }, 'STUN socket error');
    };
    this.server = new StunServer({
      address: bind,
      ports: [config.stun.portOne, config.stun.portTwo],
      advertisedAddress: this.advertised,
      secondary: () => this.secondary(4),
      software: SOFTWARE,
      onEvent,
    });
    try {
      await this.server.start();
    } catch (e) {
      throw new Error(`cannot listen for STUN on ${(e as Error).message} (set stun.portOne, stun.portTwo or stun.address, or stop what uses them)`, { cause: e });
    }
    const bind6 = config.stun.address6;
    if (bind6 !== '') {
      this.advertised6 = !isWildcard(bind6) ? bind6 : pub && isIP(pub) === 6 ? pub : (firstInterfaceAddress(6) ?? '::1');
      // the same ports as on IPv4 (a port 0 there: the one it got)
      const [q1, q2] = this.server.endpoints.map((x) => x.port) as [number, number];
      const server6 = new StunServer({ address: bind6, ports: [q1, q2], advertisedAddress: this.advertised6, secondary: () => this.secondary(6), software: SOFTWARE, onEvent });
      try {
        await server6.start();
        this.server6 = server6;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? '';
        if (!(isWildcard(bind6) && ['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT'].includes(code))) {
          await this.server.stop();
          throw new Error(`cannot listen for STUN on ${(e as Error).message} (set stun.portOne, stun.portTwo or stun.address6, or stop what uses them)`, { cause: e });
        }
        log.info({ address: bind6, err: (e as Error).message }, 'no IPv6 on this host: STUN on IPv4 only');
      }
    }
    const [p1, p2] = this.server.endpoints.map((x) => x.port);
    // the secondary in this process hands its change-IP answers back to us
    this.directory.localEngine?.attachPrimary(
      [
        { address: this.advertised, port: p1 },
        { address: this.advertised, port: p2 },
      ],
      new InProcessChangeIpRelay(this.server),
    );
    this.up = true;
    const sec = this.secondary(4);
    log.info(
      {
        address: bind,
        advertised: this.advertised,
        ...(this.server6 ? { address6: bind6, advertised6: this.advertised6 } : {}),
        ports: [p1, p2],
        secondary: sec ? sec.other.map((o) => `${o.address}:${o.port}`) : 'none (change-IP answered 420)',
      },
      'STUN server started',
    );
  }

  async onModuleDestroy(): Promise<void> {
    this.up = false;
    await this.server?.stop();
    await this.server6?.stop();
    await this.sender?.stop();
  }

  /** The secondary (IP B) of the family as known now; looked up at most once a second. */
  private secondary(family: 4 | 6): Secondary | undefined {
    const now = Date.now();
    const cached = this.cached[family];
    if (now - cached.at < 1000) return cached.value;
    const e = this.directory.primaryStunEngine();
    let value: Secondary | undefined;
    // OTHER-ADDRESS and change-IP answers are of the client's family (RFC 5780 7.4)
    if (e?.stun && (family === 6) === (isIP(e.stun.address) === 6) && e.stun.address !== (family === 4 ? this.advertised : this.advertised6)) {
      const ports = e.stun.ports;
      const a = e.stun.address;
      const other: Secondary['other'] = ports.length >= 2 ? [{ address: a, port: ports[0] }, { address: a, port: ports[1] }] : [{ address: a, port: ports[0] }];
      let relay: ChangeIpRelay | undefined;
      const local = this.directory.localEngine;
      if (e.source === 'local' && local?.secondaryStun) relay = this.inProcess ??= new InProcessChangeIpRelay(local.secondaryStun);
      else if (e.stun.control) relay = this.sender?.relayTo({ address: e.stun.address, port: e.stun.control });
      value = { other, relay };
    }
    this.cached[family] = { at: now, value };
    return value;
  }
}
