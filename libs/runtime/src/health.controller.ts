import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { NODE_CONTEXT, type NodeContext } from './node-context';
import { Readiness } from './readiness';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    private readonly readiness: Readiness,
  ) {}

  @Get('live')
  @ApiOkResponse({ description: 'The process is running.' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOkResponse({ description: 'The node serves: Redis is connected and every role has started.' })
  @ApiServiceUnavailableResponse({ description: 'Not (or no longer) ready; the body says what is missing.' })
  async ready(@Res({ passthrough: true }) res: Response) {
    const r = await this.readiness.check();
    res.status(r.ready ? 200 : 503);
    return { status: r.ready ? 'ready' : 'not-ready', node: this.ctx.nodeName, roles: this.ctx.roles, redis: r.redis, checks: r.checks };
  }
}
