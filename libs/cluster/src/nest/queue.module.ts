import {
  Global,
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  type OnModuleDestroy,
} from '@nestjs/common';
import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { createRedisClient, type RedisClient, type RedisConnectionOptions } from '@traverse/redis';

export interface QueueDefinition {
  name: string;
  /** Roles whose nodes add jobs (default: every role). */
  producers?: string[];
  /** Roles whose nodes run the worker (default: none). */
  workers?: string[];
  concurrency?: number;
  /** Attempts per job (default 5), with exponential backoff from `backoffMs` (default 1000). */
  attempts?: number;
  backoffMs?: number;
  /** Completed/failed jobs kept (default 1000 / 5000). */
  keepCompleted?: number;
  keepFailed?: number;
}

export interface QueueModuleOptions {
  /** Roles of this node, e.g. ['signaling', 'master-duties']. */
  roles: string[];
  /**
   * Connection options (each queue and worker gets its own client, with maxRetriesPerRequest null
   * as BullMQ workers need), or a factory returning a NEW client per call configured likewise.
   */
  connection: RedisConnectionOptions | (() => RedisClient);
  /** Key prefix; one hash tag so that BullMQ's scripts work on Redis Cluster (default "{traverse-queues}"). */
  prefix?: string;
  queues: QueueDefinition[];
}

export type JobProcessor<T = unknown, R = unknown> = (job: Job<T, R>) => Promise<R>;

/**
 * Named BullMQ queues with retries, created only on the nodes whose roles need them: a node
 * gets a Queue for a definition when one of its roles produces to it, and a Worker when one of
 * its roles works it and the app registers a processor.
 */
export class QueueRegistry {
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Map<string, Worker>();
  private readonly conns: RedisClient[] = [];
  private readonly defs: Map<string, QueueDefinition>;
  readonly prefix: string;

  constructor(private readonly o: QueueModuleOptions) {
    this.defs = new Map(o.queues.map((q) => [q.name, q]));
    this.prefix = o.prefix ?? '{traverse-queues}';
  }

  private connection(): RedisClient {
    const c = this.o.connection;
    // BullMQ workers block: they need maxRetriesPerRequest null on their own connection.
    const client = typeof c === 'function' ? c() : createRedisClient(c, { maxRetriesPerRequest: null });
    this.conns.push(client);
    return client;
  }

  private has(roles: string[] | undefined, all: boolean): boolean {
    if (!roles) return all;
    return roles.some((r) => this.o.roles.includes(r));
  }

  /** Whether this node produces to / works a queue. */
  produces(name: string): boolean {
    const d = this.defs.get(name);
    return !!d && this.has(d.producers, true);
  }
  works(name: string): boolean {
    const d = this.defs.get(name);
    return !!d && this.has(d.workers, false);
  }

  /** The queue, when this node's roles produce to it (else an error: a bug in the wiring). */
  queue(name: string): Queue {
    const d = this.defs.get(name);
    if (!d) throw new Error(`queue not defined: ${name}`);
    if (!this.produces(name)) throw new Error(`queue ${name} is not produced by roles ${this.o.roles.join(',')}`);
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, {
        connection: this.connection(),
        prefix: this.prefix,
        defaultJobOptions: {
          attempts: d.attempts ?? 5,
          backoff: { type: 'exponential', delay: d.backoffMs ?? 1000 },
          removeOnComplete: d.keepCompleted ?? 1000,
          removeOnFail: d.keepFailed ?? 5000,
        },
      });
      this.queues.set(name, q);
    }
    return q;
  }

  add<T>(name: string, data: T, opts?: JobsOptions): Promise<Job<T>> {
    return this.queue(name).add(name, data, opts) as Promise<Job<T>>;
  }

  /** Registers the processor of a queue; the worker only runs where a role works it. Returns whether it runs here. */
  process<T, R>(name: string, processor: JobProcessor<T, R>): boolean {
    if (!this.works(name) || this.workers.has(name)) return false;
    const d = this.defs.get(name)!;
    const w = new Worker<T, R>(name, processor, { connection: this.connection(), prefix: this.prefix, concurrency: d.concurrency ?? 1 });
    this.workers.set(name, w as Worker);
    return true;
  }

  worker(name: string): Worker | undefined {
    return this.workers.get(name);
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await Promise.all(this.conns.map((c) => c.quit().catch(() => c.disconnect())));
    this.workers.clear();
    this.queues.clear();
  }
}

export const QUEUE_OPTIONS: InjectionToken = Symbol('QUEUE_OPTIONS');

@Injectable()
class QueueLifecycle implements OnModuleDestroy {
  constructor(@Inject(QueueRegistry) private readonly registry: QueueRegistry) {}
  async onModuleDestroy(): Promise<void> {
    await this.registry.close();
  }
}

/** BullMQ queues for background work (mail, SNMP traps, CDR export, RADIUS accounting). */
@Global()
@Module({})
export class QueueModule {
  static forRoot(options: QueueModuleOptions): DynamicModule {
    return QueueModule.forRootAsync({ useFactory: () => options });
  }
  static forRootAsync(
    o: Pick<ModuleMetadata, 'imports'> & {
      inject?: InjectionToken[];
      useFactory: (...a: never[]) => QueueModuleOptions | Promise<QueueModuleOptions>;
    },
  ): DynamicModule {
    return {
      module: QueueModule,
      imports: o.imports ?? [],
      providers: [
        { provide: QUEUE_OPTIONS, useFactory: o.useFactory, inject: o.inject ?? [] },
        { provide: QueueRegistry, useFactory: (opts: QueueModuleOptions) => new QueueRegistry(opts), inject: [QUEUE_OPTIONS] },
        QueueLifecycle,
      ],
      exports: [QueueRegistry],
    };
  }
}
