import { Module } from '@nestjs/common';
import { StatusController } from './oam/status.controller';
import { LoggingController } from './oam/logging.controller';
import { SipSettingsController } from './oam/sip-settings.controller';
import { ClusterController } from './oam/cluster.controller';
import { SipModule } from './sip/sip.module';
import { AuthModule } from '@traverse/auth';
import { StunModule } from './stun/stun.module';
import { SipSettingsModule } from './oam/sip-settings.module';

/** The signaling role: SIP, STUN, TURN front, tunnel endpoint and the O&M API. */
@Module({
  imports: [AuthModule, SipModule, SipSettingsModule, StunModule],
  controllers: [StatusController, LoggingController, SipSettingsController, ClusterController],
})
export class SignalingModule {}
