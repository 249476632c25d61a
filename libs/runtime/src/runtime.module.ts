import { Global, Module, type DynamicModule } from '@nestjs/common';
import { NODE_CONTEXT, type NodeContext } from './node-context';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';
import { Metrics, MetricsController } from './metrics';
import { StatusSources } from './status-sources';

/** Health, readiness, metrics and the node context: in every role. */
@Global()
@Module({})
export class RuntimeModule {
  static forNode(ctx: NodeContext): DynamicModule {
    return {
      module: RuntimeModule,
      controllers: [HealthController, MetricsController],
      providers: [{ provide: NODE_CONTEXT, useValue: ctx }, Readiness, Metrics, StatusSources],
      exports: [NODE_CONTEXT, Readiness, Metrics, StatusSources],
    };
  }
}
