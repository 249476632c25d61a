import { Global, Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { hostname, networkInterfaces } from 'node:os';
import { NODE_CONTEXT, Readiness, StatusSources, type NodeContext } from '@traverse/runtime';
import { ClusterNode } from '../cluster-node';
import { ClusterModule, type ClusterModuleOptions } from './cluster.module';

/** The address other nodes reach this one at: cluster.nodeAddress, else the first non-loopback IPv4 address. */
export function clusterNodeAddress(configured: string): string {
  if (configured !== '') return configured;
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

/** The cluster member options of a running node, from its configuration. */
export function clusterOptionsFor(ctx: NodeContext): ClusterModuleOptions {
  const { config } = ctx;
  const log = ctx.logging.group('cluster');
  // where the other nodes send requests for the flows this node holds (found once, announced in every heartbeat)
  const sip = ctx.roles.includes('signaling')
    ? { host: clusterNodeAddress(config.cluster.nodeAddress), udp: config.sip.udpPort, tcp: config.sip.tcpPort }
    : undefined;
  return {
    nodeName: ctx.nodeName,
    address: config.node.publicAddress || hostname(),
    redis: ctx.redisOptions,
    prefix: config.redis.keyPrefix,
    shards: config.cluster.shards,
    roles: [...ctx.roles],
    version: ctx.version,
    // database authority and singleton work belong to signaling nodes
    electable: ctx.roles.includes('signaling'),
    leaseMs: config.cluster.leaseMs,
    commitWindowMs: config.cluster.commitWindowMs,
    heartbeatMs: config.cluster.heartbeatMs,
    closedCallsKept: config.calls.closedCallsKept,
    eventTableSize: config.events.tableSize,
    logger: { log: (m) => log.fine(m), warn: (m) => log.warning(m), error: (m) => log.severe(m) },
    ...(sip ? { announceExtra: () => ({ sip }) } : {}),
  };
}

/** Binds the cluster's figures to the Server Status page and its state to readiness. */
@Injectable()
class ClusterStatusBinding implements OnModuleInit {
  constructor(
    private readonly node: ClusterNode,
    private readonly sources: StatusSources,
    private readonly readiness: Readiness,
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
  ) {}
  onModuleInit(): void {
    const { node, ctx } = this;
    this.readiness.register('cluster', () => node.isLive);
    this.sources.bind('masterServerAddress', () => node.election.master?.address ?? null);
    this.sources.bind('localCurrentCalls', () => node.calls.countOn(ctx.nodeName));
    this.sources.bind('globalCurrentCalls', () => node.status().globalCalls);
    this.sources.bind('connectedClients', () => node.tunnelClients.list(ctx.nodeName).length);
    this.sources.bind('mediaEngines', () => {
      const engines = node.mediaEngines.list();
      return { configured: engines.length, connected: engines.filter((e) => e.up).length };
    });
  }
}

/**
 * The node as a cluster member, in every role: event store and read models over the node's
 * Redis, membership, master election (signaling nodes stand), routing, @nestjs/cqrs bridged to
 * the streams. Everything libs/cluster exports as providers is injectable anywhere in the node.
 */
@Global()
@Module({
  imports: [CqrsModule.forRoot(), ClusterModule.forRootAsync({ inject: [NODE_CONTEXT], useFactory: (ctx: NodeContext) => clusterOptionsFor(ctx) })],
  providers: [ClusterStatusBinding],
  exports: [ClusterModule],
})
export class NodeClusterModule {}
