/**
 * The call tracker of a signaling node: calls.maxConcurrent, the ACK time-out from T1, countries
 * from libs/geo, logs (group 'calls') and metrics.
 */
import { Counter, Gauge } from 'prom-client';
import { GeoIpLocator } from '@traverse/geo';
import type { CallEndReason } from '@traverse/cluster';
import type { Scheduler } from '@traverse/sip';
import type { Metrics, NodeContext } from '@traverse/runtime';
import { CallTracker, type CallRecorder } from './call-tracker';

/** Injection token of the node's CallRecorder (the cluster's call events). */
export const CALL_RECORDER = Symbol.for('traverse.CallRecorder');

export function createCallTracker(ctx: NodeContext, metrics: Metrics, recorder: CallRecorder, scheduler: Scheduler, t1Ms: number): CallTracker {
  const log = ctx.logging.group('calls');
  const registers = [metrics.registry];
  const started = new Counter({ name: 'traverse_calls_started_total', help: 'Calls this node started to proxy (refused attempts included)', registers });
  const ended = new Counter({ name: 'traverse_calls_ended_total', help: 'Calls this node ended, by end reason', labelNames: ['reason'], registers });
  const geo = new GeoIpLocator();
  const counting: CallRecorder = {
    started: (d) => {
      started.inc();
      recorder.started(d);
    },
    answered: (callId, at) => recorder.answered(callId, at),
    ended: (callId, at, reason: CallEndReason, sipStatus) => {
      ended.inc({ reason });
      recorder.ended(callId, at, reason, sipStatus);
    },
  };
  const tracker = new CallTracker({
    nodeName: ctx.nodeName,
    maxConcurrent: () => ctx.config.calls.maxConcurrent,
    recorder: counting,
    scheduler,
    ackTimeoutMs: 64 * t1Ms,
    maxDurationMs: () => ctx.config.calls.maxDuration * 1000,
    country: (ip) => geo.locate(ip)?.country,
    log,
  });
  new Gauge({
    name: 'traverse_calls_local',
    help: 'Calls being proxied by this node (ringing or answered)',
    registers,
    collect() {
      this.set(tracker.localCount);
    },
  });
  return tracker;
}
