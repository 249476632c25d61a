import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ClusterNode } from '@traverse/cluster';

export class ClusterServerRow {
  @ApiProperty({ description: 'Server name' }) name!: string;
  @ApiProperty({ description: 'Server address' }) address!: string;
  @ApiProperty({ description: 'up, or down when its heartbeats stopped', enum: ['up', 'down'] }) status!: 'up' | 'down';
  @ApiProperty({ description: 'Roles the node runs', type: [String] }) roles!: string[];
  @ApiProperty({ description: 'The node is the master' }) master!: boolean;
  @ApiProperty({ description: 'Current calls on the node' }) currentCalls!: number;
  @ApiProperty({ description: 'Connected tunnel clients on the node' }) connectedClients!: number;
  @ApiPropertyOptional({ description: 'Version of the node' }) version?: string;
  @ApiProperty({ description: 'When the node started (ISO 8601)' }) startupTime!: string;
  @ApiProperty({ description: 'Last heartbeat (ISO 8601)' }) lastSeen!: string;
}

export class ClusterMaster {
  @ApiProperty() name!: string;
  @ApiProperty() address!: string;
  @ApiProperty({ description: 'Fencing token of the current lease: grows with every change of master' }) token!: number;
}

export class ClusterView {
  @ApiProperty({ description: 'This node' }) node!: string;
  @ApiProperty({ description: 'This node is the master' }) isMaster!: boolean;
  @ApiPropertyOptional({ type: ClusterMaster, description: 'The master, when one holds the lease' }) master?: ClusterMaster;
  @ApiProperty({ description: 'Registered contact bindings in the cluster' }) registrations!: number;
  @ApiProperty({ description: 'Concurrent calls in the whole cluster' }) globalCurrentCalls!: number;
  @ApiProperty({ type: [ClusterServerRow], description: 'The Servers table' }) servers!: ClusterServerRow[];
}

@ApiTags('cluster')
@Controller('api/cluster')
export class ClusterController {
  constructor(private readonly node: ClusterNode) {}

  @Get()
  @ApiOkResponse({ type: ClusterView, description: 'The cluster as this node sees it: master and the Servers table' })
  view(): ClusterView {
    const s = this.node.status();
    return {
      node: s.node,
      isMaster: s.isMaster,
      ...(s.master ? { master: { name: s.master.name, address: s.master.address, token: s.master.token } } : {}),
      registrations: s.registrations,
      globalCurrentCalls: s.globalCalls,
      servers: s.servers.map((r) => ({
        name: r.name,
        address: r.address,
        status: r.status,
        roles: r.roles,
        master: r.master,
        currentCalls: r.calls,
        connectedClients: r.clients,
        ...(r.version ? { version: r.version } : {}),
        startupTime: new Date(r.startedAt).toISOString(),
        lastSeen: new Date(r.lastSeen).toISOString(),
      })),
    };
  }
}
