import { BadRequestException, Controller, Get, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CALL_END_REASONS, CallTable, type CallParty, type CallRecord } from '@traverse/cluster';

export class CallPartyRow {
  @ApiProperty({ description: 'User ID: the address of record', example: 'sip:alice@example.com' }) userId!: string;
  @ApiPropertyOptional({ description: 'RealTunnel ID of a tunnelled client' }) tunnelId?: string;
  @ApiPropertyOptional({ description: 'Public IP address of the user' }) publicAddress?: string;
  @ApiPropertyOptional({ description: 'Country of the user (ISO 3166-1 alpha-2)' }) country?: string;
}

export class CallRow {
  @ApiProperty({ description: 'Call-ID of the call' }) callId!: string;
  @ApiProperty({ description: 'Node that proxies the call' }) node!: string;
  @ApiProperty({ type: CallPartyRow, description: 'Originating side' }) caller!: CallPartyRow;
  @ApiProperty({ type: CallPartyRow, description: 'Terminating side' }) callee!: CallPartyRow;
  @ApiProperty({ description: 'When the INVITE came (ISO 8601)' }) started!: string;
  @ApiPropertyOptional({ description: 'When it was answered (ISO 8601)' }) answered?: string;
  @ApiPropertyOptional({ description: 'When it ended (ISO 8601), closed calls only' }) ended?: string;
  @ApiProperty({ description: 'Duration in seconds: from the answer to the end (or to now); 0 when never answered' }) duration!: number;
  @ApiPropertyOptional({ description: 'Call end reason (closed calls)', enum: CALL_END_REASONS }) endReason?: string;
  @ApiPropertyOptional({ description: 'SIP status that ended it, when one did' }) sipStatus?: number;
  @ApiPropertyOptional({ description: 'Closed calls: true for a successful call (white), false for a failed one (red)' }) successful?: boolean;
}

function party(p: CallParty): CallPartyRow {
  return { userId: p.userId, ...(p.tunnelId ? { tunnelId: p.tunnelId } : {}), ...(p.publicAddress ? { publicAddress: p.publicAddress } : {}), ...(p.country ? { country: p.country } : {}) };
}

function row(c: CallRecord, now: number): CallRow {
  const end = c.endedAt ?? now;
  return {
    callId: c.callId,
    node: c.node,
    caller: party(c.caller),
    callee: party(c.callee),
    started: new Date(c.startedAt).toISOString(),
    ...(c.answeredAt !== undefined ? { answered: new Date(c.answeredAt).toISOString() } : {}),
    ...(c.endedAt !== undefined ? { ended: new Date(c.endedAt).toISOString() } : {}),
    duration: c.answeredAt !== undefined ? Math.max(0, Math.round((end - c.answeredAt) / 1000)) : 0,
    ...(c.endReason !== undefined ? { endReason: c.endReason } : {}),
    ...(c.sipStatus !== undefined ? { sipStatus: c.sipStatus } : {}),
    ...(c.successful !== undefined ? { successful: c.successful } : {}),
  };
}

/** The Call Status page: active and closed calls of the whole cluster, from the call table read model. */
@ApiTags('calls')
@Controller('api/calls')
export class CallsController {
  constructor(private readonly table: CallTable) {}

  @Get('active')
  @ApiQuery({ name: 'node', required: false, description: 'Only the calls of this node' })
  @ApiOkResponse({ type: CallRow, isArray: true, description: 'Active calls, oldest first' })
  active(@Query('node') node?: string): CallRow[] {
    const now = Date.now();
    return this.table.active(node || undefined).map((c) => row(c, now));
  }

  @Get('closed')
  @ApiQuery({ name: 'limit', required: false, description: 'Most calls returned (1-1000, default 100)' })
  @ApiOkResponse({ type: CallRow, isArray: true, description: 'Closed calls, most recent first, with their end reasons' })
  @ApiBadRequestResponse({ description: 'limit is not a whole number from 1 to 1000' })
  closed(@Query('limit') limit?: string): CallRow[] {
    const n = limit === undefined ? 100 : Number(limit);
    if (!/^\d+$/.test(limit ?? '100') || n < 1 || n > 1000) throw new BadRequestException('limit must be a whole number from 1 to 1000');
    const now = Date.now();
    return this.table.closed(n).map((c) => row(c, now));
  }
}
