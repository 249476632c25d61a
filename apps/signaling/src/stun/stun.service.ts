/**
 * The signaling node's STUN server (the primary): Binding on stun.portOne and stun.portTwo at IP A,
 * RFC 3489 classic clients and RFC 5780 behaviour discovery, with the primary media engine's
 * secondary STUN server as IP B: change-IP answers are built here and sent from IP B (in process,
 * or as an authenticated datagram to the engine's control port when it runs elsewhere).
 */
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { isIP } from 'node:net';
import { Metrics, NODE_CONTEXT, Readiness, type NodeContext } from '@traverse/runtime';
import { StunServer, type StunEndpoint, type StunServerEvent } from './stun-server';
import { InProcessChangeIpRelay, UdpChangeIpSender, type ChangeIpRelay } from './change-ip-relay';
import { MediaEngineDirectory } from './media-engine-directory';
import { SOFTWARE, firstInterfaceAddress, isWildcard } from '../../../media-engine/src/addresses';
import { changeIpSecret } from '../../../media-engine/src/media-engine.service';
import { sharedCounter } from '../../../media-engine/src/metrics-util';

type Secondary = { other: [StunEndpoint] | [StunEndpoint, StunEndpoint]; relay: ChangeIpRelay | undefined };

@Injectable()
export class StunService implements OnModuleInit, OnModuleDestroy {
  server: StunServer | undefined;
  /** IP A as clients are told (SOURCE-ADDRESS / RESPONSE-ORIGIN). */
  advertised = '';
  private up = false;
  private sender: UdpChangeIpSender | undefined;
  private cached: { at: number; value: Secondary | undefined } = { at: 0, value: undefined };
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
    this.server = new StunServer({
      address: bind,
      ports: [config.stun.portOne, config.stun.portTwo],
      advertisedAddress: this.advertised,
      secondary: () => this.secondary(),
      software: SOFTWARE,
      onEvent: (e: StunServerEvent) => {
        if (e.type === 'request') {
          requests.inc({ server: 'primary', change: e.change });
          log.finest({ from: `${e.from.address}:${e.from.port}`, classic: e.classic, change: e.change }, 'Binding');
        } else if (e.type === 'malformed') {
          malformed.inc({ server: 'primary' });
          log.finer({ from: `${e.from.address}:${e.from.port}`, reason: e.reason }, 'malformed STUN datagram dropped');
        } else if (e.type === 'socket-error') log.warning({ err: e.error.message }, 'STUN socket error');
      },
    });
    try {
      await this.server.start();
    } catch (e) {
      throw new Error(`cannot listen for STUN on ${(e as Error).message} (set stun.portOne, stun.portTwo or stun.address, or stop what uses them)`, { cause: e });
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
    const sec = this.secondary();
    log.info(
      {
        address: bind,
        advertised: this.advertised,
        ports: [p1, p2],
        secondary: sec ? sec.other.map((o) => `${o.address}:${o.port}`) : 'none (change-IP answered 420)',
      },
      'STUN server started',
    );
  }

  async onModuleDestroy(): Promise<void> {
    this.up = false;
    await this.server?.stop();
    await this.sender?.stop();
  }

  /** The secondary (IP B) as known now; looked up at most once a second. */
  private secondary(): Secondary | undefined {
    const now = Date.now();
    if (now - this.cached.at < 1000) return this.cached.value;
    const e = this.directory.primaryStunEngine();
    let value: Secondary | undefined;
    if (e?.stun && e.stun.address !== this.advertised) {
      const ports = e.stun.ports;
      const a = e.stun.address;
      const other: Secondary['other'] = ports.length >= 2 ? [{ address: a, port: ports[0] }, { address: a, port: ports[1] }] : [{ address: a, port: ports[0] }];
      let relay: ChangeIpRelay | undefined;
      const local = this.directory.localEngine;
      if (e.source === 'local' && local?.secondaryStun) relay = this.inProcess ??= new InProcessChangeIpRelay(local.secondaryStun);
      else if (e.stun.control) relay = this.sender?.relayTo({ address: e.stun.address, port: e.stun.control });
      value = { other, relay };
    }
    this.cached = { at: now, value };
    return value;
  }
}
