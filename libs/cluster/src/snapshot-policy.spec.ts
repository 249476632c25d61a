import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SNAPSHOT_POLICY, snapshotDue } from './snapshot-policy';

describe('snapshot policy', () => {
  const policy = { minEvents: 10_000, maxAgeMs: 300_000, rowsPerEvent: 4 };

  it('an unchanged shard is never due, however old its snapshot', () => {
    assert.equal(snapshotDue(policy, 0, 0, Infinity), false);
    assert.equal(snapshotDue(policy, 0, 50_000, Infinity), false);
  });

  it('a changed shard is due after the max age, or at once with minEvents new events', () => {
    assert.equal(snapshotDue(policy, 100, 300, 299_999), false);
    assert.equal(snapshotDue(policy, 100, 300, 300_000), true);
    assert.equal(snapshotDue(policy, 9_999, 2_000, 1_000), false);
    assert.equal(snapshotDue(policy, 10_000, 2_000, 1_000), true);
  });

  it('a shard whose new events are too few for its rows waits, past the age limit and past minEvents', () => {
    // 1,000 changes to a 62,500-row shard (a million bindings over 16 shards): a snapshot would write 62 rows per change
    assert.equal(snapshotDue(policy, 1_000, 62_500, 3_600_000), false);
    assert.equal(snapshotDue(policy, 15_624, 62_500, 0), false);
    assert.equal(snapshotDue(policy, 15_625, 62_500, 0), true);
    assert.equal(snapshotDue(policy, 15_625, 62_500, 3_600_000), true);
  });

  it('the defaults: 10,000 events, 5 minutes, 4 rows per event', () => {
    assert.deepEqual({ ...DEFAULT_SNAPSHOT_POLICY }, policy);
    assert.ok(Object.isFrozen(DEFAULT_SNAPSHOT_POLICY));
  });
});
