import { Controller, Get, Header, Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Registry, collectDefaultMetrics, Gauge } from 'prom-client';
import { NODE_CONTEXT, type NodeContext } from './node-context';
import { Readiness } from './readiness';
import { StatusSources } from './status-sources';

/** The node's Prometheus registry; features add their own counters to it. */
@Injectable()
export class Metrics implements OnModuleInit {
  readonly registry = new Registry();

  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    private readonly readiness: Readiness,
    private readonly status: StatusSources,
  ) {}

  onModuleInit(): void {
    const { registry, ctx } = this;
    registry.setDefaultLabels({ node: ctx.nodeName });
    // the event-loop lag histogram samples every 100 ms (prom-client's default 10 ms woke an idle node 100 times a second)
    collectDefaultMetrics({ register: registry, prefix: 'traverse_process_', eventLoopMonitoringPrecision: 100 });
    new Gauge({ name: 'traverse_info', help: 'Version and roles of this node', labelNames: ['version', 'roles'], registers: [registry] }).set(
      { version: ctx.version, roles: ctx.roles.join(',') },
      1,
    );
    new Gauge({ name: 'traverse_start_time_seconds', help: 'When this node started (unix time)', registers: [registry] }).set(ctx.startedAt.getTime() / 1000);
    const readiness = this.readiness;
    new Gauge({
      name: 'traverse_redis_up',
      help: '1 when Redis answers PING',
      registers: [registry],
      async collect() {
        this.set((await readiness.redisHealth()) === 'connected' ? 1 : 0);
      },
    });
    const status = this.status;
    new Gauge({
      name: 'traverse_current_calls',
      help: 'Current calls on this node',
      registers: [registry],
      collect() {
        this.set(status.read('localCurrentCalls'));
      },
    });
    new Gauge({
      name: 'traverse_connected_clients',
      help: 'Connected (tunnelled) clients on this node',
      registers: [registry],
      collect() {
        this.set(status.read('connectedClients'));
      },
    });
  }
}

@ApiTags('health')
@Controller()
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOkResponse({ description: 'Prometheus text exposition of this node.' })
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
