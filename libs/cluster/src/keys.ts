/**
 * Key layout, designed for Redis Cluster: everything that one Lua script or MULTI touches shares
 * a hash tag, and the event log is split into N shard streams so that no single key is hot.
 *
 *   <p>:{ev.<s>}:stream        shard s of the event log (a Redis stream)
 *   <p>:{ev.<s>}:snap          latest snapshot of the read models' state for shard s (compressed JSON)
 *   <p>:{ev.<s>}:snap.prev     the snapshot before it (kept so that trimming leaves a window)
 *   <p>:{ev.<s>}:meta          hash: pos, prevPos, time, node of the snapshots
 *   <p>:{ev.<s>}:fence         highest fencing token seen by a fenced write on shard s
 *   <p>:{ev.<s>}:claim:<id>    one-shot claims (e.g. "this registration's expiry was emitted")
 *   <p>:{lease}:master         the master lease (value: name, token, address)
 *   <p>:{lease}:token          monotonic fencing token counter
 *   <p>:{members}:all          sorted set of node names by last heartbeat
 *   <p>:{members}:node:<name>  heartbeat of one node (expires)
 *   <p>:{inbox.<name>}:stream  inbox of one node (messages forwarded by other nodes)
 */
export class KeySpace {
  constructor(
    readonly prefix: string,
    readonly shards: number,
  ) {
    if (!Number.isInteger(shards) || shards < 1 || shards > 1024)
      throw new RangeError(`shards must be an integer in 1..1024, got ${shards}`);
    if (!/^[A-Za-z0-9_.:-]+$/.test(prefix)) throw new RangeError(`invalid key prefix: ${prefix}`);
  }
  stream(s: number): string {
    return `${this.prefix}:{ev.${s}}:stream`;
  }
  snapshot(s: number): string {
    return `${this.prefix}:{ev.${s}}:snap`;
  }
  previousSnapshot(s: number): string {
    return `${this.prefix}:{ev.${s}}:snap.prev`;
  }
  snapshotMeta(s: number): string {
    return `${this.prefix}:{ev.${s}}:meta`;
  }
  fence(s: number): string {
    return `${this.prefix}:{ev.${s}}:fence`;
  }
  claim(s: number, id: string): string {
    return `${this.prefix}:{ev.${s}}:claim:${id}`;
  }
  get lease(): string {
    return `${this.prefix}:{lease}:master`;
  }
  get leaseToken(): string {
    return `${this.prefix}:{lease}:token`;
  }
  get members(): string {
    return `${this.prefix}:{members}:all`;
  }
  member(name: string): string {
    return `${this.prefix}:{members}:node:${name}`;
  }
  inbox(name: string): string {
    return `${this.prefix}:{inbox.${name}}:stream`;
  }
  /** The shard of an aggregate (AOR, Call-ID, client id, ...). Stable forever: changing it reshuffles stored events. */
  shardOf(aggregate: string): number {
    return shardOf(aggregate, this.shards);
  }
}

/** FNV-1a (32 bit) over the UTF-16 code units of the string, modulo the shard count. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h ^= c & 0xff;
    h = Math.imul(h, 0x01000193);
    if (c > 0xff) {
      h ^= c >>> 8;
      h = Math.imul(h, 0x01000193);
    }
  }
  return h >>> 0;
}

export function shardOf(aggregate: string, shards: number): number {
  return shards === 1 ? 0 : fnv1a(aggregate) % shards;
}

/** Compares two Redis stream ids ("ms-seq"). */
export function compareStreamIds(a: string, b: string): number {
  const ia = a.indexOf('-');
  const ib = b.indexOf('-');
  const ma = Number(ia < 0 ? a : a.slice(0, ia));
  const mb = Number(ib < 0 ? b : b.slice(0, ib));
  if (ma !== mb) return ma < mb ? -1 : 1;
  const sa = ia < 0 ? 0 : Number(a.slice(ia + 1));
  const sb = ib < 0 ? 0 : Number(b.slice(ib + 1));
  return sa === sb ? 0 : sa < sb ? -1 : 1;
}

export function minStreamId(ids: string[]): string | undefined {
  let m: string | undefined;
  for (const id of ids) if (m === undefined || compareStreamIds(id, m) < 0) m = id;
  return m;
}
