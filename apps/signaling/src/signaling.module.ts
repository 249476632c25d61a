import { Module } from '@nestjs/common';
import { StatusController } from './oam/status.controller';

/** The signaling role: SIP, STUN, TURN front, tunnel endpoint and the O&M API. */
@Module({
  controllers: [StatusController],
})
export class SignalingModule {}
