import { Module } from '@nestjs/common';
import { StatusController } from './oam/status.controller';
import { LoggingController } from './oam/logging.controller';
import { SipModule } from './sip/sip.module';
import { AuthModule } from '@traverse/auth';

/** The signaling role: SIP, STUN, TURN front, tunnel endpoint and the O&M API. */
@Module({
  imports: [AuthModule, SipModule],
  controllers: [StatusController, LoggingController],
})
export class SignalingModule {}
