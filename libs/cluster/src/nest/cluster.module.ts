import {
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  Optional,
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  type OnModuleDestroy,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { EventBus, type IEvent, type IEventPublisher, type IMessageSource } from '@nestjs/cqrs';
import type { Subject } from 'rxjs';
import { ClusterNode, type ClusterNodeOptions } from '../cluster-node';
import { ClusterEvent } from '../events';
import { EventStore, type AppendResult } from '../event-store';
import { MasterElection } from '../master-election';
import { Membership } from '../membership';
import { LocationService } from '../read-models/location-service';
import { CallTable, ConfigurationModel, EventTable, MediaEngines, NatBindings, TunnelClients } from '../read-models/tables';
import { ClusterRouter } from '../router';
import { ClusterLocationService } from '../cluster-location-service';

export interface ClusterModuleOptions extends ClusterNodeOptions {
  /** Bridge @nestjs/cqrs' EventBus to the streams when CqrsModule is imported (default true). */
  bridgeCqrs?: boolean;
  /** Start the node in onModuleInit (default true). */
  autoStart?: boolean;
}

export const CLUSTER_OPTIONS: InjectionToken = Symbol('CLUSTER_OPTIONS');

/**
 * @nestjs/cqrs publisher and message source backed by the cluster streams. Cluster events
 * (registered ClusterEvent classes) published on the EventBus are appended to their shard
 * stream; handlers on every node (this one too) receive them when they are read back, rebuilt
 * from the stored type name and version (never the class name). Other events stay local.
 */
@Injectable()
export class ClusterEventBridge implements IEventPublisher, IMessageSource {
  private subject: Subject<IEvent> | undefined;
  private readonly log = new Logger('ClusterEventBridge');
  constructor(private readonly node: ClusterNode) {}

  /**
   * Cluster events: appended (the returned promise resolves with where, or undefined when the
   * append failed, which is logged: never a rejection that a caller not awaiting would leak).
   */
  publish<T extends IEvent>(event: T): Promise<AppendResult | undefined> | undefined {
    if (event instanceof ClusterEvent && this.node.registry.has(event)) {
      return this.node.publish(event).catch((e) => {
        this.log.error(`could not append ${event.type}: ${(e as Error).message}`);
        return undefined;
      });
    }
    this.subject?.next(event);
    return undefined;
  }
  publishAll<T extends IEvent>(events: T[]): (Promise<AppendResult | undefined> | undefined)[] {
    return events.map((e) => this.publish(e));
  }
  bridgeEventsTo<T extends IEvent>(subject: Subject<T>): void {
    this.subject = subject as unknown as Subject<IEvent>;
    this.node.onLiveEvent((e) => {
      const instance = this.node.registry.instantiate(e);
      if (instance) subject.next(instance as unknown as T);
    });
  }
}

@Injectable()
class ClusterLifecycle implements OnModuleInit, OnModuleDestroy {
  constructor(
    private readonly node: ClusterNode,
    private readonly bridge: ClusterEventBridge,
    private readonly moduleRef: ModuleRef,
    @Optional() @Inject(CLUSTER_OPTIONS) private readonly options?: ClusterModuleOptions,
  ) {}
  async onModuleInit(): Promise<void> {
    if (this.options?.bridgeCqrs !== false) {
      let bus: EventBus | undefined;
      try {
        bus = this.moduleRef.get(EventBus, { strict: false });
      } catch {
        bus = undefined; // CqrsModule not imported
      }
      if (bus) {
        bus.publisher = this.bridge;
        this.bridge.bridgeEventsTo(bus.subject$);
      }
    }
    if (this.options?.autoStart !== false) await this.node.start();
  }
  async onModuleDestroy(): Promise<void> {
    await this.node.stop();
  }
}

export interface ClusterModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  inject?: InjectionToken[];
  useFactory: (...args: never[]) => ClusterModuleOptions | Promise<ClusterModuleOptions>;
}

function fromNode<T>(token: abstract new (...a: never[]) => T, pick: (n: ClusterNode) => T): Provider {
  return { provide: token, useFactory: pick, inject: [ClusterNode] };
}

/**
 * The cluster member as a Nest module. The app binds it:
 *
 *   ClusterModule.forRootAsync({ inject: [Config], useFactory: (c) => ({ nodeName: c.node.name,
 *     address: c.node.address, redis: c.redis, roles: c.roles }) })
 *
 * and injects ClusterNode (status, publish, runAsMaster via node.election), LocationService,
 * CallTable, TunnelClients, EventTable, ConfigurationModel, Membership, MasterElection, ClusterRouter.
 */
@Global()
@Module({})
export class ClusterModule {
  static forRoot(options: ClusterModuleOptions): DynamicModule {
    return ClusterModule.build([{ provide: CLUSTER_OPTIONS, useValue: options }], []);
  }

  static forRootAsync(options: ClusterModuleAsyncOptions): DynamicModule {
    return ClusterModule.build(
      [{ provide: CLUSTER_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] }],
      options.imports ?? [],
    );
  }

  private static build(optionProviders: Provider[], imports: ModuleMetadata['imports']): DynamicModule {
    const providers: Provider[] = [
      ...optionProviders,
      {
        provide: ClusterNode,
        useFactory: (o: ClusterModuleOptions) => {
          const log = new Logger(`Cluster ${o.nodeName}`);
          return new ClusterNode({ logger: { log: (m) => log.log(m), warn: (m) => log.warn(m), error: (m) => log.error(m) }, ...o });
        },
        inject: [CLUSTER_OPTIONS],
      },
      fromNode(LocationService, (n) => n.location),
      fromNode(ClusterLocationService, (n) => n.locationService),
      fromNode(NatBindings, (n) => n.nat),
      fromNode(CallTable, (n) => n.calls),
      fromNode(TunnelClients, (n) => n.tunnelClients),
      fromNode(MediaEngines, (n) => n.mediaEngines),
      fromNode(EventTable, (n) => n.eventTable),
      fromNode(ConfigurationModel, (n) => n.configuration),
      fromNode(MasterElection, (n) => n.election),
      fromNode(Membership, (n) => n.membership),
      fromNode(ClusterRouter, (n) => n.router),
      fromNode(EventStore, (n) => n.store),
      ClusterEventBridge,
      ClusterLifecycle,
    ];
    return {
      module: ClusterModule,
      imports: imports ?? [],
      providers,
      exports: [
        ClusterNode,
        LocationService,
        ClusterLocationService,
        NatBindings,
        CallTable,
        TunnelClients,
        MediaEngines,
        EventTable,
        ConfigurationModel,
        MasterElection,
        Membership,
        ClusterRouter,
        EventStore,
        ClusterEventBridge,
        CLUSTER_OPTIONS,
      ],
    };
  }
}
