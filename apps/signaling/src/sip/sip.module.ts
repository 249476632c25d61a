import { Module } from '@nestjs/common';
import { RegistrationsController } from './registrations.controller';
import { ProxyRegistrationsController } from './nat/proxy-registrations.controller';
import { ClusterLocationService, ClusterNode } from '@traverse/cluster';
import { NODE_CONTEXT, type NodeContext } from '@traverse/runtime';
import { LOCATION_SERVICE, SipService } from './sip.service';
import { sipTargetResolverProvider } from './dns';
import { CallsController } from './calls/calls.controller';
import { CALL_RECORDER } from './calls/calls-setup';
import { ClusterCallRecorder } from './calls/cluster-call-recorder';

/** Calls of the proxy become the cluster's call events. */
const callRecorderProvider = {
  provide: CALL_RECORDER,
  useFactory: (node: ClusterNode, ctx: NodeContext) => new ClusterCallRecorder(node, ctx.logging.group('calls')),
  inject: [ClusterNode, NODE_CONTEXT],
};

/**
 * SIP on the signaling node: transports, transactions, the registrar, the proxy and the calls it
 * follows, and their O&M API (registrations, calls).
 * LOCATION_SERVICE is the cluster's location service: bindings are events on the Redis streams,
 * read from every node's in-memory read model, expired exactly once by the master.
 */
@Module({
  controllers: [RegistrationsController, ProxyRegistrationsController, CallsController],
  providers: [{ provide: LOCATION_SERVICE, useExisting: ClusterLocationService }, SipService, sipTargetResolverProvider, callRecorderProvider],
  exports: [SipService, LOCATION_SERVICE],
})
export class SipModule {}
