import { BadRequestException, Controller, Get, Optional, Query } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ClusterRouter } from '@traverse/cluster';
import { MediaEngineDirectory } from './media-engine-directory';
import { TURN_ALLOCATIONS_REQUEST, type AllocationRow } from '../../../media-engine/src/media-engine.service';

class AddressDto {
  @ApiProperty({ enum: [4, 6] }) family!: 4 | 6;
  @ApiProperty() address!: string;
  @ApiProperty() port!: number;
}

export class AllocationDto {
  @ApiProperty({ description: 'Media engine holding the allocation' }) engine!: string;
  @ApiProperty({ description: 'Node the media engine runs on' }) node!: string;
  @ApiProperty({ description: 'Allocation number on that engine' }) id!: number;
  @ApiProperty({ description: 'TURN user name (USERNAME)' }) username!: string;
  @ApiProperty() realm!: string;
  @ApiProperty({ enum: ['udp', 'tcp', 'tls'], description: 'Transport from the client to the server' }) clientTransport!: string;
  @ApiProperty({ type: AddressDto, description: 'Client address as the server sees it' }) client!: AddressDto;
  @ApiProperty({ enum: ['udp', 'tcp'], description: 'Relayed transport (tcp: RFC 6062)' }) relayTransport!: string;
  @ApiProperty({ type: [AddressDto], description: 'Relayed transport addresses' }) relayed!: AddressDto[];
  @ApiProperty({ description: 'Created (ms since the epoch)' }) createdAt!: number;
  @ApiProperty({ description: 'Expires (ms since the epoch) unless refreshed' }) expiresAt!: number;
  @ApiProperty() permissions!: number;
  @ApiProperty() channels!: number;
  @ApiProperty() packetsToPeers!: number;
  @ApiProperty() bytesToPeers!: number;
  @ApiProperty() packetsToClient!: number;
  @ApiProperty() bytesToClient!: number;
}

export class EngineAnswerDto {
  @ApiProperty() name!: string;
  @ApiProperty() node!: string;
  @ApiProperty({ enum: ['local', 'cluster', 'configuration'] }) source!: string;
  @ApiProperty({ description: 'Whether the engine answered (configured engines outside the cluster cannot be asked)' }) answered!: boolean;
  @ApiPropertyOptional() error?: string;
}

export class AllocationsDto {
  @ApiProperty({ type: [AllocationDto] }) allocations!: AllocationDto[];
  @ApiProperty({ type: [EngineAnswerDto] }) engines!: EngineAnswerDto[];
}

export class MediaEngineDto {
  @ApiProperty() name!: string;
  @ApiProperty() address!: string;
  @ApiProperty() node!: string;
  @ApiProperty() region!: string;
  @ApiProperty({ description: 'TURN ports (0: not offered)', example: { udp: 3560, tcp: 3560, tls: 5349 } }) turn!: { udp: number; tcp: number; tls: number };
  @ApiPropertyOptional({ description: 'Secondary STUN server' }) stun?: { address: string; ports: number[]; control?: number };
  @ApiProperty({ enum: ['local', 'cluster', 'configuration'] }) source!: string;
}

/** O&M: TURN allocations per media engine and per user, answered by the engines themselves. */
@ApiTags('turn')
@Controller('api/turn')
export class TurnController {
  constructor(
    private readonly directory: MediaEngineDirectory,
    @Optional() private readonly router?: ClusterRouter,
  ) {}

  @Get('media-engines')
  @ApiOkResponse({ type: [MediaEngineDto], description: 'Media engines the TURN front redirects to' })
  engines(): MediaEngineDto[] {
    return this.directory.list();
  }

  @Get('allocations')
  @ApiQuery({ name: 'engine', required: false, description: 'Only this media engine' })
  @ApiQuery({ name: 'user', required: false, description: 'Only this TURN user name' })
  @ApiOkResponse({ type: AllocationsDto, description: 'Live allocations, asked of each media engine (in this process directly, elsewhere over the cluster)' })
  async allocations(@Query('engine') engine?: string, @Query('user') user?: string): Promise<AllocationsDto> {
    if ((engine !== undefined && typeof engine !== 'string') || (user !== undefined && typeof user !== 'string')) throw new BadRequestException('engine and user are single values');
    const filter = user !== undefined ? { user } : {};
    const engines = this.directory.list().filter((e) => engine === undefined || e.name === engine);
    const answers = await Promise.all(
      engines.map(async (e): Promise<{ rows: AllocationRow[]; answer: EngineAnswerDto }> => {
        const base = { name: e.name, node: e.node, source: e.source };
        if (e.source === 'local') return { rows: this.directory.localEngine!.allocations(filter), answer: { ...base, answered: true } };
        if (e.source === 'cluster' && this.router) {
          try {
            const reply = await this.router.request(e.node, TURN_ALLOCATIONS_REQUEST, JSON.stringify(filter), 2000);
            const rows = (JSON.parse(reply.body.toString()) as AllocationRow[]).filter((r) => r.engine === e.name);
            return { rows, answer: { ...base, answered: true } };
          } catch (err) {
            return { rows: [], answer: { ...base, answered: false, error: (err as Error).message } };
          }
        }
        return { rows: [], answer: { ...base, answered: false, error: 'not a cluster member: cannot be asked' } };
      }),
    );
    return { allocations: answers.flatMap((a) => a.rows), engines: answers.map((a) => a.answer) };
  }
}
