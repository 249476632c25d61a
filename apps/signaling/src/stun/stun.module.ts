import { Module } from '@nestjs/common';
import { AuthModule } from '@traverse/auth';
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
  imports: [AuthModule],
  controllers: [TurnController],
  providers: [MediaEngineDirectory, StunService, TurnFrontService],
  exports: [MediaEngineDirectory],
})
export class StunModule {}
