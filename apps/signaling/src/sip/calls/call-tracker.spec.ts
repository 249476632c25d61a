// The call table's state per INVITE and the seed's end reasons.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualScheduler, createRequest, createResponse, parseMessage, type SipRequest } from '@traverse/sip';
import type { CallEndReason, CallStartedData } from '@traverse/cluster';
import type { SipSource } from '../transport/sip-transport';
import { CallTracker, type CallRecorder } from './call-tracker';
import { endReasonFor } from './end-reasons';

class Recorder implements CallRecorder {
  log: string[] = [];
  starts: CallStartedData[] = [];
  started(d: CallStartedData): void {
    this.starts.push(d);
    this.log.push(`started ${d.callId}`);
  }
  answered(callId: string): void {
    this.log.push(`answered ${callId}`);
  }
  ended(callId: string, _at: number, reason: CallEndReason, sipStatus?: number): void {
    this.log.push(`ended ${callId} ${reason}${sipStatus !== undefined ? ` ${sipStatus}` : ''}`);
  }
}

const source: SipSource = { transport: 'UDP', address: '81.2.69.160', port: 5062, local: { address: '0.0.0.0', port: 5060 }, flow: 'udp:5060:81.2.69.160:5062' };

function invite(callId: string): SipRequest {
  const r = parseMessage(
    createRequest({ method: 'INVITE', uri: 'sip:bob@example.com', from: { uri: 'sip:Alice@Example.com', tag: 'a' }, to: { uri: 'sip:bob@example.com' }, via: { transport: 'UDP', host: '81.2.69.160' }, callId }).toBuffer(),
  );
  assert.ok(r.ok);
  return r.value as SipRequest;
}

function tracker(max = 2, maxDurationMs = 0) {
  const clock = new ManualScheduler(5000);
  const rec = new Recorder();
  const t = new CallTracker({
    nodeName: 'n1',
    maxConcurrent: () => max,
    recorder: rec,
    scheduler: clock,
    ackTimeoutMs: 32_000,
    maxDurationMs: () => maxDurationMs,
    country: (ip) => (ip === '81.2.69.160' ? 'GB' : undefined),
    now: () => clock.now(),
  });
  return { clock, rec, t };
}

describe('call tracker', () => {
  it('records a call started, answered and ended by BYE with the parties', () => {
    const { rec, t } = tracker();
    t.started(invite('c1'), source, { userId: 'sip:bob@example.com', publicAddress: '10.0.0.5', external: false });
    assert.equal(t.localCount, 1);
    t.answered(invite('c1'));
    t.ack(invite('c1'));
    t.bye(invite('c1'));
    assert.deepEqual(rec.log, ['started c1', 'answered c1', 'ended c1 NORMAL']);
    assert.deepEqual(rec.starts[0], {
      callId: 'c1',
      node: 'n1',
      caller: { userId: 'sip:Alice@example.com', publicAddress: '81.2.69.160', country: 'GB' },
      callee: { userId: 'sip:bob@example.com', publicAddress: '10.0.0.5' },
      startedAt: 5000,
    });
    assert.equal(t.localCount, 0);
  });

  it('ends an answered call that never gets its ACK with NO_RESPONSE_TO_OK', () => {
    const { clock, rec, t } = tracker();
    t.started(invite('c2'), source, { userId: 'sip:bob@example.com', external: false });
    t.answered(invite('c2'));
    clock.advance(32_000);
    assert.equal(rec.log.at(-1), 'ended c2 NO_RESPONSE_TO_OK');
  });

  it('releases an answered call whose session is not refreshed (RFC 4028), and one that outlives calls.maxDuration', () => {
    const { clock, rec, t } = tracker(2, 3_600_000);
    const inv = invite('c6');
    t.started(inv, source, { userId: 'sip:bob@example.com', external: false });
    const ok = createResponse(inv, 200, { headers: [['Session-Expires', '90;refresher=uac']] });
    t.answered(inv, ok);
    t.ack(inv);
    clock.advance(80_000);
    const reinvite = invite('c6');
    reinvite.setHeader('Session-Expires', '120');
    t.refreshed(reinvite);
    clock.advance(119_000);
    assert.equal(t.localCount, 1, 'refreshed in time');
    clock.advance(1_000);
    assert.equal(rec.log.at(-1), 'ended c6 CALL_REL_TIMEOUT');

    const other = tracker(2, 3_600_000);
    other.t.started(invite('c7'), source, { userId: 'sip:bob@example.com', external: false });
    other.t.answered(invite('c7'), createResponse(invite('c7'), 200));
    other.t.ack(invite('c7'));
    other.clock.advance(3_599_999);
    assert.equal(other.t.localCount, 1);
    other.clock.advance(1);
    assert.equal(other.rec.log.at(-1), 'ended c7 CALL_REL_TIMEOUT');
  });

  it('enforces the max concurrent calls and records refused attempts as ended at once', () => {
    const { rec, t } = tracker(1);
    assert.equal(t.admit(invite('c3')), true);
    t.started(invite('c3'), source, { userId: 'sip:bob@example.com', external: false });
    assert.equal(t.admit(invite('c4')), false);
    t.refused(invite('c4'), source, { status: 503, origin: 'here', cause: 'max-calls' });
    assert.deepEqual(rec.log.slice(-2), ['started c4', 'ended c4 MAX_CALL_CAP_REACHED 503']);
    t.failed(invite('c3'), { status: 486, origin: 'local-user' });
    assert.equal(rec.log.at(-1), 'ended c3 USER_BUSY 486');
    assert.equal(t.admit(invite('c5')), true);
  });
});

