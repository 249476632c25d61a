import { Module } from '@nestjs/common';
import { AuthModule } from '@traverse/auth';
import { SipSettingsModule } from '../oam/sip-settings.module';
import { MediaEngineDirectory } from './media-engine-directory';
import { StunService } from './stun.service';
import { TurnFrontService } from './turn-front.service';
import { TurnController } from './turn.controller';

/**
 * STUN and the TURN front on the signaling node: the primary STUN server (with the primary media
 * engine as its secondary), the TURN front that authenticates and redirects to media engines, the
 * media engine directory it redirects by, and the TURN O&M API.
 */
@Module({
  // the cluster's SIP settings, for the O&M API of the signaling node
  imports: [AuthModule, SipSettingsModule],
  controllers: [TurnController],
  providers: [MediaEngineDirectory, StunService, TurnFrontService],
  exports: [MediaEngineDirectory],
})
export class StunModule {}
