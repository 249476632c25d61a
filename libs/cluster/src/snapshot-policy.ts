/**
 * When the master snapshots a shard. A snapshot serializes every row of the shard's state, so its
 * cost grows with the state, not with what changed; the events since the last snapshot are what
 * it saves (a starting node replays fewer of them, and the stream can be trimmed below it).
 */
export interface SnapshotPolicy {
  /** A shard with this many new events is snapshotted ... */
  readonly minEvents: number;
  /** ... and so is one whose last snapshot is older than this, when it changed ... */
  readonly maxAgeMs: number;
  /**
   * ... provided it has at least one new event per this many rows of state: what snapshots cost
   * per event stays bounded however large the state is (a big shard with a few changes is left
   * to its stream tail, which stays short next to its state).
   */
  readonly rowsPerEvent: number;
}

export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = Object.freeze({ minEvents: 10_000, maxAgeMs: 300_000, rowsPerEvent: 4 });

/** Whether a shard with `events` new events, `rows` rows of state and a last snapshot `ageMs` old is due for a snapshot. */
export function snapshotDue(policy: SnapshotPolicy, events: number, rows: number, ageMs: number): boolean {
  if (events <= 0 || events * policy.rowsPerEvent < rows) return false;
  return events >= policy.minEvents || ageMs >= policy.maxAgeMs;
}
