import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { NODE_CONTEXT, StatusSources, type NodeContext } from '@traverse/runtime';

export class MediaEnginesStatus {
  @ApiProperty({ description: 'Media engines defined for this signaling server' }) configured!: number;
  @ApiProperty({ description: 'Media engines connected now' }) connected!: number;
}

export class ServerStatus {
  @ApiProperty({ description: 'Proxy Server Version: version of the signaling server' }) proxyServerVersion!: string;
  @ApiProperty({ description: 'Media Engine Version of the active media engine', nullable: true, type: String }) mediaEngineVersion!: string | null;
  @ApiProperty({ description: 'Public address of the signaling server (empty when not configured)' }) publicAddress!: string;
  @ApiProperty({ description: 'Public address of the master signaling server', nullable: true, type: String }) masterServerAddress!: string | null;
  @ApiProperty({ description: 'Time of the machine running the signaling server (ISO 8601)' }) currentTime!: string;
  @ApiProperty({ description: 'Time since the last start, hours:minutes:seconds' }) runningTime!: string;
  @ApiProperty({ description: 'When the signaling server started (ISO 8601)' }) startupTime!: string;
  @ApiProperty({ type: MediaEnginesStatus }) mediaEngines!: MediaEnginesStatus;
  @ApiProperty({ description: 'Connected (tunnelled) clients' }) connectedClients!: number;
  @ApiProperty({ description: 'Current calls in this signaling server' }) localCurrentCalls!: number;
  @ApiProperty({ description: 'Concurrent calls in the whole cluster' }) globalCurrentCalls!: number;
  @ApiProperty({ description: 'Expiry of the public SSL certificate (ISO 8601)' }) publicCertificateExpiry!: string;
  @ApiProperty({ description: 'Node name in the cluster' }) nodeName!: string;
}

export function formatRunningTime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(h)}:${pad(m)}:${pad(s % 60)}`;
}

@ApiTags('status')
@Controller('api/status')
export class StatusController {
  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    private readonly sources: StatusSources,
  ) {}

  @Get()
  @ApiOkResponse({ type: ServerStatus, description: 'The Server Status of this signaling server' })
  status(): ServerStatus {
    const now = new Date();
    const { ctx, sources } = this;
    return {
      proxyServerVersion: ctx.version,
      mediaEngineVersion: sources.read('mediaEngineVersion'),
      publicAddress: ctx.config.node.publicAddress,
      masterServerAddress: ctx.config.cluster.masterAddress || sources.read('masterServerAddress'),
      currentTime: now.toISOString(),
      runningTime: formatRunningTime(now.getTime() - ctx.startedAt.getTime()),
      startupTime: ctx.startedAt.toISOString(),
      mediaEngines: sources.read('mediaEngines'),
      connectedClients: sources.read('connectedClients'),
      localCurrentCalls: sources.read('localCurrentCalls'),
      globalCurrentCalls: sources.read('globalCurrentCalls'),
      publicCertificateExpiry: ctx.publicCertificate.validTo.toISOString(),
      nodeName: ctx.nodeName,
    };
  }
}
