import { randomUUID } from 'node:crypto';
import type { RedisClient } from '@traverse/redis';
import { ClusterError } from './errors';
import type { KeySpace } from './keys';
import type { LocationService, ContactBinding } from './read-models/location-service';
import type { Membership } from './membership';

/** A message between nodes (e.g. a SIP request to forward to the node owning the flow). */
export interface NodeMessage {
  /** Inbox stream id. */
  id: string;
  from: string;
  kind: string;
  body: Buffer;
  /** Set on requests that expect a reply; the reply carries it back. */
  correlation?: string;
  /** Set on replies. */
  inReplyTo?: string;
}

/** Where a request for a binding must go. */
export type Route =
  | { kind: 'local'; binding: ContactBinding }
  | { kind: 'remote'; node: string; binding: ContactBinding }
  /** The node holding the flow is down, or the binding is gone: answer 430 Flow Failed (RFC 5626). */
  | { kind: 'flow-gone'; binding?: ContactBinding };

export interface RouterOptions {
  nodeName: string;
  /** Inbox length bound (approximate MAXLEN). */
  inboxMaxLen?: number;
  blockMs?: number;
  onError?: (e: unknown) => void;
}

type Handler = (m: NodeMessage) => Buffer | string | void | Promise<Buffer | string | void>;

/**
 * Routing across nodes: answers "which node owns this flow/contact" from the location service
 * and membership, and delivers messages to another node's inbox (a Redis stream per node,
 * read with a blocking XREAD on a connection of its own).
 */
export class ClusterRouter {
  private running = false;
  private conn: RedisClient | undefined;
  private readonly handlers = new Map<string, Handler>();
  private readonly pending = new Map<string, { resolve: (m: NodeMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly connect: () => RedisClient,
    private readonly keys: KeySpace,
    private readonly location: LocationService,
    private readonly membership: Membership,
    private readonly o: RouterOptions,
  ) {}

  /** Route to one binding of an AOR. */
  route(aor: string, key: string, now = Date.now()): Route {
    const b = this.location.binding(aor, key);
    if (!b || b.expiresAt <= now) return { kind: 'flow-gone' };
    if (b.node === this.o.nodeName) return { kind: 'local', binding: b };
    if (!this.membership.isUp(b.node)) return { kind: 'flow-gone', binding: b };
    return { kind: 'remote', node: b.node, binding: b };
  }

  /** Routes to all live bindings of an AOR (best q first). */
  routes(aor: string, now = Date.now()): Route[] {
    return this.location.lookup(aor, now).map((b) => this.route(aor, b.key, now));
  }

  /** Which node owns the flow of this binding (undefined: nobody / gone). */
  ownerOf(aor: string, key: string): string | undefined {
    const r = this.route(aor, key);
    return r.kind === 'local' ? this.o.nodeName : r.kind === 'remote' ? r.node : undefined;
  }

  /** Handles messages of one kind; a returned value is sent back as the reply to a request. */
  handle(kind: string, fn: Handler): void {
    this.handlers.set(kind, fn);
  }

  /** Delivers a message to another node's inbox. Refuses nodes that are down (FLOW_GONE). */
  async send(node: string, kind: string, body: Buffer | string, extra: { correlation?: string; inReplyTo?: string } = {}): Promise<string> {
    if (!this.membership.isUp(node)) throw new ClusterError('FLOW_GONE', `node ${node} is down`);
    const fields: (string | Buffer | number)[] = [
      'f',
      this.o.nodeName,
      'k',
      kind,
      'b',
      typeof body === 'string' ? Buffer.from(body) : body,
    ];
    if (extra.correlation) fields.push('c', extra.correlation);
    if (extra.inReplyTo) fields.push('r', extra.inReplyTo);
    return (await this.redis.call('XADD', this.keys.inbox(node), 'MAXLEN', '~', this.o.inboxMaxLen ?? 10_000, '*', ...fields)) as string;
  }

  /** Sends and waits for the reply (REQUEST_TIMEOUT after `timeoutMs`). */
  async request(node: string, kind: string, body: Buffer | string, timeoutMs = 2000): Promise<NodeMessage> {
    const correlation = randomUUID();
    const reply = new Promise<NodeMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlation);
        reject(new ClusterError('REQUEST_TIMEOUT', `no reply from ${node} to ${kind} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(correlation, { resolve, reject, timer });
    });
    try {
      await this.send(node, kind, body, { correlation });
    } catch (e) {
      const p = this.pending.get(correlation);
      if (p) clearTimeout(p.timer);
      this.pending.delete(correlation);
      throw e;
    }
    return reply;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.conn = this.connect();
    // Start from the current end: messages sent to an earlier life of this node are stale.
    const last = (await this.redis.call('XREVRANGE', this.keys.inbox(this.o.nodeName), '+', '-', 'COUNT', 1)) as [string, unknown][];
    let pos = last[0]?.[0] ?? '0-0';
    this.loop = (async () => {
      const key = this.keys.inbox(this.o.nodeName);
      while (this.running) {
        try {
          // (callBuffer loses its command name under ioredis autopipelining: use the typed method)
          const r = (await this.conn!.xreadBuffer('COUNT', 500, 'BLOCK', this.o.blockMs ?? 1000, 'STREAMS', key, pos)) as unknown;
          if (!r) continue;
          const entries =
            (Array.isArray((r as unknown[])[0])
              ? (r as [Buffer, [Buffer, Buffer[]][]][])[0][1]
              : (r as [Buffer, [Buffer, Buffer[]][]])[1]) ?? [];
          for (const [idb, fields] of entries) {
            pos = idb.toString();
            this.dispatch(pos, fields);
          }
        } catch (e) {
          if (!this.running) break;
          this.o.onError?.(e);
          await new Promise((res) => setTimeout(res, 200));
        }
      }
    })();
  }

  private dispatch(id: string, fields: Buffer[]): void {
    const m: NodeMessage = { id, from: '', kind: '', body: Buffer.alloc(0) };
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const k = fields[i].toString();
      const v = fields[i + 1];
      if (k === 'f') m.from = v.toString();
      else if (k === 'k') m.kind = v.toString();
      else if (k === 'b') m.body = v;
      else if (k === 'c') m.correlation = v.toString();
      else if (k === 'r') m.inReplyTo = v.toString();
    }
    if (m.inReplyTo) {
      const p = this.pending.get(m.inReplyTo);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(m.inReplyTo);
        p.resolve(m);
      }
      return;
    }
    const h = this.handlers.get(m.kind);
    if (!h) return;
    Promise.resolve()
      .then(() => h(m))
      .then(async (reply) => {
        if (m.correlation && reply !== undefined) await this.send(m.from, `${m.kind}.reply`, reply, { inReplyTo: m.correlation });
      })
      .catch((e) => this.o.onError?.(e));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.conn?.disconnect();
    await this.loop?.catch(() => undefined);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ClusterError('NODE_UNREACHABLE', 'router stopped'));
    }
    this.pending.clear();
  }
}
