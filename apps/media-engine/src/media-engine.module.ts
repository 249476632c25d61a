import { Module } from '@nestjs/common';

/** The media-engine role: RTP relay, TURN relay, tunneled media, secondary STUN. */
@Module({})
export class MediaEngineModule {}
