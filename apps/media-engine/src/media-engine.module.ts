import { Global, Module } from '@nestjs/common';
import { AuthModule } from '@traverse/auth';
import { MediaEngineService } from './media-engine.service';

/**
 * The media-engine role: TURN relay and secondary STUN (RTP relay and tunneled media to come).
 * Global so that the signaling role in the same process finds the engine (MediaEngineService) to
 * share a TURN listener with and to hand STUN change-IP to.
 */
@Global()
@Module({
  imports: [AuthModule],
  providers: [MediaEngineService],
  exports: [MediaEngineService],
})
export class MediaEngineModule {}