describe('end reasons', () => {
  const cases: Array<[Parameters<typeof endReasonFor>[0], CallEndReason]> = [
    [{ status: 487, origin: 'local-user', cause: 'cancelled' }, 'CALLER_CANCELLED'],
    [{ status: 486, origin: 'local-user' }, 'USER_BUSY'],
    [{ status: 600, origin: 'external' }, 'USER_BUSY'],
    [{ status: 603, origin: 'local-user' }, 'USER_REJECTED'],
    [{ status: 404, origin: 'external' }, 'SIP_USER_NOT_FOUND'],
    [{ status: 404, origin: 'here' }, 'SIP_USER_NOT_FOUND'],
    [{ status: 408, origin: 'local-user', cause: 'timeout' }, 'NO_RESPONSE_TO_INVITE'],
    [{ status: 408, origin: 'external', cause: 'timeout' }, 'EXTERNAL_TIMEOUT'],
    [{ status: 408, origin: 'external' }, 'EXTERNAL_TIMEOUT'],
    [{ status: 503, origin: 'external' }, 'EXTERNAL_SERVER_UNAVAILABLE'],
    [{ status: 500, origin: 'external' }, 'EXTERNAL_SERVER_UNAVAILABLE'],
    [{ status: 503, origin: 'external', cause: 'transport' }, 'EXTERNAL_SERVER_UNAVAILABLE'],
    [{ status: 503, origin: 'local-user', cause: 'transport' }, 'CLIENT_CONNECTION_LOST'],
    [{ status: 407, origin: 'external' }, 'SIP_AUTHENTICATION_FAILURE'],
    [{ status: 403, origin: 'here', cause: 'auth-failed' }, 'SIP_AUTHENTICATION_FAILURE'],
    [{ status: 503, origin: 'here', cause: 'max-calls' }, 'MAX_CALL_CAP_REACHED'],
    [{ status: 480, origin: 'here' }, 'USER_TEMPORARILY_UNAVAILABLE'],
    [{ status: 430, origin: 'here', cause: 'flow-failed' }, 'CLIENT_CONNECTION_LOST'],
    [{ status: 483, origin: 'here', cause: 'routing' }, 'CONN_FAILED_IN_PXS'],
    [{ status: 415, origin: 'local-user' }, 'BAD_SDP'],
    [{ status: 488, origin: 'local-user' }, 'INCOMPATIBLE_MEDIA'],
    [{ status: 302, origin: 'local-user' }, 'INVITE_REJECTED'],
    [{ status: 420, origin: 'local-user' }, 'BAD_SIP_MESSAGE'],
  ];
  for (const [o, reason] of cases) it(`${o.status} from ${o.origin}${o.cause ? ` (${o.cause})` : ''} is ${reason}`, () => assert.equal(endReasonFor(o), reason));
});
