import { Global, Module } from '@nestjs/common';
import { ClusterNode } from '@traverse/cluster';
import { NODE_CONTEXT, type NodeContext } from '@traverse/runtime';
import { SipModule } from '../sip/sip.module';
import { SipService } from '../sip/sip.service';
import { ClusterSipSettings } from './cluster-sip-settings';

/**
 * The cluster's SIP settings. Built before any module starts (an async provider): the node
 * catches up with the cluster and puts its SIP settings over the configuration before SIP
 * listens with it.
 */
@Global()
@Module({
  imports: [SipModule],
  providers: [
    {
      provide: ClusterSipSettings,
      useFactory: async (ctx: NodeContext, sip: SipService, node?: ClusterNode) => {
        const settings = new ClusterSipSettings(ctx, sip, node);
        await settings.start();
        return settings;
      },
      inject: [NODE_CONTEXT, SipService, { token: ClusterNode, optional: true }],
    },
  ],
  exports: [ClusterSipSettings],
})
export class SipSettingsModule {}
