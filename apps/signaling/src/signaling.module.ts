import { Module } from '@nestjs/common';
import { StatusController } from './oam/status.controller';
import { LoggingController } from './oam/logging.controller';

/** The signaling role: SIP, STUN, TURN front, tunnel endpoint and the O&M API. */
@Module({
  controllers: [StatusController, LoggingController],
})
export class SignalingModule {}
