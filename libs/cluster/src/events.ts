import { ClusterError } from './errors';

/** Where and when a stored event was written: filled in when it is read back from its stream. */
export interface EventMeta {
  /** Redis stream id within its shard ("ms-seq"); with `shard` it identifies the event. */
  readonly id: string;
  readonly shard: number;
  /** Name of the node that emitted it. */
  readonly node: string;
  /** Emission time, ms since the epoch (the emitter's clock). */
  readonly time: number;
}

/**
 * Base class of every event stored in the cluster's streams. The stored identity is the stable
 * `type` string and the schema `version` of the class, never its JS class name. Instances are
 * plain @nestjs/cqrs events, so `@EventsHandler(RegistrationAdded)` works on them.
 */
export abstract class ClusterEvent<T = unknown> {
  meta: EventMeta | undefined;
  constructor(
    readonly data: T,
    meta?: EventMeta,
  ) {
    this.meta = meta;
  }
  get type(): string {
    return (this.constructor as ClusterEventClass<T>).type;
  }
}

export interface ClusterEventClass<T = unknown> {
  new (data: T, meta?: EventMeta): ClusterEvent<T>;
  /** Stable stored type name, e.g. "registration.added". */
  readonly type: string;
  /** Current schema version of `data`. */
  readonly version: number;
  /** The aggregate the event belongs to; events of one aggregate keep their order (same shard). */
  aggregateOf(data: T): string;
  /** Turns `data` stored with an older schema version into the current shape. */
  upcast(data: unknown, fromVersion: number): T;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a class of any payload type
export type AnyClusterEventClass = ClusterEventClass<any>;

export type EventData<C> = C extends ClusterEventClass<infer T> ? T : never;

export interface EventDefinition<T> {
  aggregate: (data: T) => string;
  /** Upcasters keyed by the version they read: upcasters[1] turns v1 data into v2 data, and so on. */
  upcasters?: Record<number, (data: never) => unknown>;
}

function className(type: string): string {
  return type
    .split(/[.\-_]/)
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

/** Defines an event class with a stable stored type name and schema version. */
export function defineEvent<T>(type: string, version: number, def: EventDefinition<T>): ClusterEventClass<T> {
  if (!/^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/.test(type))
    throw new ClusterError('INVALID_EVENT', `event type must look like "area.name": ${type}`);
  if (!Number.isInteger(version) || version < 1)
    throw new ClusterError('INVALID_EVENT', `event version must be a positive integer: ${type}`);
  const C = class extends ClusterEvent<T> {
    static readonly type = type;
    static readonly version = version;
    static aggregateOf(data: T): string {
      return def.aggregate(data);
    }
    static upcast(data: unknown, fromVersion: number): T {
      let d = data;
      for (let v = fromVersion; v < version; v++) {
        const up = def.upcasters?.[v];
        if (!up) throw new ClusterError('INVALID_EVENT', `${type}: no upcaster from version ${v}`);
        d = up(d as never);
      }
      return d as T;
    }
  };
  Object.defineProperty(C, 'name', { value: className(type) });
  return C;
}

/** An event as read from a stream, after upcasting to the current schema. */
export interface StoredEvent<T = unknown> extends EventMeta {
  readonly type: string;
  readonly version: number;
  readonly aggregate: string;
  readonly data: T;
}

/** Maps stored type names to event classes; decodes stream entries. */
export class EventRegistry {
  private readonly byType = new Map<string, AnyClusterEventClass>();

  register(...classes: AnyClusterEventClass[]): this {
    for (const c of classes) {
      const known = this.byType.get(c.type);
      if (known && known !== c) throw new ClusterError('INVALID_EVENT', `event type registered twice: ${c.type}`);
      this.byType.set(c.type, c);
    }
    return this;
  }
  get(type: string): AnyClusterEventClass | undefined {
    return this.byType.get(type);
  }
  has(event: ClusterEvent): boolean {
    return this.byType.get(event.type) === event.constructor;
  }
  types(): string[] {
    return [...this.byType.keys()];
  }

  /**
   * Stream entry fields for an event: a header "type|version|node|time" and the JSON data. Two
   * fields, not six: the reader's RESP decoding is the main cost of a rebuild.
   */
  encode(event: ClusterEvent, node: string, time = Date.now()): string[] {
    const c = event.constructor as ClusterEventClass;
    if (this.byType.get(c.type) !== c) throw new ClusterError('UNKNOWN_EVENT_TYPE', `event class not registered: ${c.type ?? c.name}`);
    return ['h', `${c.type}|${c.version}|${node}|${time}`, 'd', JSON.stringify(event.data)];
  }

  /**
   * Decodes stream entry fields. Returns undefined for a type this node does not know or a
   * version newer than it understands (a newer node wrote it): the caller skips it.
   */
  decode(shard: number, id: string, fields: string[]): StoredEvent | undefined {
    let header = '';
    let raw = 'null';
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'h') header = fields[i + 1]!;
      else if (fields[i] === 'd') raw = fields[i + 1]!;
    }
    const p1 = header.indexOf('|');
    const p2 = header.indexOf('|', p1 + 1);
    const p3 = header.lastIndexOf('|');
    if (p1 < 0 || p2 < 0 || p3 <= p2) return undefined;
    const type = header.slice(0, p1);
    const version = Number(header.slice(p1 + 1, p2));
    const node = header.slice(p2 + 1, p3);
    const time = Number(header.slice(p3 + 1));
    const c = this.byType.get(type);
    if (!c || !(version <= c.version)) return undefined;
    let data: unknown;
    try {
      data = JSON.parse(raw);
      if (version < c.version) data = c.upcast(data, version);
      return { id, shard, type, version: c.version, node, time, aggregate: c.aggregateOf(data), data };
    } catch {
      return undefined;
    }
  }

  /** Builds the event class instance of a stored event (for @nestjs/cqrs handlers). */
  instantiate(e: StoredEvent): ClusterEvent | undefined {
    const c = this.byType.get(e.type);
    return c ? new c(e.data, { id: e.id, shard: e.shard, node: e.node, time: e.time }) : undefined;
  }
}
