/**
 * The call recorder of a cluster node: call state becomes CallStarted, CallAnswered and CallEnded
 * events on the cluster's streams (one Call-ID, one shard: their order is kept), which every node
 * folds into its CallTable read model (the Call Status page).
 */
import { CallAnswered, CallEnded, CallStarted, type CallEndReason, type CallStartedData, type ClusterEvent, type ClusterNode } from '@traverse/cluster';
import type { CallRecorder } from './call-tracker';

export interface RecorderLog {
  warning(obj: object, msg: string): void;
}

export class ClusterCallRecorder implements CallRecorder {
  constructor(
    private readonly node: ClusterNode,
    private readonly log?: RecorderLog,
  ) {}

  started(d: CallStartedData): void {
    this.publish(new CallStarted(d), d.callId);
  }

  answered(callId: string, answeredAt: number): void {
    this.publish(new CallAnswered({ callId, answeredAt }), callId);
  }

  ended(callId: string, endedAt: number, reason: CallEndReason, sipStatus?: number): void {
    this.publish(new CallEnded({ callId, endedAt, reason, ...(sipStatus !== undefined ? { sipStatus } : {}) }), callId);
  }

  private publish(e: ClusterEvent, callId: string): void {
    this.node.publish(e).catch((err: unknown) => this.log?.warning({ callId, event: e.type, err: (err as Error).message }, 'call event not stored'));
  }
}
